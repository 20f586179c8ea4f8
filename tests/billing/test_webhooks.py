"""POST /subscriptions/webhook: every event the app handles, deliveries signed the way Stripe signs them."""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client, RequestFactory

from billing import apis, webhooks
from billing.models import Subscription, WebhookEvent
from organizations.models import Organization
from tests.assertions import assert_error
from tests.billing.stripe_events import WEBHOOK_URL, deliver, event, give_customer, outcome_of, sign

pytestmark = pytest.mark.django_db

T0 = int(time.time()) - 3600  # an hour ago: Stripe time of the first state in these tests


def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def assert_ok(response, outcome: str) -> None:
    assert response.status_code == 200, response.content
    assert response.json()["success"] is True, response.content
    assert outcome_of(response) == outcome


@pytest.fixture
def customer_id(organization: Organization, stripe_standin) -> str:
    return give_customer(organization, stripe_standin)


@pytest.fixture
def stripe_sub(customer_id: str, stripe_standin) -> dict:
    """An active subscription in Stripe, as Stripe would put it in an event."""
    return stripe_standin.create_subscription(
        customer=customer_id,
        status="active",
        price_id="price_team_monthly",
        product="prod_team",
        quantity=3,
        created=T0,
        current_period_end=T0 + 30 * 86400,
    )


def changed(sub: dict, **fields) -> dict:
    """The subscription with `fields` changed (quantity on its item, where Stripe keeps it)."""
    sub = copy.deepcopy(sub)
    if "quantity" in fields:
        sub["items"]["data"][0]["quantity"] = fields.pop("quantity")
    return {**sub, **fields}


def deliver_sub(client: Client, type: str, sub: dict, created: int, **fields) -> Any:
    return deliver(client, event(type, changed(sub, **fields), created=created))


# --- applied -------------------------------------------------------------------------------


def test_subscription_created_is_stored(client, organization, stripe_sub, stripe_standin):
    evt = event("customer.subscription.created", stripe_sub, created=T0)
    response = deliver(client, evt)

    assert_ok(response, "processed")
    row = Subscription.objects.get()
    assert row.organization == organization
    assert row.stripe_subscription_id == stripe_sub["id"]
    assert row.status == "active"
    assert (row.price_id, row.product, row.quantity) == ("price_team_monthly", "prod_team", 3)
    # With the pinned API version the period lives on the item.
    assert row.current_period_end == at(T0 + 30 * 86400)
    assert (row.cancel_at_period_end, row.canceled_at, row.trial_end) == (False, None, None)
    assert row.stripe_created == at(T0)
    assert row.state_at == at(T0)
    record = WebhookEvent.objects.get()
    assert (record.stripe_event_id, record.type) == (evt["id"], "customer.subscription.created")
    assert record.processed_at is not None
    # Fast: the event carries the state; Stripe is asked only for the capabilities the new
    # subscription grants (after the event's transaction).
    assert [(r.method, r.path) for r in stripe_standin.requests] == [
        ("GET", "/v1/entitlements/active_entitlements")
    ]


def test_updated_event_changes_the_stored_state(client, stripe_sub):
    deliver_sub(client, "customer.subscription.created", stripe_sub, T0)
    response = deliver_sub(
        client,
        "customer.subscription.updated",
        stripe_sub,
        T0 + 60,
        cancel_at_period_end=True,
        trial_end=T0 + 86400,
    )

    assert_ok(response, "processed")
    row = Subscription.objects.get()
    assert row.cancel_at_period_end is True
    assert row.trial_end == at(T0 + 86400)
    assert row.state_at == at(T0 + 60)


@pytest.mark.parametrize(("type", "status"), [("paused", "paused"), ("resumed", "active")])
def test_paused_and_resumed_are_handled(client, stripe_sub, type, status):
    deliver_sub(client, "customer.subscription.created", stripe_sub, T0)
    response = deliver_sub(client, f"customer.subscription.{type}", stripe_sub, T0 + 10, status=status)

    assert_ok(response, "processed")
    assert Subscription.objects.get().status == status


def test_the_path_with_a_trailing_slash_and_csrf_enforced(stripe_sub):
    client = Client(enforce_csrf_checks=True)  # Stripe has no CSRF token: the endpoint is exempt
    response = deliver(client, event("customer.subscription.created", stripe_sub), url=WEBHOOK_URL + "/")

    assert_ok(response, "processed")
    assert Subscription.objects.count() == 1


