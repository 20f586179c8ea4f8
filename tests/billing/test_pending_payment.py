"""GET and DELETE /subscriptions/pending-payment: the organization's open Checkout session."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import CheckoutSession, Subscription
from billing.services.checkout import pending_payment_get
from tests.assertions import assert_error, model_fields
from tests.billing.keys import sent
from tests.billing.plans_helpers import STARTER_YEARLY, bearer, buy
from tests.factories import CheckoutSessionFactory

URL = "/subscriptions/pending-payment"


@pytest.fixture(autouse=True)
def _catalogue(stripe_standin):
    stripe_standin.seed_demo_catalogue()


@pytest.mark.django_db
def test_the_open_session_in_the_documented_shape(owner, member, stripe_standin):
    started = buy(owner, STARTER_YEARLY).json()
    response = bearer(member).get(URL)  # any member
    assert response.status_code == 200, response.content
    body = response.json()
    row = CheckoutSession.objects.get()
    assert body == {
        "success": True,
        "data": {
            "id": row.pk,
            "stripePaymentId": started["sessionId"],
            "amount": 19000,
            "currency": "usd",
            "status": "PENDING",
            "createdAt": row.created_at.isoformat().replace("+00:00", "Z"),
            "subscription": {
                "id": "prod_demo_starter",
                "name": "Starter",
                "description": "For small teams: 1 TB of storage.",
            },
            "subscriptionPeriod": {"id": STARTER_YEARLY, "periodType": "YEARLY", "price": 19000},
            "checkoutUrl": started["checkoutUrl"],
            "sessionStatus": "open",
        },
    }
    assert bearer(member).get(URL + "/").status_code == 200


@pytest.mark.django_db
def test_none_is_404(owner):
    body = assert_error(bearer(owner).get(URL), 404, "NO_PENDING_PAYMENT")
    assert body["message"] == "No pending payment found"
    assert_error(bearer(owner).delete(URL), 404, "NO_PENDING_PAYMENT")


@pytest.mark.django_db
def test_past_its_expiry_is_not_pending(owner):
    buy(owner, STARTER_YEARLY)
    CheckoutSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(bearer(owner).get(URL), 404, "NO_PENDING_PAYMENT")


@pytest.mark.django_db
def test_delete_expires_it_at_stripe(owner, stripe_standin):
    session_id = buy(owner, STARTER_YEARLY).json()["sessionId"]
    response = bearer(owner).delete(URL)
    assert response.status_code == 200, response.content
    body = response.json()
    row = CheckoutSession.objects.get()
    assert body["success"] is True and body["message"] == "Pending payment cancelled successfully"
    assert body["data"]["paymentId"] == row.pk and body["data"]["stripePaymentId"] == session_id
    assert body["data"]["cancelledAt"].endswith("Z")
    (expire,) = stripe_standin.requests_to("POST", f"/v1/checkout/sessions/{session_id}/expire")
    assert expire.headers["idempotency-key"] == sent(f"{row.idempotency_key}-expire")
    assert row.status == "expired"
    assert stripe_standin.get_checkout_session(session_id)["status"] == "expired"
    assert_error(bearer(owner).get(URL), 404, "NO_PENDING_PAYMENT")


@pytest.mark.django_db
def test_delete_of_a_paid_session_records_it_and_is_409(owner, stripe_standin):
    session_id = buy(owner, STARTER_YEARLY).json()["sessionId"]
    stripe_standin.complete_checkout_session(session_id)
    assert_error(bearer(owner).delete(URL), 409, "ALREADY_SUBSCRIBED")
    assert Subscription.objects.get().price_id == STARTER_YEARLY
    assert CheckoutSession.objects.get().status == "complete"


@pytest.mark.django_db
def test_delete_needs_a_billing_role_and_counts_toward_the_rate(owner, member, settings):
    buy(owner, STARTER_YEARLY)
    assert_error(bearer(member).delete(URL), 403, "BILLING_PERMISSION_DENIED")
    settings.BILLING_PORTAL_RATE = "2/min"
    from core import ratelimit

    ratelimit.reset(key=f"portal:user:{owner.pk}")
    assert bearer(owner).delete(URL).status_code == 200
    assert bearer(owner).delete(URL).status_code == 404  # counts all the same
    assert_error(bearer(owner).delete(URL), 429, "RATE_LIMITED")


@pytest.mark.django_db
def test_delete_while_stripe_is_down_is_503_and_keeps_it(owner, stripe_standin):
    buy(owner, STARTER_YEARLY)
    stripe_standin.add_fault("500", method="POST")
    assert_error(bearer(owner).delete(URL), 503, "BILLING_UNAVAILABLE")
    assert CheckoutSession.objects.get().status == "open"


@pytest.mark.django_db
def test_other_methods_405(owner):
    assert_error(bearer(owner).post(URL), 405, "METHOD_NOT_ALLOWED")


@pytest.mark.django_db
def test_reading_it_is_two_queries_and_no_stripe_call(
    owner, member, stripe_standin, django_assert_num_queries
):
    buy(owner, STARTER_YEARLY)
    client = bearer(member)
    calls = len(stripe_standin.requests)
    # the user with membership and organization; the open session (its plan from the plans cache)
    with django_assert_num_queries(2):
        assert client.get(URL).status_code == 200
    assert len(stripe_standin.requests) == calls


@pytest.mark.django_db
def test_an_older_open_session_is_found_past_a_newer_expired_one(owner):
    buy(owner, STARTER_YEARLY)
    older = CheckoutSession.objects.get()
    newer = CheckoutSessionFactory.create(
        organization=older.organization, expires_at=timezone.now() - timedelta(seconds=1)
    )
    CheckoutSession.objects.filter(pk=newer.pk).update(created_at=older.created_at + timedelta(seconds=5))
    body = bearer(owner).get(URL).json()
    assert body["data"]["id"] == older.pk
    CheckoutSession.objects.filter(pk=newer.pk).update(expires_at=timezone.now() + timedelta(hours=1))
    assert bearer(owner).get(URL).json()["data"]["id"] == newer.pk
    CheckoutSession.objects.filter(pk=older.pk).update(expires_at=None)
    CheckoutSession.objects.filter(pk=newer.pk).update(expires_at=None)
    assert_error(bearer(owner).get(URL), 404, "NO_PENDING_PAYMENT")


@pytest.mark.django_db
def test_the_compiled_lookup_loads_the_row_the_orm_loads(owner):
    buy(owner, STARTER_YEARLY)
    expected = CheckoutSession.objects.get()
    loaded = pending_payment_get(organization=expected.organization)
    assert loaded is not None
    assert model_fields(loaded) == model_fields(expected)  # dates as aware datetimes, UUIDs as UUIDs
    assert loaded.expires_at is not None and loaded.expires_at.tzinfo is not None
    assert loaded._state.adding is False
