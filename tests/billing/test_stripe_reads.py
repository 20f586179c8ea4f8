"""Reads that call Stripe are bounded: a per-user rate (BILLING_READ_RATE) on the payment history
and the Checkout session status, a short per-organization cache of the invoice list dropped by
invoice webhooks, billing pages that answer a refusal or a failure without calling Stripe, and
invoice webhooks that check the customer is ours before asking Stripe anything.

Every count here is of the requests the Stripe stand-in received."""

from __future__ import annotations

import pytest
from django.test import Client
from pytest_django.asserts import assertContains, assertNotContains

from billing.models import Subscription, WebhookEvent
from tests.assertions import assert_error
from tests.billing.plans_helpers import STARTER_MONTHLY, bearer, buy
from tests.billing.stripe_events import deliver, event, give_customer, outcome_of, subscribe_at_stripe

pytestmark = pytest.mark.django_db

PAYMENTS = "/subscriptions/payments"
PAGE = "/billing/"
INVOICES = "/v1/invoices"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def invoice_lists(stripe_standin) -> int:
    return len(stripe_standin.requests_to("GET", INVOICES))


@pytest.fixture
def live(client, organization, stripe_standin) -> dict:
    """An active subscription with one (unpaid) invoice, at Stripe and as the app knows it."""
    subscription = subscribe_at_stripe(client, organization, stripe_standin)
    stripe_standin.simulate_renewal(subscription["id"], succeed=False)
    return subscription


# --- the per-user read rate ---------------------------------------------------------------------


def test_the_payment_history_has_a_per_user_rate(owner, auth_client, live, settings, ratelimit_clock):
    settings.BILLING_READ_RATE = "3/min"
    client = auth_client(owner)

    statuses = [client.get(PAYMENTS).status_code for _ in range(3)]
    ratelimit_clock.advance(20)
    refused = client.get(PAYMENTS)

    assert statuses == [200, 200, 200]
    assert_error(refused, 429, "RATE_LIMITED")
    assert refused["Retry-After"] == "40"


def test_the_read_rate_is_apart_from_the_portal_rate(owner, auth_client, live, settings):
    settings.BILLING_READ_RATE = "1/min"
    settings.BILLING_PORTAL_RATE = "1/min"
    client = auth_client(owner)

    assert client.get(PAYMENTS).status_code == 200
    assert_error(client.get(PAYMENTS), 429, "RATE_LIMITED")
    assert client.post("/subscriptions/portal").status_code == 200  # the writes' own counter
    assert_error(client.post("/subscriptions/portal"), 429, "RATE_LIMITED")


def test_requests_refused_before_the_rate_do_not_count(owner, member, auth_client, live, settings):
    settings.BILLING_READ_RATE = "1/min"

    for _ in range(3):
        assert_error(auth_client(member).get(PAYMENTS), 403, "BILLING_PERMISSION_DENIED")
        assert_error(auth_client(owner).get(PAYMENTS, {"startDate": "yesterday"}), 400, "INVALID_START_DATE")

    assert auth_client(owner).get(PAYMENTS).status_code == 200


def test_a_read_that_stripe_failed_is_taken_back(owner, auth_client, live, settings, stripe_standin):
    settings.BILLING_READ_RATE = "1/min"
    client = auth_client(owner)
    stripe_standin.add_fault("500", method="GET", path_prefix=INVOICES)
    assert_error(client.get(PAYMENTS), 503, "BILLING_UNAVAILABLE")

    stripe_standin.clear_faults()
    assert client.get(PAYMENTS).status_code == 200


@pytest.fixture
def checkout_session(owner, stripe_standin) -> str:
    stripe_standin.seed_demo_catalogue()
    response = buy(owner, STARTER_MONTHLY)
    assert response.status_code == 200, response.content
    return str(response.json()["sessionId"])


def test_the_checkout_session_status_has_the_read_rate(
    owner, member, checkout_session, settings, stripe_standin, make_user
):
    settings.BILLING_READ_RATE = "2/min"
    path = f"/subscriptions/checkout-session/{checkout_session}"
    stranger = make_user()  # no organization: refused before the rate

    assert_error(bearer(stranger).get(path), 400, "NO_ORGANIZATION")
    assert [bearer(member).get(path).status_code for _ in range(2)] == [200, 200]
    refused = bearer(member).get(path)

    assert_error(refused, 429, "RATE_LIMITED")
    assert int(refused["Retry-After"]) >= 1
    assert len(stripe_standin.requests_to("GET", f"/v1/checkout/sessions/{checkout_session}")) == 2
    assert bearer(owner).get(path).status_code == 200  # per user


