"""billing.stripe_gateway's error mapping: which billing error each Stripe failure becomes.

Through the real SDK against the stand-in's fault injection wherever the stand-in can produce
the failure; the rest raised into `_stripe_errors` directly.
"""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stripe
import urllib3

from billing import stripe_gateway
from billing.errors import (
    BillingError,
    BillingNotConfigured,
    BillingUnavailable,
    CustomerMissing,
    SubscriptionMissing,
)
from billing.stripe_gateway import connection as stripe_connection
from billing.stripe_gateway.errors import _stripe_errors

SESSIONS = "/v1/billing_portal/sessions"


@pytest.fixture
def customer_id(stripe_standin) -> str:
    return stripe_standin.create_customer(name="Acme Inc")["id"]


def portal(customer_id: str) -> stripe_gateway.StripePortalSession:
    return stripe_gateway.portal_session_create(
        customer_id=customer_id, return_url="http://127.0.0.1/billing/"
    )


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("500", BillingUnavailable),
        ("429", BillingUnavailable),
        ("drop", BillingUnavailable),
        ("401", BillingNotConfigured),
        ("no_such_customer", CustomerMissing),
        ("portal_not_configured", BillingNotConfigured),
    ],
)
def test_stripe_faults_become_billing_errors(stripe_standin, customer_id, fault, error):
    stripe_standin.add_fault(fault, path_prefix=SESSIONS)
    with pytest.raises(BillingError) as raised:
        portal(customer_id)
    assert type(raised.value) is error


def test_a_refused_key_says_so(stripe_standin, customer_id):
    stripe_standin.add_fault("401", path_prefix=SESSIONS)
    with pytest.raises(
        BillingNotConfigured, match=r"^Billing is not configured: Stripe refused the API key$"
    ):
        portal(customer_id)


def test_an_unconfigured_portal_says_so(stripe_standin, customer_id):
    stripe_standin.set_portal_configured(False)
    with pytest.raises(
        BillingNotConfigured,
        match=r"^Billing is not configured: no customer portal configuration is saved in Stripe$",
    ):
        portal(customer_id)


def test_a_customer_stripe_does_not_have_is_missing(stripe_standin):
    with pytest.raises(CustomerMissing, match=r"^The Stripe customer no longer exists$"):
        portal("cus_never_heard_of")
    assert stripe_gateway.customer_is_gone(customer_id="cus_never_heard_of") is True


def test_a_deleted_customer_is_gone(stripe_standin, customer_id):
    assert stripe_gateway.customer_is_gone(customer_id=customer_id) is False
    stripe_standin.delete_customer(customer_id)
    assert stripe_gateway.customer_is_gone(customer_id=customer_id) is True


def test_a_subscription_stripe_does_not_have_is_missing(stripe_standin):
    with pytest.raises(SubscriptionMissing):
        stripe_gateway.subscription_retrieve(subscription_id="sub_never_heard_of")


def test_a_key_reused_with_other_parameters_is_a_plain_billing_error(stripe_standin):
    stripe_gateway.customer_create(name="A", email="", organization_id=1, idempotency_key="k-1")
    with pytest.raises(BillingError) as raised:
        stripe_gateway.customer_create(name="B", email="", organization_id=1, idempotency_key="k-1")
    assert type(raised.value) is BillingError
    assert len(stripe_standin.customers) == 1


