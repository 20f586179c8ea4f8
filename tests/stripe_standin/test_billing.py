"""Catalogue, Checkout, subscriptions, invoices, portal and webhooks of the stand-in, via the real SDK."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import urlencode

import pytest
import stripe

from stripe_standin import StripeStandIn
from tests.stripe_standin.support import KEY
from tests.stripe_standin.test_server import REPO, control, http

SECRET = "whsec_test_secret"


@pytest.fixture(scope="module")
def _server() -> Iterator[StripeStandIn]:
    standin = StripeStandIn(webhook_retries=0)
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
def standin(_server: StripeStandIn) -> StripeStandIn:
    _server.set_webhook(None)
    _server.reset()
    return _server


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def get(url: str | None) -> tuple[int, dict[str, str], bytes]:
    assert url is not None
    return http(url)


def press(url: str | None, action: str, **fields: str) -> tuple[int, str | None, str]:
    """Press a button on a hosted page: (status, Location, body)."""
    assert url is not None
    data = urlencode({"action": action, **fields}).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers.get("Location"), response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Location"), err.read().decode()


def api_error(call: Any) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        call()
    return caught.value


def checkout(client: stripe.StripeClient, customer: str, price: str, **extra: Any) -> stripe.checkout.Session:
    params: Any = {
        "mode": "subscription",
        "customer": customer,
        "line_items": [{"price": price, "quantity": 1}],
        "success_url": "http://app.test/billing/?checkout=success&session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://app.test/billing/?checkout=canceled",
        **extra,
    }
    return client.v1.checkout.sessions.create(params=params)


def subscribe(standin: StripeStandIn, client: stripe.StripeClient, price: str) -> tuple[str, str]:
    """A customer who paid ``price`` through Checkout: (customer id, subscription id)."""
    customer = standin.create_customer(name="Acme", email="billing@acme.test")["id"]
    session = checkout(client, customer, price)
    standin.complete_checkout_session(session.id)
    subscription = client.v1.checkout.sessions.retrieve(session.id).subscription
    assert isinstance(subscription, str)
    return customer, subscription


def lookup_keys(client: stripe.StripeClient, customer: str) -> list[str]:
    listed = client.v1.entitlements.active_entitlements.list(params={"customer": customer})
    return [e.lookup_key for e in listed.data]


# --- catalogue -------------------------------------------------------------------------------


def test_products_and_prices(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    product = client.v1.products.create(params={"name": "Team", "metadata": {"tier": "2"}})
    assert (
        product.id.startswith("prod_")
        and product.active is True
        and product.metadata.to_dict() == {"tier": "2"}
    )
    monthly = client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 1500,
            "lookup_key": "team-monthly",
            "recurring": {"interval": "month"},
        }
    )
    yearly = client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 15000,
            "recurring": {"interval": "year"},
        }
    )
    quarterly = client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 4000,
            "recurring": {"interval": "month", "interval_count": 3},
        }
    )
    one_time = client.v1.prices.create(params={"product": product.id, "currency": "usd", "unit_amount": 500})
    assert (monthly.type, monthly["recurring"]["interval"], monthly["recurring"]["interval_count"]) == (
        "recurring",
        "month",
        1,
    )
    assert (quarterly["recurring"]["interval_count"], one_time.type, one_time.recurring) == (
        3,
        "one_time",
        None,
    )
    assert monthly.lookup_key == "team-monthly" and monthly.unit_amount == 1500

    recurring = client.v1.prices.list(params={"product": product.id, "type": "recurring", "active": True})
    assert [p.id for p in recurring.data] == [quarterly.id, yearly.id, monthly.id]  # newest first
    client.v1.prices.update(yearly.id, params={"active": False})
    assert [p.id for p in client.v1.prices.list(params={"product": product.id, "active": False}).data] == [
        yearly.id
    ]
    assert client.v1.prices.retrieve(monthly.id).product == product.id

    client.v1.products.update(product.id, params={"active": False, "name": "Team (old)"})
    fetched = client.v1.products.retrieve(product.id)
    assert (fetched.active, fetched.name) == (False, "Team (old)")
    assert client.v1.products.list(params={"active": True}).data == []
    assert [p.id for p in client.v1.products.list().data] == [product.id]

    err = api_error(
        lambda: client.v1.prices.create(params=cast(Any, {"product": product.id, "unit_amount": 1}))
    )
    assert (err.code, err.param, err.user_message) == (
        "parameter_missing",
        "currency",
        "Missing required param: currency.",
    )
    err = api_error(
        lambda: client.v1.prices.create(
            params=cast(Any, {"product": product.id, "currency": "usd", "unit_amount": 1, "colour": "red"})
        )
    )
    assert (err.code, err.param, err.user_message) == (
        "parameter_unknown",
        "colour",
        "Received unknown parameter: colour",
    )
    err = api_error(
        lambda: client.v1.prices.create(params={"product": "prod_nope", "currency": "usd", "unit_amount": 1})
    )
    assert (err.http_status, err.code, err.user_message) == (
        400,
        "resource_missing",
        "No such product: 'prod_nope'",
    )
    err = api_error(
        lambda: client.v1.prices.create(
            params={"product": product.id, "currency": "usd", "unit_amount": 1, "lookup_key": "team-monthly"}
        )
    )
    assert err.param == "lookup_key" and monthly.id in err.user_message
    err = api_error(
        lambda: client.v1.prices.create(
            params=cast(
                Any,
                {
                    "product": product.id,
                    "currency": "usd",
                    "unit_amount": 1,
                    "recurring": {"interval": "fortnight"},
                },
            )
        )
    )
    assert err.param == "recurring[interval]"
    assert api_error(lambda: client.v1.products.retrieve("prod_nope")).http_status == 404
    assert api_error(lambda: client.v1.products.create(params=cast(Any, {}))).param == "name"
    err = api_error(lambda: client.v1.prices.list(params=cast(Any, {"type": "weird"})))
    assert err.param == "type"

    assert [e["type"] for e in standin.events("price.*")] == ["price.created"] * 4 + ["price.updated"]
    (updated,) = standin.events("product.updated")
    assert updated["data"]["previous_attributes"] == {
        "active": True,
        "name": "Team",
        "updated": product.updated,
    }


def test_product_create_is_idempotent(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    first = client.v1.products.create(params={"name": "Pro"}, options={"idempotency_key": "plan-pro"})
    again = client.v1.products.create(params={"name": "Pro"}, options={"idempotency_key": "plan-pro"})
    assert again.id == first.id and len(standin.products) == 1
    with pytest.raises(stripe.IdempotencyError):
        client.v1.products.create(params={"name": "Max"}, options={"idempotency_key": "plan-pro"})
    assert len(standin.events("product.created")) == 1


def test_features_and_product_features(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    product = standin.create_product("Pro")
    feature = client.v1.entitlements.features.create(
        params={
            "name": "Extended support",
            "lookup_key": "extended-support",
            "metadata": {"code": "EXTENDED_SUPPORT", "type": "BOOLEAN", "value": "1"},
        }
    )
    assert feature.object == "entitlements.feature" and feature.id.startswith("feat_")
    assert (feature.lookup_key, feature.active, feature.metadata["code"]) == (
        "extended-support",
        True,
        "EXTENDED_SUPPORT",
    )
    err = api_error(
        lambda: client.v1.entitlements.features.create(
            params={"name": "Again", "lookup_key": "extended-support"}
        )
    )
    assert err.param == "lookup_key"
    assert (
        api_error(lambda: client.v1.entitlements.features.create(params=cast(Any, {"name": "x"}))).param
        == "lookup_key"
    )

    attached = client.v1.products.features.create(product["id"], params={"entitlement_feature": feature.id})
    assert attached.object == "product_feature"
    assert (
        attached.entitlement_feature.id == feature.id
        and attached.entitlement_feature.name == "Extended support"
    )
    listed = client.v1.products.features.list(product["id"])
    assert [pf.id for pf in listed.data] == [attached.id]
    assert listed.data[0].entitlement_feature.metadata["type"] == "BOOLEAN"
    assert [
        f.id for f in client.v1.entitlements.features.list(params={"lookup_key": "extended-support"}).data
    ] == [feature.id]

    err = api_error(
        lambda: client.v1.products.features.create(product["id"], params={"entitlement_feature": feature.id})
    )
    assert err.param == "entitlement_feature"
    err = api_error(
        lambda: client.v1.products.features.create(product["id"], params={"entitlement_feature": "feat_nope"})
    )
    assert (err.code, err.user_message) == ("resource_missing", "No such feature: 'feat_nope'")
    err = api_error(lambda: client.v1.products.features.create(product["id"], params=cast(Any, {})))
    assert err.code == "parameter_missing"
    assert api_error(lambda: client.v1.products.features.list("prod_nope")).http_status == 404
    err = api_error(lambda: client.v1.entitlements.active_entitlements.list(params=cast(Any, {})))
    assert (err.code, err.param) == ("parameter_missing", "customer")


def test_seed_demo_catalogue(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    made = standin.seed_demo_catalogue()
    assert made["products"] == ["prod_demo_free", "prod_demo_starter", "prod_demo_pro"]
    assert standin.seed_demo_catalogue() == made  # seeding again changes nothing
    assert len(standin.products) == 3 and len(standin.events("product.created")) == 3

    prices = {p.id: p for p in client.v1.prices.list(params={"limit": 100}).data}
    assert set(prices) == {
        "price_demo_free_monthly",
        "price_demo_starter_monthly",
        "price_demo_starter_yearly",
        "price_demo_pro_monthly",
        "price_demo_pro_yearly",
    }
    assert prices["price_demo_free_monthly"].unit_amount == 0
    assert (
        prices["price_demo_pro_yearly"]["recurring"]["interval"],
        prices["price_demo_pro_yearly"].currency,
    ) == (
        "year",
        "usd",
    )

    def capabilities(product: str) -> dict[str, tuple[str, str, str]]:
        features = client.v1.products.features.list(product).data
        return {
            f.entitlement_feature.lookup_key: (
                f.entitlement_feature.metadata["code"],
                f.entitlement_feature.metadata["type"],
                f.entitlement_feature.metadata["value"],
            )
            for f in features
        }

    assert "extended-support" not in capabilities("prod_demo_starter")
    assert capabilities("prod_demo_starter")["storage-1tb"] == ("STORAGE_TB", "QUOTA", "1")
    assert capabilities("prod_demo_pro")["storage-5tb"] == ("STORAGE_TB", "QUOTA", "5")
    assert capabilities("prod_demo_pro")["extended-support"] == ("EXTENDED_SUPPORT", "BOOLEAN", "1")
    assert control(standin, "POST", "catalogue/seed", {}) == made


# --- checkout ----------------------------------------------------------------------------------


def test_checkout_session_shape_and_checks(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    standin.seed_demo_catalogue()
    customer = standin.create_customer(name="Acme")["id"]
    session = checkout(
        client,
        customer,
        "price_demo_pro_monthly",
        client_reference_id="org-7",
        metadata={"organization_id": "7"},
        subscription_data={"metadata": {"organization_id": "7"}, "trial_period_days": 14},
    )
    assert session.object == "checkout.session" and session.id.startswith("cs_test_")
    assert (session.status, session.payment_status, session.mode) == ("open", "unpaid", "subscription")
    assert (session.customer, session.client_reference_id, session["metadata"].to_dict()) == (
        customer,
        "org-7",
        {"organization_id": "7"},
    )
    assert (session.amount_total, session.currency, session.subscription) == (4900, "usd", None)
    assert session.expires_at - session.created == 86_400
    assert session.url == f"{standin.url}/c/pay/{session.id}"
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    line_items = client.v1.checkout.sessions.line_items.list(session.id)
    assert [(li["price"]["id"], li.quantity) for li in line_items.data] == [("price_demo_pro_monthly", 1)]

    def error(**params: Any) -> stripe.InvalidRequestError:
        base: dict[str, Any] = {
            "mode": "subscription",
            "customer": customer,
            "line_items": [{"price": "price_demo_pro_monthly", "quantity": 1}],
        }
        return api_error(lambda: client.v1.checkout.sessions.create(params=cast(Any, {**base, **params})))

    assert (error(mode=None).param, error(mode=None).code) == ("mode", "parameter_missing")
    assert error(colour="red").code == "parameter_unknown"
    assert error(subscription_data={"trial_days": "3"}).param == "subscription_data[trial_days]"
    err = error(line_items=[{"price": "price_nope", "quantity": 1}])
    assert (err.code, err.param, err.user_message) == (
        "resource_missing",
        "line_items[0][price]",
        "No such price: 'price_nope'",
    )
    assert error(line_items=[{"price": "price_demo_pro_monthly"}]).param == "line_items[0][quantity]"
    err = error(customer="cus_nope")
    assert (err.param, err.user_message) == ("customer", "No such customer: 'cus_nope'")
    assert error(expires_at=int(time.time()) + 60).param == "expires_at"
    one_time = standin.create_price("prod_demo_pro", 100, interval=None)
    assert "recurring" in error(line_items=[{"price": one_time["id"], "quantity": 1}]).user_message

    expires = int(time.time()) + 3600
    short = checkout(client, customer, "price_demo_free_monthly", expires_at=expires)
    assert short.expires_at == expires and short.amount_total == 0


def test_checkout_pay_through_the_page(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    standin.seed_demo_catalogue()
    customer = standin.create_customer(name="Acme", email="billing@acme.test")["id"]
    session = checkout(
        client,
        customer,
        "price_demo_starter_monthly",
        subscription_data={"metadata": {"organization_id": "7"}},
    )
    status, _, page = get(session.url)
    assert status == 200 and "Starter" in page.decode() and "$19.00" in page.decode()

    status, location, _ = press(session.url, "pay")
    assert status == 303
    assert location == f"http://app.test/billing/?checkout=success&session_id={session.id}"
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.payment_status, done.url) == ("complete", "paid", None)
    assert isinstance(done.subscription, str) and done.customer == customer

    subscription = client.v1.subscriptions.retrieve(done.subscription)
    assert (subscription.status, subscription.customer, subscription.trial_end) == ("active", customer, None)
    assert subscription.metadata.to_dict() == {"organization_id": "7"}
    assert subscription["items"].data[0].price.id == "price_demo_starter_monthly"
    invoice = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    assert (invoice.status, invoice.amount_paid, invoice.amount_due, invoice.currency) == (
        "paid",
        1900,
        1900,
        "usd",
    )
    assert invoice.parent is not None and invoice.parent.subscription_details is not None
    assert invoice.parent.subscription_details.subscription == subscription.id
    assert invoice.lines.data[0]["parent"]["subscription_item_details"]["subscription"] == subscription.id
    assert lookup_keys(client, customer) == ["projects", "storage-1tb"]

    status, _, page = get(session.url)  # a completed session's page says so
    assert status == 200 and "complete" in page.decode()
    assert press(session.url, "pay")[0] == 409  # and cannot be paid twice
    assert len(standin.subscriptions) == 1
    types = [e["type"] for e in standin.events()]
    assert (
        types.index("customer.subscription.created")
        < types.index("invoice.paid")
        < types.index("checkout.session.completed")
        < types.index("entitlements.active_entitlement_summary.updated")
    )


def test_checkout_trial_decline_and_back(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    standin.seed_demo_catalogue()
    customer = standin.create_customer(name="Acme")["id"]
    session = checkout(client, customer, "price_demo_pro_yearly", subscription_data={"trial_period_days": 14})

    status, location, page = press(session.url, "decline")
    assert (status, location) == (402, None) and "declined" in page
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert standin.subscriptions == []

    status, location, _ = press(session.url, "back")
    assert (status, location) == (303, "http://app.test/billing/?checkout=canceled")
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"

    assert press(session.url, "pay")[0] == 303
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.payment_status) == ("complete", "no_payment_required")
    subscription = client.v1.subscriptions.retrieve(str(done.subscription))
    assert subscription.status == "trialing" and subscription.trial_end is not None
    assert abs(subscription.trial_end - (int(time.time()) + 14 * 86_400)) < 5
    assert subscription["items"].data[0].current_period_end == subscription.trial_end
    assert lookup_keys(client, customer) == ["projects", "storage-5tb", "extended-support"]
    assert http(f"{standin.url}/c/pay/cs_test_nope")[0] == 404


def test_expire_only_open_sessions(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    standin.seed_demo_catalogue()
    customer = standin.create_customer(name="Acme")["id"]
    first = checkout(client, customer, "price_demo_pro_monthly")
    expired = client.v1.checkout.sessions.expire(first.id)
    assert (expired.status, expired.url) == ("expired", None)
    err = api_error(lambda: client.v1.checkout.sessions.expire(first.id))
    assert err.http_status == 400 and err.user_message == (
        'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status '
        "of `expired`."
    )
    assert press(first.url, "pay")[0] == 409  # an expired session cannot be paid

    second = checkout(client, customer, "price_demo_pro_monthly")
    standin.complete_checkout_session(second.id)
    err = api_error(lambda: client.v1.checkout.sessions.expire(second.id))
    assert "status of `complete`" in err.user_message
    assert api_error(lambda: client.v1.checkout.sessions.expire("cs_test_nope")).http_status == 404

    third = checkout(client, customer, "price_demo_starter_monthly")
    assert standin.expire_checkout_session(third.id)["status"] == "expired"
    with pytest.raises(ValueError, match="not open"):
        standin.expire_checkout_session(third.id)
    with pytest.raises(ValueError, match="not open"):
        standin.complete_checkout_session(third.id)

    fourth = checkout(client, customer, "price_demo_starter_monthly")
    listed = client.v1.checkout.sessions.list(params={"customer": customer, "status": "open"})
    assert [s.id for s in listed.data] == [fourth.id]
    assert [s.id for s in client.v1.checkout.sessions.list(params={"status": "expired"}).data] == [
        third.id,
        first.id,
    ]
    assert [e["data"]["object"]["id"] for e in standin.events("checkout.session.expired")] == [
        first.id,
        third.id,
    ]


# --- subscriptions -------------------------------------------------------------------------------


def test_subscription_create_update_cancel(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    standin.seed_demo_catalogue()
    customer = standin.create_customer(name="Acme")["id"]
    free = client.v1.subscriptions.create(
        params={
            "customer": customer,
            "items": [{"price": "price_demo_free_monthly"}],
            "metadata": {"organization_id": "7"},
        }
    )
    assert (free.status, free.metadata["organization_id"]) == ("active", "7")
    assert client.v1.invoices.retrieve(str(free.latest_invoice)).amount_paid == 0
    assert lookup_keys(client, customer) == ["projects"]

    err = api_error(
        lambda: client.v1.subscriptions.create(
            params={"customer": customer, "items": [{"price": "price_demo_pro_monthly"}]}
        )
    )
    assert "no attached payment source or default payment method" in err.user_message
    assert (
        api_error(lambda: client.v1.subscriptions.create(params=cast(Any, {"customer": customer}))).param
        == "items"
    )
    err = api_error(
        lambda: client.v1.subscriptions.create(params={"customer": customer, "items": [{"price": "price_x"}]})
    )
    assert (err.param, err.user_message) == ("items[0][price]", "No such price: 'price_x'")
    err = api_error(
        lambda: client.v1.subscriptions.create(
            params=cast(
                Any, {"customer": customer, "items": [{"price": "price_demo_free_monthly"}], "plan": "x"}
            )
        )
    )
    assert err.code == "parameter_unknown"

    item = free["items"].data[0]
    standin.save_card(customer)
    switched = client.v1.subscriptions.update(
        free.id,
        params={
            "items": [{"id": item.id, "price": "price_demo_pro_monthly"}],
            "proration_behavior": "create_prorations",
            "metadata": {"note": "upgraded"},
        },
    )
    assert switched["items"].data[0].price.id == "price_demo_pro_monthly"
    assert switched["items"].data[0].id == item.id
    assert switched.metadata.to_dict() == {"organization_id": "7", "note": "upgraded"}
    assert lookup_keys(client, customer) == ["projects", "storage-5tb", "extended-support"]
    err = api_error(
        lambda: client.v1.subscriptions.update(
            free.id, params={"items": [{"id": "si_x", "price": "price_demo_pro_yearly"}]}
        )
    )
    assert err.param == "items[0][id]"
    err = api_error(
        lambda: client.v1.subscriptions.update(free.id, params={"proration_behavior": cast(Any, "sometimes")})
    )
    assert err.param == "proration_behavior"

    scheduled = client.v1.subscriptions.update(free.id, params={"cancel_at_period_end": True})
    assert scheduled.cancel_at_period_end is True and scheduled.cancel_at == item.current_period_end
    resumed = client.v1.subscriptions.update(free.id, params={"cancel_at_period_end": False})
    assert (resumed.cancel_at_period_end, resumed.cancel_at) == (False, None)

    canceled = client.v1.subscriptions.cancel(free.id)
    assert (
        canceled.status == "canceled" and canceled.canceled_at is not None and canceled.ended_at is not None
    )
    assert lookup_keys(client, customer) == []
    assert api_error(lambda: client.v1.subscriptions.cancel(free.id)).http_status == 400
    err = api_error(lambda: client.v1.subscriptions.update(free.id, params={"cancel_at_period_end": True}))
    assert "canceled subscription" in err.user_message
    assert api_error(lambda: client.v1.subscriptions.cancel("sub_nope")).http_status == 404

    types = [e["type"] for e in standin.events() if e["type"].startswith("customer.subscription.")]
    assert types[0] == "customer.subscription.created" and types[-1] == "customer.subscription.deleted"
    summaries = standin.events("entitlements.active_entitlement_summary.updated")
    assert [[e["lookup_key"] for e in s["data"]["object"]["entitlements"]["data"]] for s in summaries] == [
        ["projects"],
        ["projects", "storage-5tb", "extended-support"],
        [],
    ]


def test_renewals(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    standin.seed_demo_catalogue()
    customer, sub_id = subscribe(standin, client, "price_demo_starter_monthly")
    before = client.v1.subscriptions.retrieve(sub_id)["items"].data[0].current_period_end
    renewed = standin.simulate_renewal(sub_id)
    assert renewed["status"] == "active"
    assert renewed["items"]["data"][0]["current_period_end"] >= before
    failed = standin.simulate_renewal(sub_id, succeed=False)
    assert failed["status"] == "past_due"
    assert lookup_keys(client, customer) == ["projects", "storage-1tb"]  # kept while payment is retried
    open_invoice = client.v1.invoices.retrieve(failed["latest_invoice"])
    assert (open_invoice.status, open_invoice.amount_paid, open_invoice.amount_due) == ("open", 0, 1900)
    assert open_invoice.billing_reason == "subscription_cycle" and open_invoice.attempt_count == 1
    standin.pay_invoice(open_invoice.id)
    assert client.v1.subscriptions.retrieve(sub_id).status == "active"
    assert [e["type"] for e in standin.events("invoice.payment_failed")] == ["invoice.payment_failed"]
    assert len(standin.events("invoice.paid")) == 3


# --- invoices ----------------------------------------------------------------------------------


def test_invoice_list_filters_and_pages(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    standin.seed_demo_catalogue()
    customer, sub_id = subscribe(standin, client, "price_demo_pro_monthly")
    standin.simulate_renewal(sub_id)
    standin.simulate_renewal(sub_id, succeed=False)
    other_customer, other_sub = subscribe(standin, client, "price_demo_starter_monthly")

    mine = client.v1.invoices.list(params={"customer": customer})
    assert len(mine.data) == 3 and mine.has_more is False and mine.url == "/v1/invoices"
    assert [i.status for i in mine.data] == ["open", "paid", "paid"]  # newest first
    assert [i.id for i in client.v1.invoices.list(params={"subscription": other_sub}).data] == [
        i.id for i in client.v1.invoices.list(params={"customer": other_customer}).data
    ]
    assert len(client.v1.invoices.list(params={"customer": customer, "status": "paid"}).data) == 2
    assert len(client.v1.invoices.list(params={"status": "open"}).data) == 1
    now = int(time.time())
    assert len(client.v1.invoices.list(params={"created": {"gte": now - 60, "lte": now + 60}}).data) == 4
    assert client.v1.invoices.list(params={"created": {"gte": now + 60}}).data == []
    assert client.v1.invoices.list(params={"created": {"lte": now - 60}}).data == []

    page = client.v1.invoices.list(params={"customer": customer, "limit": 2})
    assert (len(page.data), page.has_more) == (2, True)
    rest = client.v1.invoices.list(
        params={"customer": customer, "limit": 2, "starting_after": page.data[-1].id}
    )
    assert ([i.id for i in rest.data], rest.has_more) == ([mine.data[2].id], False)
    assert client.v1.invoices.list(params={"limit": 100}).has_more is False
    err = api_error(lambda: client.v1.invoices.list(params={"limit": 101}))
    assert (err.param, err.code) == ("limit", "parameter_invalid_integer")
    assert api_error(lambda: client.v1.invoices.list(params={"status": cast(Any, "lost")})).param == "status"
    assert (
        api_error(lambda: client.v1.invoices.list(params=cast(Any, {"colour": "x"}))).code
        == "parameter_unknown"
    )
    assert api_error(lambda: client.v1.invoices.retrieve("in_nope")).http_status == 404

    invoice = mine.data[0]
    assert invoice.hosted_invoice_url and invoice.invoice_pdf
    status, headers, body = get(invoice.hosted_invoice_url)
    assert (
        status == 200
        and headers["Content-Type"].startswith("text/html")
        and str(invoice.number) in body.decode()
    )
    assert get(invoice.invoice_pdf)[0] == 200
    assert http(f"{standin.url}/i/nope")[0] == 404


# --- billing portal ---------------------------------------------------------------------------


def test_portal_flow_data_checks(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    standin.seed_demo_catalogue()
    customer, sub_id = subscribe(standin, client, "price_demo_starter_monthly")
    other, other_sub = subscribe(standin, client, "price_demo_starter_monthly")
    item_id = client.v1.subscriptions.retrieve(sub_id)["items"].data[0].id

    def create(flow: dict[str, Any]) -> Any:
        return client.v1.billing_portal.sessions.create(
            params=cast(
                Any, {"customer": customer, "return_url": "http://app.test/billing/", "flow_data": flow}
            )
        )

    def error(flow: dict[str, Any]) -> stripe.InvalidRequestError:
        return api_error(lambda: create(flow))

    confirm: dict[str, Any] = {
        "type": "subscription_update_confirm",
        "subscription_update_confirm": {
            "subscription": sub_id,
            "items": [{"id": item_id, "price": "price_demo_pro_monthly", "quantity": 1}],
        },
        "after_completion": {
            "type": "redirect",
            "redirect": {"return_url": "http://app.test/billing/?changed=1"},
        },
    }
    session = create(confirm)
    assert session.flow.type == "subscription_update_confirm"
    assert session.flow.subscription_update_confirm.subscription == sub_id
    item = session.flow.subscription_update_confirm["items"][0]
    assert (item.id, item.price, item.quantity) == (item_id, "price_demo_pro_monthly", 1)
    assert session.flow.after_completion.redirect.return_url == "http://app.test/billing/?changed=1"
    (recorded,) = [s for s in standin.portal_sessions if s["id"] == session.id]
    assert recorded["flow"]["subscription_update_confirm"]["items"][0]["price"] == "price_demo_pro_monthly"

    pm = create({"type": "payment_method_update"})
    assert (pm.flow.type, pm.flow.after_completion.type) == ("payment_method_update", "portal_homepage")

    err = error(
        {
            **confirm,
            "subscription_update_confirm": {
                **confirm["subscription_update_confirm"],
                "subscription": other_sub,
            },
        }
    )
    assert (
        err.param == "flow_data[subscription_update_confirm][subscription]"
        and "does not belong" in err.user_message
    )
    err = error({**confirm, "subscription_update_confirm": {"subscription": sub_id}})
    assert (err.code, err.param) == ("parameter_missing", "flow_data[subscription_update_confirm][items]")
    err = error(
        {
            **confirm,
            "subscription_update_confirm": {
                "subscription": sub_id,
                "items": [{"id": "si_x", "price": "price_demo_pro_monthly"}],
            },
        }
    )
    assert err.param == "flow_data[subscription_update_confirm][items][0][id]"
    err = error(
        {
            **confirm,
            "subscription_update_confirm": {
                "subscription": sub_id,
                "items": [{"id": item_id, "price": "price_x"}],
            },
        }
    )
    assert err.code == "resource_missing"
    err = error({"type": "subscription_cancel", "subscription_cancel": {"subscription": "sub_nope"}})
    assert (err.code, err.user_message) == ("resource_missing", "No such subscription: 'sub_nope'")
    assert error({"type": "subscription_cancel"}).param == "flow_data[subscription_cancel]"
    assert error({"type": "teleport"}).param == "flow_data[type]"
    err = error({"type": "payment_method_update", "after_completion": {"type": "redirect"}})
    assert err.param == "flow_data[after_completion][redirect][return_url]"
    assert error({"type": "payment_method_update", "colour": "red"}).code == "parameter_unknown"
    client.v1.subscriptions.cancel(sub_id)
    assert (
        "canceled"
        in error(
            {"type": "subscription_cancel", "subscription_cancel": {"subscription": sub_id}}
        ).user_message
    )
    assert other


def test_portal_flows_confirm(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    standin.seed_demo_catalogue()
    customer, sub_id = subscribe(standin, client, "price_demo_starter_monthly")
    item_id = client.v1.subscriptions.retrieve(sub_id)["items"].data[0].id
    assert lookup_keys(client, customer) == ["projects", "storage-1tb"]

    session = client.v1.billing_portal.sessions.create(
        params={
            "customer": customer,
            "return_url": "http://app.test/billing/",
            "flow_data": {
                "type": "subscription_update_confirm",
                "subscription_update_confirm": {
                    "subscription": sub_id,
                    "items": [{"id": item_id, "price": "price_demo_pro_yearly"}],
                },
                "after_completion": {
                    "type": "redirect",
                    "redirect": {"return_url": "http://app.test/billing/?changed=1"},
                },
            },
        }
    )
    status, _, body = get(session.url)
    page = body.decode()
    assert status == 200 and 'data-flow="subscription_update_confirm"' in page and "Pro" in page
    status, location, _ = press(session.url, "confirm_flow")
    assert (status, location) == (303, "http://app.test/billing/?changed=1")
    assert client.v1.subscriptions.retrieve(sub_id)["items"].data[0].price.id == "price_demo_pro_yearly"
    assert lookup_keys(client, customer) == ["projects", "storage-5tb", "extended-support"]
    assert press(session.url, "confirm_flow")[0] == 400  # once only; the page is the home page now
    assert 'id="subscriptions"' in get(session.url)[2].decode()

    cancel = client.v1.billing_portal.sessions.create(
        params={
            "customer": customer,
            "return_url": "http://app.test/billing/",
            "flow_data": {"type": "subscription_cancel", "subscription_cancel": {"subscription": sub_id}},
        }
    )
    status, location, _ = press(cancel.url, "confirm_flow")  # after completion: the portal's home page
    assert (status, location) == (303, cancel.url)
    assert client.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is True
    assert "Your plan will be canceled" in get(cancel.url)[2].decode()

    standin.simulate_renewal(sub_id, succeed=False)  # cancel_at_period_end: the renewal ends it instead
    assert client.v1.subscriptions.retrieve(sub_id).status == "canceled"
    assert lookup_keys(client, customer) == []

    card = client.v1.billing_portal.sessions.create(
        params={
            "customer": customer,
            "flow_data": {
                "type": "payment_method_update",
                "after_completion": {
                    "type": "hosted_confirmation",
                    "hosted_confirmation": {"custom_message": "All set."},
                },
            },
        }
    )
    status, _, page = press(card.url, "confirm_flow")
    assert status == 200 and "All set." in page
    leave = client.v1.billing_portal.sessions.create(
        params={
            "customer": customer,
            "return_url": "http://app.test/billing/",
            "flow_data": {"type": "payment_method_update"},
        }
    )
    assert press(leave.url, "leave_flow")[1] == "http://app.test/billing/"


def test_portal_home_actions(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    standin.seed_demo_catalogue()
    customer, sub_id = subscribe(standin, client, "price_demo_starter_monthly")
    session = client.v1.billing_portal.sessions.create(
        params={"customer": customer, "return_url": "http://app.test/billing/"}
    )
    page = get(session.url)[2].decode()
    for button in (f"cancel-{sub_id}", f"switch-{sub_id}", f"fail-{sub_id}", "update-card"):
        assert f'id="{button}"' in page

    assert press(session.url, "cancel", subscription=sub_id)[:2] == (303, session.url)
    assert client.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is True
    assert f'id="resume-{sub_id}"' in get(session.url)[2].decode()
    press(session.url, "resume", subscription=sub_id)
    assert client.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False

    press(session.url, "switch", subscription=sub_id, price="price_demo_pro_monthly")
    assert client.v1.subscriptions.retrieve(sub_id)["items"].data[0].price.id == "price_demo_pro_monthly"
    assert lookup_keys(client, customer) == ["projects", "storage-5tb", "extended-support"]

    press(session.url, "fail_renewal", subscription=sub_id)
    assert client.v1.subscriptions.retrieve(sub_id).status == "past_due"
    (open_invoice,) = client.v1.invoices.list(params={"customer": customer, "status": "open"}).data
    page = get(session.url)[2].decode()
    assert f'id="pay-{open_invoice.id}"' in page and 'data-status="past_due"' in page
    press(session.url, "pay_invoice", invoice=open_invoice.id)
    assert client.v1.invoices.retrieve(open_invoice.id).status == "paid"
    assert client.v1.subscriptions.retrieve(sub_id).status == "active"

    press(session.url, "fail_renewal", subscription=sub_id)
    press(session.url, "update_card")  # a new card pays what is due
    assert client.v1.subscriptions.retrieve(sub_id).status == "active"
    assert client.v1.invoices.list(params={"customer": customer, "status": "open"}).data == []

    _, other_sub = subscribe(standin, client, "price_demo_starter_monthly")
    status, _, page = press(session.url, "cancel", subscription=other_sub)  # not this customer's
    assert status == 400 and "No such subscription" in page
    assert press(session.url, "switch", subscription=sub_id, price="price_nope")[0] == 400
    assert [a["action"] for a in standin.portal_actions] == [
        "cancel",
        "resume",
        "switch",
        "fail_renewal",
        "pay_invoice",
        "fail_renewal",
        "update_card",
        "cancel",
        "switch",
    ]
    assert press(f"{standin.url}/p/session/test_nope", "cancel")[0] == 404


# --- webhooks ------------------------------------------------------------------------------------


class _Receiver:
    """A webhook endpoint on loopback that keeps what it is sent."""

    def __init__(self, status: int = 200) -> None:
        self.received: list[tuple[bytes, str]] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((body, self.headers.get("Stripe-Signature", "")))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/subscriptions/webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) >= count, len(self.received)

    def events(self) -> list[stripe.Event]:
        return [stripe.Webhook.construct_event(body, header, SECRET) for body, header in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    endpoint = _Receiver()
    yield endpoint
    endpoint.close()


def test_webhooks_are_signed_and_in_order(
    standin: StripeStandIn, client: stripe.StripeClient, receiver: _Receiver
) -> None:
    standin.set_webhook(receiver.url, SECRET)
    standin.seed_demo_catalogue()
    customer, sub_id = subscribe(standin, client, "price_demo_starter_monthly")
    client.v1.customers.delete(customer)
    recorded = standin.events()
    receiver.wait_for(len(recorded))
    time.sleep(0.1)
    events = receiver.events()  # construct_event raises if a signature is wrong
    assert [e.id for e in events] == [e["id"] for e in recorded]  # every one, in order, once
    assert all(
        e.id.startswith("evt_") and e.api_version == stripe.api_version and e.livemode is False
        for e in events
    )
    types = [e.type for e in events]
    for expected in (
        "product.created",
        "price.created",
        "customer.subscription.created",
        "invoice.paid",
        "checkout.session.completed",
        "entitlements.active_entitlement_summary.updated",
        "customer.subscription.deleted",
        "customer.deleted",
    ):
        assert expected in types
    assert types[-1] == "customer.deleted"
    completed = next(e for e in events if e.type == "checkout.session.completed")
    assert completed.data.object["subscription"] == sub_id
    summary = [e for e in events if e.type == "entitlements.active_entitlement_summary.updated"]
    assert [[x["lookup_key"] for x in e.data.object["entitlements"]["data"]] for e in summary] == [
        ["projects", "storage-1tb"],
        [],
    ]
    body, header = receiver.received[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, header, "whsec_other")
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert all(d.ok and d.attempts == 1 for d in standin.deliveries)
    assert standin.pending_events == []


def test_manual_delivery_and_failures(
    standin: StripeStandIn, client: stripe.StripeClient, receiver: _Receiver
) -> None:
    standin.create_product("Pro")  # no URL yet: recorded and kept for later
    assert [e["type"] for e in standin.pending_events] == ["product.created"]
    standin.set_webhook(receiver.url, SECRET, auto_deliver=False)
    standin.create_product("Max")
    time.sleep(0.1)
    assert receiver.received == []
    delivered = standin.deliver_events()
    assert [d.type for d in delivered] == ["product.created", "product.created"] and all(
        d.ok for d in delivered
    )
    assert [e.data.object["name"] for e in receiver.events()] == ["Pro", "Max"]
    assert standin.deliver_events() == []

    receiver.status = 500
    standin.create_product("Broken")
    (failed,) = standin.deliver_events()
    assert (failed.ok, failed.status, failed.attempts) == (False, 500, 1)
    assert standin.pending_events == []  # given up on, not retried forever

    config = control(
        standin, "POST", "webhook", {"url": receiver.url, "secret": SECRET, "auto_deliver": True}
    )
    assert config["url"] == receiver.url and config["auto_deliver"] is True
    receiver.status = 200
    standin.set_webhook(None)
    with pytest.raises(ValueError, match="no webhook url"):
        standin.deliver_events()
    with pytest.raises(ValueError, match="secret"):
        standin.set_webhook(receiver.url)
    assert [e["type"] for e in control(standin, "GET", "events?type=product.*")] == ["product.created"] * 3


def test_cli_seeds_and_delivers(receiver: _Receiver) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stripe_standin",
            "--port",
            "0",
            "--seed-demo-catalogue",
            "--webhook-url",
            receiver.url,
            "--webhook-secret",
            SECRET,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        match = re.fullmatch(
            r"stripe-standin listening on (http://127\.0\.0\.1:\d+)\n", process.stdout.readline()
        )
        assert match
        client = stripe.StripeClient(KEY, base_addresses={"api": match.group(1)}, max_network_retries=0)
        assert len(client.v1.products.list().data) == 3
        receiver.wait_for(8)  # 3 products, 5 prices
        assert {e.type for e in receiver.events()} == {"product.created", "price.created"}
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    bad = subprocess.run(
        [sys.executable, "-m", "stripe_standin", "--webhook-url", receiver.url],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": ""},
    )
    assert bad.returncode == 2 and "--webhook-secret" in bad.stderr


def test_the_checkout_page_names_the_customer_not_its_id(standin: StripeStandIn, client: stripe.StripeClient):
    standin.seed_demo_catalogue()
    customer = standin.create_customer(name="Acme Inc", email="billing@acme.test")["id"]
    session = checkout(client, customer, "price_demo_pro_monthly")
    status, _, body = http(f"{standin.url}/c/pay/{session.id}")
    page = body.decode()
    assert status == 200
    assert '<strong id="checkout-customer">Acme Inc</strong>' in page
    assert customer not in page