def test_coming_back_from_checkout_counts_toward_the_read_rate(
    owner, checkout_session, settings, stripe_standin
):
    settings.BILLING_READ_RATE = "1/min"
    back = f"{PAGE}?checkout=success&session_id={checkout_session}"
    browser = logged_in(owner)
    assert browser.get(back).status_code == 200
    lists = len(stripe_standin.requests)

    refused = browser.get(back)

    assert refused.status_code == 429
    assertContains(refused, "many times in a short while", status_code=429)
    assert len(stripe_standin.requests) == lists  # no Stripe call of any kind


# --- the invoice-list cache ---------------------------------------------------------------------


def test_rapid_payment_history_requests_make_one_stripe_call(owner, auth_client, live, stripe_standin):
    client = auth_client(owner)

    responses = [client.get(PAYMENTS) for _ in range(60)]

    assert {r.status_code for r in responses} == {200}
    assert all(r.json() == responses[0].json() for r in responses)
    assert len(responses[0].json()["data"]) == 1
    assert invoice_lists(stripe_standin) == 1


def test_the_cache_is_the_organizations_and_keyed_by_the_dates(
    owner, make_user, make_organization, organization, auth_client, live, stripe_standin
):
    admin = make_user(role="admin", organization=organization)
    other = make_organization(name="Other Inc")
    other_owner = make_user(role="owner", organization=other)
    give_customer(other, stripe_standin)

    auth_client(owner).get(PAYMENTS)
    auth_client(admin).get(PAYMENTS)  # the same organization: cached
    assert invoice_lists(stripe_standin) == 1
    auth_client(owner).get(PAYMENTS, {"startDate": "2026-01-01"})  # another range
    auth_client(owner).get(PAYMENTS, {"startDate": "2026-01-01T00:00:00Z"})  # the same one
    assert invoice_lists(stripe_standin) == 2
    assert auth_client(other_owner).get(PAYMENTS).json()["data"] == []  # another organization
    assert invoice_lists(stripe_standin) == 3


def test_an_invoice_webhook_drops_every_cached_range(owner, client, auth_client, live, stripe_standin):
    api = auth_client(owner)
    api.get(PAYMENTS)
    api.get(PAYMENTS, {"startDate": "2026-01-01"})
    assert invoice_lists(stripe_standin) == 2

    stripe_standin.simulate_renewal(live["id"], succeed=True)
    paid = stripe_standin.invoices[-1]
    assert deliver(client, event("invoice.paid", paid)).status_code == 200

    assert len(api.get(PAYMENTS).json()["data"]) == 2  # the new invoice, read afresh
    assert len(api.get(PAYMENTS, {"startDate": "2026-01-01"}).json()["data"]) == 2
    assert invoice_lists(stripe_standin) == 4
    api.get(PAYMENTS)
    assert invoice_lists(stripe_standin) == 4


def test_a_list_read_while_an_invoice_event_arrives_is_not_served_after_it(
    owner, client, auth_client, live, stripe_standin, monkeypatch
):
    from billing import stripe_gateway

    real = stripe_gateway.invoice_list
    invoice = stripe_standin.invoices[-1]

    def event_during_the_read(**kwargs):
        answer = real(**kwargs)  # Stripe answered; the invoice changes before the answer is stored
        assert deliver(client, event("invoice.finalized", invoice)).status_code == 200
        return answer

    monkeypatch.setattr(stripe_gateway, "invoice_list", event_during_the_read)
    api = auth_client(owner)
    api.get(PAYMENTS)
    monkeypatch.setattr(stripe_gateway, "invoice_list", real)

    api.get(PAYMENTS)
    assert invoice_lists(stripe_standin) == 2  # read afresh, not the list from before the event


def test_an_invoice_event_of_a_type_not_handled_still_drops_the_list(
    owner, client, auth_client, live, stripe_standin
):
    api = auth_client(owner)
    api.get(PAYMENTS)
    invoice = stripe_standin.invoices[-1]

    response = deliver(client, event("invoice.finalized", invoice))

    assert response.json()["outcome"] == "ignored"
    assert not WebhookEvent.objects.filter(type="invoice.finalized").exists()
    api.get(PAYMENTS)
    assert invoice_lists(stripe_standin) == 2


def test_another_customers_invoice_leaves_the_list_cached(owner, client, auth_client, live, stripe_standin):
    api = auth_client(owner)
    api.get(PAYMENTS)

    deliver(client, event("invoice.finalized", {"id": "in_x", "object": "invoice", "customer": "cus_else"}))

    api.get(PAYMENTS)
    assert invoice_lists(stripe_standin) == 1


def test_a_failure_is_not_cached(owner, auth_client, live, stripe_standin):
    api = auth_client(owner)
    stripe_standin.add_fault("500", method="GET", path_prefix=INVOICES)
    assert_error(api.get(PAYMENTS), 503, "BILLING_UNAVAILABLE")
    stripe_standin.clear_faults()
    failed = invoice_lists(stripe_standin)

    assert api.get(PAYMENTS).status_code == 200
    assert invoice_lists(stripe_standin) == failed + 1