def test_deleted_marks_the_subscription_canceled(client, stripe_sub):
    deliver_sub(client, "customer.subscription.created", stripe_sub, T0)
    response = deliver_sub(
        client, "customer.subscription.deleted", stripe_sub, T0 + 100, status="canceled", canceled_at=T0 + 99
    )

    assert_ok(response, "processed")
    row = Subscription.objects.get()
    assert row.status == "canceled"
    assert row.canceled_at == at(T0 + 99)


def test_deleted_for_a_subscription_we_never_saw_is_stored_canceled(client, stripe_sub):
    response = deliver_sub(
        client, "customer.subscription.deleted", stripe_sub, T0 + 100, status="canceled", canceled_at=T0 + 99
    )

    assert_ok(response, "processed")
    assert Subscription.objects.get().status == "canceled"


def test_customer_deleted_clears_the_customer_id_and_ends_its_subscriptions(
    client, organization, customer_id, stripe_sub
):
    deliver_sub(client, "customer.subscription.created", stripe_sub, T0)
    response = deliver(
        client, event("customer.deleted", {"id": customer_id, "object": "customer"}, created=T0 + 50)
    )

    assert_ok(response, "processed")
    organization.refresh_from_db()
    assert organization.stripe_customer_id is None
    row = Subscription.objects.get()
    assert (row.status, row.canceled_at) == ("canceled", at(T0 + 50))

    # Stripe's own subscription.deleted still reaches the row, though the customer is gone.
    response = deliver_sub(
        client, "customer.subscription.deleted", stripe_sub, T0 + 50, status="canceled", canceled_at=T0 + 49
    )
    assert_ok(response, "processed")
    assert Subscription.objects.get().canceled_at == at(T0 + 49)


def test_customer_deleted_for_an_unknown_customer_is_acknowledged(client, organization, customer_id):
    response = deliver(client, event("customer.deleted", {"id": "cus_someone_else", "object": "customer"}))

    assert_ok(response, "unknown_customer")
    organization.refresh_from_db()
    assert organization.stripe_customer_id == customer_id


# --- ignored -------------------------------------------------------------------------------


def test_an_unknown_type_is_acknowledged_and_ignored(client, stripe_sub):
    response = deliver(client, event("invoice.finalized", {"id": "in_123", "object": "invoice"}))

    assert_ok(response, "ignored")
    assert not WebhookEvent.objects.exists()
    assert not Subscription.objects.exists()


def test_a_subscription_of_an_unknown_customer_is_acknowledged_and_ignored(client, stripe_sub):
    response = deliver_sub(client, "customer.subscription.created", stripe_sub, T0, customer="cus_not_ours")

    assert_ok(response, "unknown_customer")
    assert not Subscription.objects.exists()
    assert WebhookEvent.objects.count() == 1  # a redelivery is still answered as a duplicate


# --- duplicates and ordering ---------------------------------------------------------------


def test_the_same_event_twice_is_processed_once(client, stripe_sub):
    evt = event("customer.subscription.created", stripe_sub, created=T0)
    assert_ok(deliver(client, evt), "processed")
    # Something changed our row since (had the redelivery been processed, it would undo it).
    Subscription.objects.update(status="past_due", state_at=at(T0 - 1000))

    response = deliver(client, evt)

    assert_ok(response, "duplicate")
    assert Subscription.objects.get().status == "past_due"
    assert WebhookEvent.objects.count() == 1


def test_an_older_update_after_a_newer_one_leaves_the_newer_state(client, stripe_sub):
    deliver_sub(client, "customer.subscription.created", stripe_sub, T0)
    deliver_sub(client, "customer.subscription.updated", stripe_sub, T0 + 20, status="past_due", quantity=5)

    response = deliver_sub(
        client, "customer.subscription.updated", stripe_sub, T0 + 10, status="active", quantity=2
    )

    assert_ok(response, "unchanged")
    row = Subscription.objects.get()
    assert (row.status, row.quantity, row.state_at) == ("past_due", 5, at(T0 + 20))
    assert WebhookEvent.objects.count() == 3


def test_created_arriving_after_updated_does_not_roll_back(client, stripe_sub):
    deliver_sub(client, "customer.subscription.updated", stripe_sub, T0 + 5, status="active")

    response = deliver_sub(client, "customer.subscription.created", stripe_sub, T0, status="incomplete")

    assert_ok(response, "unchanged")
    assert Subscription.objects.get().status == "active"


def test_two_states_of_the_same_second_are_settled_by_stripe(client, stripe_sub, stripe_standin):
    """Stripe's times are whole seconds: on a tie the subscription is fetched from Stripe."""
    deliver_sub(client, "customer.subscription.updated", stripe_sub, T0, status="active", quantity=4)
    stripe_standin.update_subscription(stripe_sub["id"], quantity=7)  # Stripe's state now

    response = deliver_sub(client, "customer.subscription.created", stripe_sub, T0, status="incomplete")

    assert_ok(response, "processed")
    row = Subscription.objects.get()
    assert (row.status, row.quantity) == ("active", 7)
    fetches = stripe_standin.requests_to("GET", "/v1/subscriptions")
    assert [r.path for r in fetches] == [f"/v1/subscriptions/{stripe_sub['id']}"]


