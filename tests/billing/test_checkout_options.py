"""Checkout options from settings (promotion codes, automatic tax, tax-id collection), and a
payment's tax and discount in the payment history, API and page."""

from __future__ import annotations

import pytest
import requests
from django.test import Client

from tests.billing.plans_helpers import PRO_MONTHLY, STARTER_MONTHLY, bearer, buy
from tests.stripe_standin.support import client_for

pytestmark = pytest.mark.django_db

CHECKOUT = "/v1/checkout/sessions"


@pytest.fixture(autouse=True)
def _catalogue(stripe_standin):
    stripe_standin.seed_demo_catalogue()


def checkout_create(stripe_standin):
    (request,) = [r for r in stripe_standin.requests_to("POST", CHECKOUT) if r.path == CHECKOUT]
    return request


def test_with_promotion_codes_and_automatic_tax_on_the_session_carries_both(settings, owner, stripe_standin):
    settings.BILLING_ALLOW_PROMOTION_CODES = True
    settings.BILLING_AUTOMATIC_TAX = True

    response = buy(owner, STARTER_MONTHLY)

    assert response.status_code == 200, response.content
    sent = checkout_create(stripe_standin).params
    assert sent["allow_promotion_codes"] == "true"
    assert sent["automatic_tax"] == {"enabled": "true"}
    assert sent["customer_update"] == {"address": "auto", "name": "auto"}
    assert "tax_id_collection" not in sent
    session = client_for(stripe_standin).v1.checkout.sessions.retrieve(response.json()["sessionId"])
    assert session.allow_promotion_codes is True and session.automatic_tax.enabled is True


def test_tax_id_collection_asks_to_save_the_buyers_name(settings, owner, stripe_standin):
    settings.BILLING_TAX_ID_COLLECTION = True

    assert buy(owner, STARTER_MONTHLY).status_code == 200

    sent = checkout_create(stripe_standin).params
    assert sent["tax_id_collection"] == {"enabled": "true"}
    assert sent["customer_update"] == {"address": "auto", "name": "auto"}
    assert "allow_promotion_codes" not in sent and "automatic_tax" not in sent


def test_by_default_the_session_has_none_of_them(owner, stripe_standin):
    assert buy(owner, STARTER_MONTHLY).status_code == 200

    sent = checkout_create(stripe_standin).params
    assert not {"allow_promotion_codes", "automatic_tax", "tax_id_collection", "customer_update"} & set(sent)


def _promotion_code(stripe_standin, code: str = "WELCOME20", percent_off: int = 20) -> None:
    stripe = client_for(stripe_standin)
    coupon = stripe.v1.coupons.create({"id": "welcome", "percent_off": percent_off, "duration": "once"})
    stripe.v1.promotion_codes.create({"code": code, "promotion": {"type": "coupon", "coupon": coupon.id}})


def _pay_on_the_checkout_page(stripe_standin, session_id: str, code: str) -> None:
    page = f"{stripe_standin.url}/c/pay/{session_id}"
    applied = requests.post(page, data={"action": "apply_code", "promotion_code": code}, timeout=10)
    assert applied.status_code == 200, applied.text
    assert 'id="discount"' in applied.text and 'id="tax"' in applied.text, applied.text
    paid = requests.post(page, data={"action": "pay"}, timeout=10, allow_redirects=False)
    assert paid.status_code == 303, paid.text


def test_a_payment_with_tax_and_a_discount_shows_both(settings, owner, stripe_standin):
    settings.BILLING_ALLOW_PROMOTION_CODES = True
    settings.BILLING_AUTOMATIC_TAX = True
    _promotion_code(stripe_standin)
    session_id = buy(owner, PRO_MONTHLY).json()["sessionId"]

    _pay_on_the_checkout_page(stripe_standin, session_id, "welcome20")
    # Back from Checkout: the status call records the subscription.
    assert bearer(owner).get(f"/subscriptions/checkout-session/{session_id}").status_code == 200

    # Pro monthly is 49.00; 20% off is 9.80; the stand-in's demo tax (10%) on 39.20 is 3.92.
    response = bearer(owner).get("/subscriptions/payments")
    assert response.status_code == 200, response.content
    (payment,) = response.json()["data"]
    assert (payment["amount"], payment["tax"], payment["discount"]) == (4312, 392, 980), payment
    assert payment["status"] == "COMPLETED"
    page = Client()
    page.force_login(owner)
    html = page.get("/billing/").content.decode()
    assert "$43.12" in html and "incl. $3.92 tax" in html and "$9.80 off" in html, html


def test_a_payment_without_either_shows_zeros(owner, stripe_standin):
    session_id = buy(owner, STARTER_MONTHLY).json()["sessionId"]
    stripe_standin.complete_checkout_session(session_id)

    (payment,) = bearer(owner).get("/subscriptions/payments").json()["data"]

    assert (payment["amount"], payment["tax"], payment["discount"]) == (1900, 0, 0)


def test_an_unknown_promotion_code_is_refused_on_the_checkout_page(settings, owner, stripe_standin):
    settings.BILLING_ALLOW_PROMOTION_CODES = True
    _promotion_code(stripe_standin)
    session_id = buy(owner, STARTER_MONTHLY).json()["sessionId"]

    refused = requests.post(
        f"{stripe_standin.url}/c/pay/{session_id}",
        data={"action": "apply_code", "promotion_code": "NOPE"},
        timeout=10,
    )

    assert refused.status_code == 400
    assert "This code is invalid." in refused.text
