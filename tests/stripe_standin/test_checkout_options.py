"""Checkout's options as Stripe checks them, coupons and promotion codes, and the invoice's
discount and tax."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import stripe

from stripe_standin import StripeStandIn


def _session_params(client: stripe.StripeClient, **extra: Any) -> dict[str, Any]:
    product = client.v1.products.create({"name": "Pro"})
    price = client.v1.prices.create(
        {"product": product.id, "currency": "usd", "unit_amount": 5000, "recurring": {"interval": "month"}}
    )
    customer = client.v1.customers.create({"email": "buyer@example.com"})
    return {
        "mode": "subscription",
        "customer": customer.id,
        "line_items": [{"price": price.id, "quantity": 1}],
        "success_url": "http://127.0.0.1:8000/billing/",
    } | extra


def test_automatic_tax_for_a_customer_without_an_address_needs_customer_update(client):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(_session_params(client, automatic_tax={"enabled": True}))

    assert refused.value.param == "automatic_tax[enabled]"
    assert "customer_update[address]" in str(refused.value.user_message)


def test_tax_id_collection_for_a_customer_needs_its_name_saved(client):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(
            _session_params(client, tax_id_collection={"enabled": True}, customer_update={"address": "auto"})
        )

    assert refused.value.param == "tax_id_collection[enabled]"


def test_promotion_codes_and_discounts_do_not_go_together(client):
    coupon = client.v1.coupons.create({"percent_off": 10, "duration": "once"})

    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(
            _session_params(client, allow_promotion_codes=True, discounts=[{"coupon": coupon.id}])
        )

    assert "allow_promotion_codes, discounts" in str(refused.value.user_message)


def test_customer_update_needs_a_customer(client):
    params = _session_params(client, customer_update={"name": "auto"})
    del params["customer"]

    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(params)  # type: ignore[arg-type]

    assert refused.value.param == "customer_update"


def test_a_discounted_taxed_session_bills_a_discounted_taxed_invoice(client, standin: StripeStandIn):
    coupon = client.v1.coupons.create({"amount_off": 1000, "currency": "usd", "duration": "once"})
    session = client.v1.checkout.sessions.create(
        _session_params(
            client,
            discounts=[{"coupon": coupon.id}],
            automatic_tax={"enabled": True},
            customer_update={"address": "auto", "name": "auto"},
        )
    )
    assert session.total_details is not None
    assert (session.amount_subtotal, session.total_details.amount_discount) == (5000, 1000)
    assert (session.total_details.amount_tax, session.amount_total) == (400, 4400)

    standin.complete_checkout_session(session.id)

    (invoice,) = client.v1.invoices.list({"customer": session.customer}).data
    assert (invoice.subtotal, invoice.total, invoice.amount_paid) == (5000, 4400, 4400)
    assert [d.amount for d in invoice.total_discount_amounts or []] == [1000]
    assert [(t.amount, t.taxable_amount) for t in invoice.total_taxes or []] == [(400, 4000)]
    assert client.v1.coupons.retrieve(coupon.id).times_redeemed == 1
    page = requests.get(str(invoice.hosted_invoice_url), timeout=10).text
    assert (
        '<span id="invoice-discount">-$10.00</span>' in page and '<span id="invoice-tax">$4.00</span>' in page
    )


def test_a_promotion_code_is_found_by_its_code_and_unique_while_active(client):
    coupon = client.v1.coupons.create({"percent_off": 20, "duration": "forever"})
    made = client.v1.promotion_codes.create(
        {"code": "SPRING", "promotion": {"type": "coupon", "coupon": coupon.id}}
    )

    assert [p.id for p in client.v1.promotion_codes.list({"code": "SPRING"}).data] == [made.id]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.promotion_codes.create(
            {"code": "SPRING", "promotion": {"type": "coupon", "coupon": coupon.id}}
        )