def test_a_canceled_subscription_is_never_revived(client, stripe_sub):
    deliver_sub(client, "customer.subscription.deleted", stripe_sub, T0 + 10, status="canceled")

    # Even a later-stamped non-ended state (clock skew, a replayed payload) is not applied.
    response = deliver_sub(client, "customer.subscription.updated", stripe_sub, T0 + 20, status="active")

    assert_ok(response, "unchanged")
    assert Subscription.objects.get().status == "canceled"


# --- refused -------------------------------------------------------------------------------


def _bad_signatures(payload: bytes) -> dict[str, str | None]:
    now = int(time.time())
    return {
        "missing": None,
        "empty": "",
        "wrong secret": sign(payload, secret="whsec_someone_elses"),
        "stale (301 s)": sign(payload, timestamp=now - 301),
        "other body": sign(payload + b" "),
        "not a signature": "t=abc,v1=zzz",
        "no v1": sign(payload).replace("v1=", "v0="),
    }


@pytest.mark.parametrize(
    "case",
    ["missing", "empty", "wrong secret", "stale (301 s)", "other body", "not a signature", "no v1"],
)
def test_a_bad_signature_is_refused_and_changes_nothing(client, stripe_sub, case):
    deliver_sub(client, "customer.subscription.created", stripe_sub, T0)
    payload = json.dumps(
        event("customer.subscription.updated", {**stripe_sub, "status": "canceled"})
    ).encode()

    response = deliver(client, payload, signature=_bad_signatures(payload)[case])

    assert_error(response, 400, "INVALID_SIGNATURE")
    assert Subscription.objects.get().status == "active"
    assert WebhookEvent.objects.count() == 1


def test_a_signature_within_the_tolerance_is_accepted(client, stripe_sub):
    response = deliver(
        client, event("customer.subscription.created", stripe_sub), timestamp=int(time.time()) - 290
    )

    assert_ok(response, "processed")


def test_an_oversized_payload_is_refused(client, stripe_sub):
    payload = json.dumps(
        event("customer.subscription.created", {**stripe_sub, "pad": "x" * 1024 * 1024})
    ).encode()

    response = deliver(client, payload)

    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert not Subscription.objects.exists()
    assert not WebhookEvent.objects.exists()


def test_a_payload_of_exactly_one_mib_is_read(client):
    response = deliver(client, b"x" * (1024 * 1024))

    assert_error(response, 400, "INVALID_PAYLOAD")  # read and verified, then not JSON


def test_the_cap_holds_on_the_body_read_whatever_the_declared_length():
    body = b"{" + b" " * (1024 * 1024)
    request = RequestFactory().generic(
        "POST", WEBHOOK_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=sign(body)
    )
    request.META["CONTENT_LENGTH"] = "10"  # a lie: the stream holds more

    response = apis.StripeWebhookApi.as_view()(request)

    assert response.status_code == 413
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    ("payload", "error_code"),
    [
        (b"not json", "INVALID_PAYLOAD"),
        (b"[]", "INVALID_PAYLOAD"),
        (json.dumps({"id": "evt_1", "type": "customer.subscription.created"}).encode(), "INVALID_PAYLOAD"),
        (b"\xff\xfe not utf-8", "INVALID_SIGNATURE"),  # Stripe signs UTF-8 JSON: not a delivery
    ],
    ids=["text", "a list", "no created or data", "binary"],
)
def test_a_signed_body_that_is_not_an_event_is_refused(client, payload, error_code):
    response = deliver(client, payload)

    assert_error(response, 400, error_code)
    assert not WebhookEvent.objects.exists()


def test_a_subscription_event_without_a_subscription_is_kept_as_failed(client):
    response = deliver(
        client, event("customer.subscription.updated", {"id": "sub_1", "object": "subscription"})
    )

    assert response.status_code == 200, response.content  # verified: Stripe is answered at once
    assert outcome_of(response) == "failed"  # the worker cannot apply it...
    record = WebhookEvent.objects.get()
    assert (record.status, record.processed_at) == ("failed", None)  # ...and it stays, for the admin
    assert record.last_error.startswith("WebhookPayloadInvalid")
    assert not Subscription.objects.exists()


