"""The ordering rule of subscription states (`_verdict`, `subscription_state_apply`): a newer
state applies, an older one is ignored, an ended subscription is never revived, and a tie is
settled by asking Stripe (when the caller allows it)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from billing import stripe_gateway
from billing.models import Subscription
from billing.services.subscriptions import (
    _Verdict,
    _verdict,
    subscription_event_state,
    subscription_state_apply,
    subscription_state_store,
)
from tests.billing.stripe_events import give_customer
from tests.factories import SubscriptionFactory

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER, EARLIER = T + timedelta(seconds=1), T - timedelta(seconds=1)


def row(status: str = "active") -> Subscription:
    return SubscriptionFactory.build(status=status, state_at=T)


@pytest.mark.parametrize(
    ("row_status", "incoming", "state_at", "on_tie", "expected"),
    [
        ("active", "past_due", LATER, _Verdict.REFETCH, _Verdict.APPLY),
        ("active", "past_due", EARLIER, _Verdict.APPLY, _Verdict.STALE),
        ("active", "past_due", T, _Verdict.REFETCH, _Verdict.REFETCH),
        ("active", "past_due", T, _Verdict.APPLY, _Verdict.APPLY),
        ("active", "canceled", T, _Verdict.REFETCH, _Verdict.APPLY),  # an ending wins a tie
        ("active", "canceled", EARLIER, _Verdict.APPLY, _Verdict.STALE),
        ("canceled", "active", LATER, _Verdict.APPLY, _Verdict.STALE),  # never revived
        ("incomplete_expired", "active", LATER, _Verdict.APPLY, _Verdict.STALE),
        ("canceled", "canceled", LATER, _Verdict.APPLY, _Verdict.APPLY),
    ],
)
def test_verdict(row_status, incoming, state_at, on_tie, expected):
    assert _verdict(row(row_status), status=incoming, state_at=state_at, on_tie=on_tie) is expected


@pytest.fixture
def stored(organization, stripe_standin):
    """A subscription Stripe has as `active`, stored as `active` at T."""
    customer_id = give_customer(organization, stripe_standin)
    at_stripe = stripe_standin.create_subscription(customer=customer_id, status="active", quantity=1)
    data = stripe_gateway.subscription_from_dict(at_stripe)
    SubscriptionFactory.create(
        organization=organization, stripe_subscription_id=data.id, status="active", state_at=T
    )
    return data


def apply(organization, data, state_at, *, refetch_on_tie=False, **changes) -> bool:
    """Apply as a webhook does (`refetch_on_tie`: the event's state settled first) or as a fetch."""
    data = replace(data, **changes)
    if refetch_on_tie:
        state = subscription_event_state(data=data, state_at=state_at)
        return subscription_state_store(organization=organization, state=state)
    return subscription_state_apply(organization=organization, data=data, state_at=state_at)


@pytest.mark.django_db
def test_a_newer_state_applies(organization, stored):
    assert apply(organization, stored, LATER, status="past_due", quantity=3) is True
    sub = Subscription.objects.get()
    assert (sub.status, sub.quantity, sub.state_at) == ("past_due", 3, LATER)


@pytest.mark.django_db
def test_an_older_state_is_ignored(organization, stored):
    assert apply(organization, stored, EARLIER, status="past_due") is False
    sub = Subscription.objects.get()
    assert (sub.status, sub.state_at) == ("active", T)


@pytest.mark.django_db
def test_an_ended_subscription_is_never_revived(organization, stored):
    assert apply(organization, stored, LATER, status="canceled") is True
    assert apply(organization, stored, LATER + timedelta(hours=1), status="active") is False
    assert Subscription.objects.get().status == "canceled"


@pytest.mark.django_db
def test_a_tie_is_settled_by_what_stripe_says_now(organization, stored, stripe_standin):
    assert apply(organization, stored, T, status="past_due", refetch_on_tie=True) is True
    assert Subscription.objects.get().status == "active"  # Stripe's, not the event's
    assert [r.path for r in stripe_standin.requests_to("GET", "/v1/subscriptions/")] == [
        f"/v1/subscriptions/{stored.id}"
    ]


@pytest.mark.django_db
def test_a_newer_event_is_applied_without_asking_stripe(organization, stored, stripe_standin):
    assert apply(organization, stored, LATER, status="past_due", refetch_on_tie=True) is True
    assert Subscription.objects.get().status == "past_due"
    assert stripe_standin.requests_to("GET", "/v1/subscriptions/") == []


@pytest.mark.django_db
def test_a_tie_without_refetch_applies_the_incoming_state(organization, stored, stripe_standin):
    assert apply(organization, stored, T, status="past_due") is True
    assert Subscription.objects.get().status == "past_due"
    assert stripe_standin.requests_to("GET", "/v1/subscriptions/") == []