def _raised_by(exc: Exception, call: str = "subscriptions.retrieve") -> type[BillingError]:
    with pytest.raises(BillingError) as raised, _stripe_errors(call):
        raise exc
    assert raised.value.__cause__ is exc
    return type(raised.value)


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (stripe.PermissionError("no", http_status=403), BillingNotConfigured),
        (stripe.AuthenticationError("no", http_status=401), BillingNotConfigured),
        (stripe.IdempotencyError("in flight", http_status=409), BillingUnavailable),
        (stripe.IdempotencyError("other params", http_status=400), BillingError),
        (stripe.RateLimitError("slow down", http_status=429), BillingUnavailable),
        (stripe.APIConnectionError("unreachable"), BillingUnavailable),
        (stripe.APIError("conflict", http_status=409), BillingUnavailable),
        (stripe.APIError("boom", http_status=502), BillingUnavailable),
        (stripe.APIError("odd", http_status=402), BillingError),
        (stripe.CardError("declined", None, "card_declined", http_status=402), BillingError),
        (
            stripe.InvalidRequestError("bad param", "x", code="parameter_invalid", http_status=400),
            BillingError,
        ),
        (
            stripe.InvalidRequestError("No such customer: 'cus_x'", "customer", code="resource_missing"),
            CustomerMissing,
        ),
        (
            stripe.InvalidRequestError("No such subscription: 'sub_x'", "id", code="resource_missing"),
            SubscriptionMissing,
        ),
        (stripe.InvalidRequestError("No such configuration: 'bpc_x'", "configuration"), BillingNotConfigured),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else f"{type(v).__name__}-{v.http_status}",
)
def test_each_stripe_exception_maps_to_one_billing_error(exc, error):
    assert _raised_by(exc) is error


@pytest.mark.parametrize(
    ("call", "param", "error"),
    [
        ("customers.retrieve", "id", CustomerMissing),
        ("subscriptions.update", "id", SubscriptionMissing),
        ("billing_portal.sessions.create", "customer", CustomerMissing),
        ("invoices.list", "subscription", SubscriptionMissing),
        ("prices.retrieve", "id", BillingError),
    ],
)
def test_a_missing_object_is_recognised_by_code_and_param_not_by_wording(call, param, error):
    reworded = stripe.InvalidRequestError("That object is gone", param, code="resource_missing")
    assert _raised_by(reworded, call) is error


def _http_client(api_base: str) -> Any:
    client = stripe_connection._client_for.__wrapped__("sk_test_proxies", api_base, 5.0, 0)
    return client._requestor._client


BOTH_PROXIES = {
    "HTTPS_PROXY": "http://secure-proxy.internal:3128",
    "HTTP_PROXY": "http://plain-proxy.internal:3128",
}


@pytest.mark.parametrize(
    ("address", "environment", "expected"),
    [
        ("https://api.stripe.com", {}, None),
        (
            "https://api.stripe.com",
            {"HTTPS_PROXY": "http://proxy.internal:3128"},
            "http://proxy.internal:3128",
        ),
        (
            "https://api.stripe.com",
            {"HTTPS_PROXY": "http://proxy.internal:3128", "NO_PROXY": "api.stripe.com"},
            None,
        ),
        # the variable of the address's own scheme, whichever else is set
        ("https://api.stripe.com", BOTH_PROXIES, "http://secure-proxy.internal:3128"),
        ("http://stripe.internal:12111", BOTH_PROXIES, "http://plain-proxy.internal:3128"),
        ("http://stripe.internal:12111", {"HTTPS_PROXY": "http://secure-proxy.internal:3128"}, None),
        (
            "https://api.stripe.com",
            {"ALL_PROXY": "http://any-proxy.internal:3128"},
            "http://any-proxy.internal:3128",
        ),
    ],
)
def test_the_environments_proxy_for_stripe_is_read_once_when_the_client_is_made(
    monkeypatch: pytest.MonkeyPatch, address: str, environment: dict[str, str], expected: str | None
) -> None:
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    pool = _http_client(address)._pool  # the pool the calls go through, with its proxy
    assert (str(pool.proxy) if isinstance(pool, urllib3.ProxyManager) else None) == expected


