"""Ids and dates the client sends: one with a NUL byte or another control character, or a date
out of range, is a 400 in the envelope, never a 500. PostgreSQL refuses a NUL byte in any
string it is sent (psycopg raises before the query leaves), so these run on both databases."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.test import Client

from billing.models import CheckoutSession
from tests.assertions import assert_error
from tests.billing.plans_helpers import BUY, STARTER_MONTHLY, bearer, buy

CONTROL = ["\x00", "\x01", "\n", "\x1f", "\x7f", "\x85"]


@pytest.fixture(autouse=True)
def _catalogue(stripe_standin):
    stripe_standin.seed_demo_catalogue()


@pytest.mark.django_db
@pytest.mark.parametrize("char", CONTROL)
@pytest.mark.parametrize("where", ["alone", "suffix"])
def test_a_checkout_session_id_with_a_control_character_is_invalid_session(
    owner, stripe_standin, char, where
):
    session_id = buy(owner, STARTER_MONTHLY).json()["sessionId"]
    sent = char if where == "alone" else session_id + char
    before = len(stripe_standin.requests)
    for suffix in ("", "/"):
        response = bearer(owner).get(f"/subscriptions/checkout-session/{quote(sent)}{suffix}")
        assert_error(response, 400, "INVALID_SESSION")
    assert len(stripe_standin.requests) == before  # Stripe was not asked
    assert CheckoutSession.objects.get().stripe_session_id == session_id


@pytest.mark.django_db
def test_a_real_session_id_still_answers(owner):
    session_id = buy(owner, STARTER_MONTHLY).json()["sessionId"]
    response = bearer(owner).get(f"/subscriptions/checkout-session/{session_id}")
    assert response.status_code == 200, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("char", CONTROL)
def test_the_pages_checkout_return_with_a_control_character_is_a_400_page(owner, char):
    session_id = buy(owner, STARTER_MONTHLY).json()["sessionId"]
    client = Client()
    client.force_login(owner)
    response = client.get("/billing/", {"checkout": "success", "session_id": session_id + char})
    assert response.status_code == 400, response.content[:300]
    assert b"text/html" in response["Content-Type"].encode()


@pytest.mark.django_db
@pytest.mark.parametrize("price", ["\x00", STARTER_MONTHLY + "\x00", "price_\x01"])
def test_a_price_with_a_control_character_is_an_unknown_period(owner, stripe_standin, price):
    before = len(stripe_standin.requests_to("POST", "/v1/checkout/sessions"))
    response = bearer(owner).post(BUY, {"subscriptionPeriodId": price}, format="json")
    assert_error(response, 404, "SUBSCRIPTION_PERIOD_NOT_FOUND")
    client = Client()
    client.force_login(owner)
    page = client.post("/billing/buy/", {"price": price})
    assert page.status_code == 404, page.content[:300]
    assert len(stripe_standin.requests_to("POST", "/v1/checkout/sessions")) == before
    assert not CheckoutSession.objects.exists()


# --- payment-history dates ---------------------------------------------------------------------

PAYMENTS = "/subscriptions/payments"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"endDate": "9999-12-31"}, "INVALID_END_DATE"),  # its end of day overflowed: a 500
        ({"endDate": "3000-01-01"}, "INVALID_END_DATE"),
        ({"startDate": "0001-01-01"}, "INVALID_START_DATE"),
        ({"startDate": "1969-12-31"}, "INVALID_START_DATE"),
        ({"startDate": "1969-12-31T23:59:59Z"}, "INVALID_START_DATE"),
        ({"endDate": "9999-12-31T23:59:59-23:59"}, "INVALID_END_DATE"),  # past year 9999 in UTC
        ({"startDate": "0001-01-01T00:00:00+01:00"}, "INVALID_START_DATE"),  # before year 1 in UTC
        ({"startDate": "2026-01-01T00:00:00+25:00"}, "INVALID_START_DATE"),
        ({"endDate": "99999-01-01"}, "INVALID_END_DATE"),
        ({"endDate": "2026-01-01\x00"}, "INVALID_END_DATE"),
    ],
)
def test_dates_out_of_range_are_400(owner, organization, stripe_standin, query, code):
    organization.stripe_customer_id = "cus_x"
    organization.save()
    assert_error(bearer(owner).get(PAYMENTS, query), 400, code)
    assert stripe_standin.requests_to("GET", "/v1/invoices") == []  # refused before Stripe


@pytest.mark.django_db
def test_the_first_and_last_days_in_range_reach_stripe(owner, organization, stripe_standin):
    organization.stripe_customer_id = stripe_standin.create_customer()["id"]
    organization.save()
    response = bearer(owner).get(PAYMENTS, {"startDate": "1970-01-01", "endDate": "2999-12-31"})
    (listed,) = stripe_standin.requests_to("GET", "/v1/invoices")
    assert listed.query["created"]["gte"] == "0"
    # 2999-12-31T23:59:59.999999 as a float Unix time rounds to the next second.
    assert int(listed.query["created"]["lte"]) in (32503679999, 32503680000)
    assert response.status_code == 200, response.content
