"""subscriptions_fetched_apply: a listed page stored at once, under the one-row rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from billing import stripe_gateway
from billing.models import Subscription
from billing.services.subscriptions import subscriptions_fetched_apply
from tests.factories import OrganizationFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def listed(stripe_standin, customer: str, **fields) -> stripe_gateway.StripeSubscription:
    return stripe_gateway.subscription_from_dict(
        stripe_standin.create_subscription(customer=customer, **fields)
    )


def test_a_page_creates_updates_and_keeps_as_the_rules_say(stripe_standin):
    a, b, c, gone = (OrganizationFactory.create(stripe_customer_id=f"cus_page_{n}") for n in "abcd")
    for org in (a, b, c, gone):
        stripe_standin.create_customer(id=org.stripe_customer_id, name=org.name)
    started = timezone.now()
    new = listed(stripe_standin, "cus_page_a", status="active")
    older = listed(stripe_standin, "cus_page_b", status="active", quantity=3)
    ended = listed(stripe_standin, "cus_page_c", status="active")
    orphan = listed(stripe_standin, "cus_page_d", status="active")
    long_ago = started - timedelta(days=1)
    SubscriptionFactory.create(
        organization=b,
        stripe_subscription_id=older.id,
        status="past_due",
        quantity=1,
        state_at=long_ago,
        synced_at=long_ago,
    )
    SubscriptionFactory.create(
        organization=c,
        stripe_subscription_id=ended.id,
        status="canceled",
        state_at=long_ago,
        synced_at=long_ago,
    )
    gone.stripe_customer_id = None  # the customer was deleted here since it was listed
    gone.save()
    gone.stripe_customer_id = "cus_page_d"  # ... while the run still holds the old object

    written = subscriptions_fetched_apply(
        reads=[(a, new), (b, older), (c, ended), (gone, orphan)], started=started
    )

    assert written == 2
    rows = {r.stripe_subscription_id: r for r in Subscription.objects.all()}
    assert set(rows) == {new.id, older.id, ended.id}
    assert (rows[new.id].organization_id, rows[new.id].status) == (a.pk, "active")
    assert (rows[older.id].status, rows[older.id].quantity) == ("active", 3)
    assert rows[ended.id].status == "canceled"  # an ended subscription never comes back
    assert stripe_standin.requests_to("GET", f"/v1/subscriptions/{older.id}") == []


def test_a_row_written_while_the_page_was_in_flight_is_asked_for_again(stripe_standin):
    org = OrganizationFactory.create(stripe_customer_id="cus_page_race")
    stripe_standin.create_customer(id="cus_page_race", name=org.name)
    started = timezone.now() - timedelta(seconds=10)  # the page left 10 s ago
    data = listed(stripe_standin, "cus_page_race", status="active")
    # While it was in flight a webhook stored state: which of the two is newer cannot be told.
    SubscriptionFactory.create(
        organization=org,
        stripe_subscription_id=data.id,
        status="past_due",
        state_at=started + timedelta(seconds=2),
        synced_at=started + timedelta(seconds=1),
    )
    stripe_standin.update_subscription(data.id, status="unpaid")

    written = subscriptions_fetched_apply(reads=[(org, data)], started=started)

    assert written == 1
    assert len(stripe_standin.requests_to("GET", f"/v1/subscriptions/{data.id}")) == 1
    assert Subscription.objects.get().status == "unpaid"  # Stripe's answer, not the page's