def test_calls_after_the_client_is_made_ignore_the_environment(
    stripe_standin: Any, customer_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stripe_gateway.portal_session_create(
        customer_id=customer_id, return_url="https://app.example.com/billing/"
    )
    # A proxy set later is not looked up per call (nor would it reach the stand-in).
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    session = stripe_gateway.portal_session_create(
        customer_id=customer_id, return_url="https://app.example.com/billing/"
    )
    assert session.url


def test_calls_from_many_threads_keep_their_connections_to_stripe_alive(
    stripe_standin: Any, customer_id: str
) -> None:
    """Four threads, five calls each: four connections at most, each kept alive for the next
    call, never one per call."""
    stripe_gateway.portal_session_create(customer_id=customer_id, return_url="https://app.example.com/b")
    opened = stripe_standin.api_connections_opened

    def five_calls() -> None:
        for _ in range(5):
            stripe_gateway.portal_session_create(
                customer_id=customer_id, return_url="https://app.example.com/b"
            )

    threads = [threading.Thread(target=five_calls) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")) == 21
    assert stripe_standin.api_connections_opened - opened <= 4


def test_a_stripe_that_refuses_connections_is_tried_again_then_unavailable(settings: Any) -> None:
    """Nothing listens: every try fails to connect, is retried (STRIPE_MAX_NETWORK_RETRIES),
    and the call ends in BillingUnavailable, never an exception of the transport's own."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        settings.STRIPE_API_BASE = f"http://127.0.0.1:{probe.getsockname()[1]}"
    settings.STRIPE_MAX_NETWORK_RETRIES = 1
    with pytest.raises(BillingUnavailable) as raised:
        stripe_gateway.portal_session_create(customer_id="cus_x", return_url="https://app.example.com/b")
    assert isinstance(raised.value.__cause__, stripe.APIConnectionError)
    assert "NewConnectionError" in str(raised.value.__cause__)


# ---- the plan-change preview and the demo's test clocks ----------------------------------------


def test_the_portals_plan_change_proration_is_read_from_its_configuration(stripe_standin, settings):
    settings.STRIPE_PORTAL_CONFIGURATION = ""
    assert stripe_gateway.portal_update_proration(configuration="") == "create_prorations"
    configuration = stripe_standin.requests_to("GET", "/v1/billing_portal/configurations")[-1]
    assert configuration.query["is_default"] == "true"
    (saved,) = stripe_gateway.client().v1.billing_portal.configurations.list().data
    assert stripe_gateway.portal_update_proration(configuration=saved.id) == "create_prorations"


def test_a_customer_on_a_test_clock_is_moved_on_and_its_change_previewed(stripe_standin):
    stripe_standin.seed_demo_catalogue()
    start = datetime(2026, 5, 1, tzinfo=UTC)
    clock = stripe_gateway.test_clock_create(frozen_time=start, name="Acme Inc", idempotency_key="t-clock")
    customer = stripe_gateway.customer_create(
        name="Acme Inc", email="", organization_id=1, idempotency_key="t-customer", test_clock=clock
    )
    assert stripe_gateway.customer_test_clock(customer_id=customer) == (clock, start)
    stripe_standin.save_card(customer)
    subscription = stripe_gateway.client().v1.subscriptions.create(
        {"customer": customer, "items": [{"price": "price_demo_starter_monthly"}]}
    )
    preview = stripe_gateway.invoice_preview(
        subscription_id=subscription.id,
        item_id=subscription["items"]["data"][0]["id"],
        price_id="price_demo_pro_monthly",
        proration_behavior="create_prorations",
    )
    assert [line.amount for line in preview.lines if line.proration] == [-1900, 4900]
    assert preview.amount_due == -1900 + 4900 + 4900 and preview.currency == "usd"
    assert preview.created == datetime(2026, 6, 1, tzinfo=UTC)  # the next renewal

    stripe_gateway.test_clock_advance(
        clock_id=clock, frozen_time=start + timedelta(days=31), idempotency_key="t-a"
    )
    assert stripe_gateway.customer_test_clock(customer_id=customer) == (clock, start + timedelta(days=31))
    assert stripe_standin.requests_to("POST", f"/v1/test_helpers/test_clocks/{clock}/advance")[0].params == {
        "frozen_time": str(int((start + timedelta(days=31)).timestamp()))
    }


def test_a_customer_without_a_clock_has_none(customer_id):
    assert stripe_gateway.customer_test_clock(customer_id=customer_id) is None
