"""A read from Stripe and a webhook, in either order: what is stored is what Stripe gave last.

Checkout makes the subscription `incomplete`, then pays its first invoice (`active`), and the
`customer.subscription.created` event (incomplete) reaches the app around the moment the
return page reads the session from Stripe. The event's `created` is Stripe's clock, the read's
time only ours, so the order must not hang on comparing the two."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from billing import stripe_gateway
from billing.models import Subscription
from billing.services.subscriptions import subscription_fetched_apply
from tests.billing.plans_helpers import STARTER_MONTHLY, bearer, buy
from tests.billing.stripe_events import deliver, event

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _catalogue(stripe_standin):
    stripe_standin.seed_demo_catalogue()


@pytest.fixture
def paid(owner, stripe_standin) -> tuple[str, dict]:
    """A Checkout session paid at Stripe (its subscription active there), nothing delivered yet."""
    session_id = buy(owner, STARTER_MONTHLY).json()["sessionId"]
    stripe_standin.complete_checkout_session(session_id)
    (subscription,) = stripe_standin.subscriptions
    assert subscription["status"] == "active"
    return session_id, subscription


def created_event(subscription: dict, *, status: str, at: int | None = None) -> dict:
    """Stripe's `customer.subscription.created` as it was sent: the state before payment."""
    return event("customer.subscription.created", {**subscription, "status": status}, created=at)


def my_status(user) -> str:
    response = bearer(user).get("/subscriptions/my")
    assert response.status_code == 200, response.content
    return str(response.json()["data"]["status"])


def subscription_reads(stripe_standin, subscription_id: str) -> int:
    return len(stripe_standin.requests_to("GET", f"/v1/subscriptions/{subscription_id}"))


def test_the_webhook_first_then_the_return_pages_read_wins(owner, paid, stripe_standin):
    session_id, subscription = paid
    # Stripe's clock a moment ahead of the read's margin: the event's time is later than the
    # state time a read is given, yet it happened before the read.
    response = deliver(Client(), created_event(subscription, status="incomplete", at=int(time.time()) + 1))
    assert response.status_code == 200, response.content
    assert my_status(owner) == "incomplete"

    status = bearer(owner).get(f"/subscriptions/checkout-session/{session_id}")

    assert status.status_code == 200, status.content
    assert my_status(owner) == "active"
    assert Subscription.objects.get().status == "active"


def test_the_read_first_then_the_older_webhook_does_not_roll_it_back(owner, paid, stripe_standin):
    session_id, subscription = paid
    assert bearer(owner).get(f"/subscriptions/checkout-session/{session_id}").status_code == 200
    assert my_status(owner) == "active"
    reads = subscription_reads(stripe_standin, subscription["id"])

    response = deliver(Client(), created_event(subscription, status="incomplete", at=int(time.time())))

    assert response.status_code == 200, response.content
    assert my_status(owner) == "active"
    # Made around the time of the read: its order was unknown, so Stripe was asked.
    assert subscription_reads(stripe_standin, subscription["id"]) == reads + 1


def test_an_event_clearly_after_the_read_applies_without_asking_stripe(owner, paid, stripe_standin):
    session_id, subscription = paid
    assert bearer(owner).get(f"/subscriptions/checkout-session/{session_id}").status_code == 200
    reads = subscription_reads(stripe_standin, subscription["id"])

    later = int(time.time()) + 60
    response = deliver(
        Client(),
        event("customer.subscription.updated", {**subscription, "status": "past_due"}, created=later),
    )

    assert response.status_code == 200, response.content
    assert my_status(owner) == "past_due"
    assert subscription_reads(stripe_standin, subscription["id"]) == reads


def test_a_webhook_stored_while_a_read_was_in_flight_is_settled_by_asking_stripe(
    owner, organization, paid, stripe_standin
):
    _, subscription = paid
    read_started = timezone.now() - timedelta(milliseconds=300)
    data = stripe_gateway.subscription_from_dict(subscription)  # what that read came back with
    # The webhook landed after the read left and before it came back.
    deliver(Client(), created_event(subscription, status="incomplete", at=int(time.time()) + 1))
    assert Subscription.objects.get().status == "incomplete"
    reads = subscription_reads(stripe_standin, subscription["id"])

    assert subscription_fetched_apply(organization=organization, data=data, started=read_started) is True

    assert Subscription.objects.get().status == "active"
    assert subscription_reads(stripe_standin, subscription["id"]) == reads + 1


def test_a_read_stored_after_the_events_order_was_settled_is_settled_again(
    owner, paid, stripe_standin, monkeypatch
):
    """The event's order is settled before its transaction (no row yet: its own state), then the
    return page stores its read (active) before the event's transaction starts: the event must
    not overwrite the read with its older state on the strength of the first settling."""
    from billing import webhooks

    _session_id, subscription = paid
    settle = webhooks._subscription_state
    reads_stored: list[bool] = []

    def page_reads_in_between(evt: stripe_gateway.StripeEvent):
        state = settle(evt)
        if not reads_stored:  # the first settling only
            data = stripe_gateway.subscription_retrieve(subscription_id=subscription["id"])
            reads_stored.append(
                subscription_fetched_apply(
                    organization=owner.memberships.get().organization, data=data, started=timezone.now()
                )
            )
        return state

    monkeypatch.setattr(webhooks, "_subscription_state", page_reads_in_between)
    before = subscription_reads(stripe_standin, subscription["id"])

    response = deliver(Client(), created_event(subscription, status="incomplete", at=int(time.time())))

    assert response.status_code == 200
    assert reads_stored == [True]
    assert my_status(owner) == "active"
    # The read (the page's) and the settling again (the event's, against that read) asked Stripe.
    assert subscription_reads(stripe_standin, subscription["id"]) == before + 2