def test_no_cache_when_its_seconds_are_zero(owner, auth_client, live, stripe_standin, settings):
    settings.BILLING_PAYMENTS_CACHE_SECONDS = 0
    for _ in range(3):
        auth_client(owner).get(PAYMENTS)
    assert invoice_lists(stripe_standin) == 3


def test_the_page_and_the_api_share_the_cached_list(owner, auth_client, live, stripe_standin):
    browser = logged_in(owner)
    for _ in range(5):
        assertContains(browser.get(PAGE), 'id="payments"')
    auth_client(owner).get(PAYMENTS)
    assert invoice_lists(stripe_standin) == 1


# --- pages that answer a refusal or a failure do not call Stripe -------------------------------


# Each kind of refused or failed page request: (method, path, form data, the page's status).
REFUSALS = {
    "rate-limited portal": ("post", "/billing/portal/", {}, 429),
    "failed buy": ("post", "/billing/buy/", {"price": "price_not_on_offer"}, 404),
    "Stripe failed the cancel": ("post", "/billing/cancel/", {}, 503),
    "wrong method": ("get", "/billing/cancel/", {}, 405),
}


@pytest.mark.parametrize("kind", list(REFUSALS))
@pytest.mark.parametrize("warm", [False, True], ids=["nothing cached", "history cached"])
def test_a_refused_page_never_calls_stripe(owner, live, stripe_standin, settings, kind, warm):
    stripe_standin.seed_demo_catalogue()
    browser = logged_in(owner)
    if warm:
        assertContains(browser.get(PAGE), 'id="payments"')  # caches the plans and the history
    method, path, data, status = REFUSALS[kind]
    if kind == "rate-limited portal":
        settings.BILLING_PORTAL_RATE = "1/min"
        assert browser.post(path).status_code == 303
    if kind == "Stripe failed the cancel":
        stripe_standin.add_fault("500", method="POST", path_prefix=f"/v1/subscriptions/{live['id']}")
    before = len(stripe_standin.requests)

    page = getattr(browser, method)(path, data)

    assert page.status_code == status, page.content
    stripe_calls = stripe_standin.requests[before:]
    assert [r for r in stripe_calls if r.path.startswith(INVOICES)] == []
    if kind != "failed buy":  # the buy itself reads the plans (once, then cached)
        assert [r for r in stripe_calls if r.path.startswith(("/v1/products", "/v1/prices"))] == []
    if warm:
        assertContains(page, 'id="payments"', status_code=status)  # what the cache holds
    else:
        assertNotContains(page, 'id="payments"', status_code=status)
        assertContains(page, "Reload the page to see it.", status_code=status)


def test_a_page_after_stripe_failed_the_portal_does_not_read_the_history(owner, live, stripe_standin):
    stripe_standin.add_fault("500", method="POST", path_prefix="/v1/billing_portal/sessions")

    page = logged_in(owner).post("/billing/portal/")

    assert page.status_code == 503
    assert invoice_lists(stripe_standin) == 0


# --- invoice webhooks: is the customer ours? ----------------------------------------------------


def _invoice(subscription_id: str, customer: str) -> dict:
    parent = {"type": "subscription_details", "subscription_details": {"subscription": subscription_id}}
    return {"id": "in_test_1", "object": "invoice", "customer": customer, "parent": parent}


@pytest.mark.parametrize("type", ["invoice.paid", "invoice.payment_failed"])
def test_an_invoice_of_a_customer_not_ours_is_ignored_without_a_stripe_call(
    client, organization, stripe_standin, type
):
    give_customer(organization, stripe_standin)
    at_stripe = stripe_standin.create_subscription(
        customer=stripe_standin.create_customer(name="Another product's customer")["id"], status="active"
    )
    before = len(stripe_standin.requests)

    response = deliver(client, event(type, _invoice(at_stripe["id"], at_stripe["customer"])))

    assert response.status_code == 200, response.content
    assert outcome_of(response) == "unknown_customer"
    assert stripe_standin.requests[before:] == []


def test_an_invoice_of_our_customer_for_a_subscription_new_to_us_is_fetched(
    client, organization, stripe_standin
):
    customer_id = give_customer(organization, stripe_standin)
    at_stripe = stripe_standin.create_subscription(customer=customer_id, status="past_due")

    response = deliver(client, event("invoice.payment_failed", _invoice(at_stripe["id"], customer_id)))

    assert outcome_of(response) == "processed"
    assert Subscription.objects.get(organization=organization).status == "past_due"
    assert [r.path for r in stripe_standin.requests_to("GET", "/v1/subscriptions/")] == [
        f"/v1/subscriptions/{at_stripe['id']}"
    ]
