"""billing.selectors.subscription_current_get: which subscription is the current one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.models import Subscription
from billing.selectors import subscription_current_get
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def sub(organization, sub_id: str, status: str, days: int) -> Subscription:
    created = T0 + timedelta(days=days)
    return SubscriptionFactory.create(
        organization=organization, stripe_subscription_id=sub_id, status=status, stripe_created=created
    )


def test_none_without_subscriptions(organization):
    assert subscription_current_get(organization=organization) is None


def test_the_most_recently_created_not_ended_one(organization, make_organization):
    sub(organization, "sub_1", "active", 0)
    wanted = sub(organization, "sub_2", "past_due", 1)
    sub(organization, "sub_3", "canceled", 2)
    sub(organization, "sub_4", "incomplete_expired", 3)
    sub(make_organization(), "sub_other", "active", 4)

    assert subscription_current_get(organization=organization) == wanted


@pytest.mark.parametrize("status", ["incomplete", "trialing", "active", "past_due", "unpaid", "paused"])
def test_every_status_but_canceled_and_expired_counts_as_current(organization, status):
    sub(organization, "sub_ended_newer", "canceled", 5)
    wanted = sub(organization, "sub_1", status, 0)

    assert subscription_current_get(organization=organization) == wanted


def test_all_ended_gives_the_most_recent(organization):
    sub(organization, "sub_1", "canceled", 2)
    sub(organization, "sub_2", "incomplete_expired", 1)

    current = subscription_current_get(organization=organization)
    assert current is not None
    assert current.stripe_subscription_id == "sub_1"


def test_one_query(organization, django_assert_num_queries):
    sub(organization, "sub_1", "active", 0)
    with django_assert_num_queries(1):
        subscription_current_get(organization=organization)
