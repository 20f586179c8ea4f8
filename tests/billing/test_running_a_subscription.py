"""Running a subscription: cancel (both modes, asked twice), the payment history (statuses, date
filters and their errors), and the portal opened on "update payment method"."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from billing import stripe_gateway
from billing.models import Subscription
from tests.assertions import assert_error
from tests.billing.keys import sent
from tests.billing.stripe_events import subscribe_at_stripe

pytestmark = pytest.mark.django_db

CANCEL = "/subscriptions/cancel"
RESUME = "/subscriptions/resume"
PAYMENTS = "/subscriptions/payments"
PAYMENT_METHOD = "/subscriptions/portal/payment-method"


@pytest.fixture
def live(client, organization, stripe_standin) -> dict:
    """An active subscription, at Stripe and as the app knows it."""
    return subscribe_at_stripe(client, organization, stripe_standin)


def _writes(stripe_standin, subscription_id: str) -> list:
    return [
        r
        for r in stripe_standin.requests
        if r.method in ("POST", "DELETE") and r.path == f"/v1/subscriptions/{subscription_id}"
    ]


# --- cancel ----------------------------------------------------------------------------------


def test_cancel_at_period_end_is_stored_at_once_and_asking_again_writes_nothing(
    owner, auth_client, live, stripe_standin
):
    client = auth_client(owner)

    first = client.post(CANCEL)

    assert first.status_code == 200, first.content
    row = Subscription.objects.get()
    assert (row.status, row.cancel_at_period_end) == ("active", True)  # without waiting for the webhook
    data = first.json()["data"]
    assert data["subscriptionId"] == live["id"]
    assert data["status"] == "active"
    assert row.current_period_end is not None
    assert data["cancelAt"] == row.current_period_end.isoformat().replace("+00:00", "Z")
    (write,) = _writes(stripe_standin, live["id"])
    assert write.params == {"cancel_at_period_end": "true"}
    assert write.headers["idempotency-key"].startswith(sent(f"subscription-{row.pk}-cancel-"))

    second = client.post(CANCEL)

    assert second.status_code == 200 and second.json() == first.json()
    assert len(_writes(stripe_standin, live["id"])) == 1  # no new Stripe write


def test_cancel_immediately_ends_the_subscription(owner, auth_client, live, stripe_standin, settings):
    settings.BILLING_CANCEL_MODE = "immediately"
    client = auth_client(owner)

    first = client.post(CANCEL)

    assert first.status_code == 200, first.content
    assert Subscription.objects.get().status == "canceled"
    data = first.json()["data"]
    assert data["status"] == "canceled" and data["canceledAt"] is not None
    (write,) = _writes(stripe_standin, live["id"])
    assert write.method == "DELETE"

    assert client.post(CANCEL).json() == first.json()
    assert len(_writes(stripe_standin, live["id"])) == 1


def test_cancel_without_a_live_subscription_is_404(owner, auth_client):
    body = assert_error(auth_client(owner).post(CANCEL), 404, "NO_SUBSCRIPTION")
    assert body["message"] == "No active subscription found"


def test_cancel_is_for_the_billing_roles(member, auth_client, live):
    assert_error(auth_client(member).post(CANCEL), 403, "BILLING_PERMISSION_DENIED")


def test_cancel_counts_toward_the_billing_rate(owner, auth_client, live, settings):
    settings.BILLING_PORTAL_RATE = "1/min"
    client = auth_client(owner)
    assert client.post("/subscriptions/portal").status_code == 200
    assert_error(client.post(CANCEL), 429, "RATE_LIMITED")


def test_cancel_only_answers_post(owner, auth_client):
    assert_error(auth_client(owner).get(CANCEL), 405, "METHOD_NOT_ALLOWED")


# --- resume ----------------------------------------------------------------------------------


def test_resume_withdraws_the_cancellation_at_stripe_and_asking_again_writes_nothing(
    owner, auth_client, live, stripe_standin
):
    client = auth_client(owner)
    assert client.post(CANCEL).status_code == 200

    first = client.post(RESUME)

    assert first.status_code == 200, first.content
    assert first.json()["data"] == {
        "subscriptionId": live["id"],
        "status": "active",
        "cancelAt": None,
        "canceledAt": None,
    }
    assert Subscription.objects.get().cancel_at_period_end is False  # stored at once
    cancel_write, resume_write = _writes(stripe_standin, live["id"])
    assert resume_write.params == {"cancel_at_period_end": "false"}
    assert resume_write.headers["idempotency-key"] != cancel_write.headers["idempotency-key"]
    assert stripe_gateway.subscription_retrieve(subscription_id=live["id"]).cancel_at_period_end is False

    again = client.post(f"{RESUME}/")
    assert again.status_code == 200 and again.json() == first.json(), again.content
    assert len(_writes(stripe_standin, live["id"])) == 2


def test_resume_without_a_live_subscription_is_404(owner, auth_client):
    assert_error(auth_client(owner).post(RESUME), 404, "NO_SUBSCRIPTION")


def test_resume_with_nothing_set_to_cancel_is_404_without_a_stripe_write(
    owner, auth_client, live, stripe_standin
):
    assert_error(auth_client(owner).post(RESUME), 404, "NO_SUBSCRIPTION")
    assert _writes(stripe_standin, live["id"]) == []


def test_resume_is_for_the_billing_roles_and_counts_toward_the_rate(
    member, owner, auth_client, live, settings
):
    assert_error(auth_client(member).post(RESUME), 403, "BILLING_PERMISSION_DENIED")
    settings.BILLING_PORTAL_RATE = "1/min"
    client = auth_client(owner)
    assert client.post(CANCEL).status_code == 200
    assert_error(client.post(RESUME), 429, "RATE_LIMITED")
    assert_error(client.get(RESUME), 405, "METHOD_NOT_ALLOWED")


# --- payments ----------------------------------------------------------------------------------


def _invoices(stripe_standin, live) -> dict[str, dict]:
    """Four invoices of the subscription, one per status, a day apart (oldest first)."""
    day = 86400
    base = int(time.time()) - 10 * day
    ids = {}
    for n, status in enumerate(["paid", "open", "uncollectible", "void"]):
        stripe_standin.simulate_renewal(live["id"], succeed=False)  # an open invoice
        invoice_id = stripe_standin.invoices[-1]["id"]
        if status == "paid":
            stripe_standin.pay_invoice(invoice_id)
        with stripe_standin._lock:  # what only time, or Stripe's dashboard, does
            stored = stripe_standin._store.invoices[invoice_id]
            if status in ("uncollectible", "void"):
                stored["status"] = status
            stored["created"] = base + n * day
        (ids[status],) = [i for i in stripe_standin.invoices if i["id"] == invoice_id]
    return ids


def test_payments_newest_first_with_each_status(owner, auth_client, live, stripe_standin):
    invoices = _invoices(stripe_standin, live)

    response = auth_client(owner).get(PAYMENTS)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True and body["hasMore"] is False
    mine = [p for p in body["data"] if p["id"] in {i["id"] for i in invoices.values()}]
    assert [p["status"] for p in mine] == ["CANCELLED", "FAILED", "PENDING", "COMPLETED"]
    paid = next(p for p in mine if p["status"] == "COMPLETED")
    assert paid["amount"] == invoices["paid"]["amount_paid"] > 0
    owed = next(p for p in mine if p["status"] == "PENDING")
    assert owed["amount"] == invoices["open"]["amount_due"] > 0
    assert paid["currency"] == "usd"
    assert paid["invoiceUrl"] == invoices["paid"]["hosted_invoice_url"]
    assert paid["invoicePdf"] == invoices["paid"]["invoice_pdf"]
    assert paid["timestamp"] == datetime.fromtimestamp(
        invoices["paid"]["created"], tz=UTC
    ).isoformat().replace("+00:00", "Z")
    (listed,) = stripe_standin.requests_to("GET", "/v1/invoices")
    assert listed.query["customer"] == live["customer"] and listed.query["limit"] == "100"


def test_payments_between_dates_are_inclusive_days(owner, auth_client, live, stripe_standin):
    invoices = _invoices(stripe_standin, live)
    open_day = datetime.fromtimestamp(invoices["open"]["created"], tz=UTC).date().isoformat()
    failed_day = datetime.fromtimestamp(invoices["uncollectible"]["created"], tz=UTC).date().isoformat()

    response = auth_client(owner).get(PAYMENTS, {"startDate": open_day, "endDate": failed_day})

    assert response.status_code == 200, response.content
    assert [p["status"] for p in response.json()["data"]] == ["FAILED", "PENDING"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"startDate": "yesterday"}, "INVALID_START_DATE"),
        ({"endDate": "2026-13-45"}, "INVALID_END_DATE"),
        ({"startDate": "2026-06-02", "endDate": "2026-06-01"}, "INVALID_DATE_RANGE"),
    ],
)
def test_payment_dates_that_do_not_parse_or_cross_are_400(
    owner, auth_client, live, stripe_standin, query, code
):
    assert_error(auth_client(owner).get(PAYMENTS, query), 400, code)
    assert stripe_standin.requests_to("GET", "/v1/invoices") == []  # refused before Stripe


def test_payments_without_a_customer_are_empty(owner, auth_client, stripe_standin):
    response = auth_client(owner).get(PAYMENTS)
    assert response.json() == {"success": True, "data": [], "hasMore": False}
    assert stripe_standin.requests == []


def test_payments_are_for_the_billing_roles(member, auth_client):
    assert_error(auth_client(member).get(PAYMENTS), 403, "BILLING_PERMISSION_DENIED")


# --- the portal on "update payment method" -----------------------------------------------------


def test_the_payment_method_portal_opens_on_its_flow(owner, auth_client, live, stripe_standin, settings):
    response = auth_client(owner).post(PAYMENT_METHOD)

    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    (created,) = stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")
    assert created.params["flow_data"] == {
        "type": "payment_method_update",
        "after_completion": {
            "type": "redirect",
            "redirect": {"return_url": settings.BILLING_PORTAL_RETURN_URL + "?portal=card"},
        },
    }
    assert response.json()["url"].startswith(stripe_standin.url)


def test_the_payment_method_portal_is_for_the_billing_roles(member, auth_client):
    assert_error(auth_client(member).post(PAYMENT_METHOD), 403, "BILLING_PERMISSION_DENIED")