def test_without_a_webhook_secret_every_delivery_is_refused_and_nothing_processed(
    client, settings, stripe_sub
):
    payload = json.dumps(event("customer.subscription.created", stripe_sub)).encode()
    signature = sign(payload)
    settings.STRIPE_WEBHOOK_SECRET = ""

    response = deliver(client, payload, signature=signature)

    assert_error(response, 500, "BILLING_NOT_CONFIGURED")
    assert not Subscription.objects.exists()
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_refused(client, method):
    assert_error(client.generic(method, WEBHOOK_URL), 405, "METHOD_NOT_ALLOWED")


# --- failures ------------------------------------------------------------------------------


def test_a_failing_handler_leaves_nothing_applied_and_the_redelivery_applies(client, monkeypatch, stripe_sub):
    real = webhooks.HANDLERS["customer.subscription.created"]

    written = []

    def write_then_fail(evt, prepared):
        written.append(real.apply(evt, prepared))  # the state is written...
        raise RuntimeError("boom")  # ...and then the handler fails

    monkeypatch.setitem(
        webhooks.HANDLERS,
        "customer.subscription.created",
        webhooks.Handler(prepare=real.prepare, apply=write_then_fail),
    )
    evt = event("customer.subscription.created", stripe_sub, created=T0)

    response = deliver(client, evt)

    assert response.status_code == 200, response.content
    assert outcome_of(response) == "failed"
    assert written == [webhooks.Outcome.PROCESSED]  # it did write, inside the transaction
    assert not Subscription.objects.exists()
    record = WebhookEvent.objects.get()
    assert (record.status, record.processed_at, record.attempts) == ("failed", None, 1)
    assert record.last_error == "RuntimeError: boom"

    monkeypatch.setitem(webhooks.HANDLERS, "customer.subscription.created", real)
    response = deliver(client, evt)  # Stripe delivers the same event again

    assert response.json()["outcome"] == "queued"  # tried afresh, not taken for a duplicate
    assert outcome_of(response) == "processed"
    assert Subscription.objects.get().status == "active"
    assert WebhookEvent.objects.get().status == "processed"


def test_stripe_unreachable_while_settling_a_tie_keeps_the_event_to_retry(client, stripe_sub, stripe_standin):
    deliver_sub(client, "customer.subscription.updated", stripe_sub, T0, status="active")
    stripe_standin.add_fault("500", method="GET", path_prefix="/v1/subscriptions/")
    evt = event("customer.subscription.updated", {**stripe_sub, "status": "past_due"}, created=T0)

    response = deliver(client, evt)

    # Answered at once; the tests' queue cannot run a task later, so the retry is given up
    # here (a worker retries it with backoff: tests/reliability/test_task_queue.py).
    assert response.status_code == 200, response.content
    assert outcome_of(response) == "failed"
    assert Subscription.objects.get().status == "active"
    record = WebhookEvent.objects.get(stripe_event_id=evt["id"])
    assert (record.status, record.last_error) == ("failed", "BillingUnavailable: BILLING_UNAVAILABLE")

    stripe_standin.clear_faults()
    stripe_standin.update_subscription(stripe_sub["id"], status="past_due")
    assert_ok(deliver(client, evt), "processed")
    assert Subscription.objects.get().status == "past_due"


# --- invoices: the subscription they bill is refreshed from Stripe ------------------------


def _invoice(subscription_id: str | None) -> dict:
    parent = {"type": "subscription_details", "subscription_details": {"subscription": subscription_id}}
    return {"id": "in_test_1", "object": "invoice", "parent": parent if subscription_id else None}


@pytest.mark.parametrize("type", ["invoice.payment_failed", "invoice.paid"])
def test_an_invoice_event_refreshes_its_subscription_from_stripe(client, organization, stripe_standin, type):
    customer_id = give_customer(organization, stripe_standin)
    at_stripe = stripe_standin.create_subscription(customer=customer_id, status="active", created=T0)
    assert deliver(client, event("customer.subscription.created", at_stripe, created=T0)).status_code == 200
    stripe_standin.update_subscription(at_stripe["id"], status="past_due")  # what the event is about

    response = deliver(client, event(type, _invoice(at_stripe["id"])))

    assert_ok(response, "processed")
    assert Subscription.objects.get().status == "past_due"  # Stripe's state, fetched by id
    assert [r.path for r in stripe_standin.requests_to("GET", "/v1/subscriptions/")] == [
        f"/v1/subscriptions/{at_stripe['id']}"
    ]


def test_an_invoice_without_a_subscription_changes_nothing(client, stripe_standin):
    response = deliver(client, event("invoice.paid", _invoice(None)))

    assert_ok(response, "unchanged")
    assert stripe_standin.requests == []
