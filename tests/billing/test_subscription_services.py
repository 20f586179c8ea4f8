"""subscription_refresh_after_portal: once after a portal visit, never failing the page."""

from __future__ import annotations

import pytest

from billing.models import PortalSession, Subscription
from billing.services.sync import subscription_refresh_after_portal
from tests.billing.stripe_events import give_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer_id(organization, stripe_standin) -> str:
    return give_customer(organization, stripe_standin)


def portal_visit(organization, user) -> PortalSession:
    return PortalSession.objects.create(
        organization=organization,
        user=user,
        stripe_session_id="bps_test",
        stripe_customer_id=organization.stripe_customer_id or "cus_since_deleted",
        source=PortalSession.Source.WEB,
    )


def lists(stripe_standin) -> int:
    return len(stripe_standin.requests_to("GET", "/v1/subscriptions"))


def test_nothing_is_fetched_without_a_portal_visit(organization, customer_id, stripe_standin):
    subscription_refresh_after_portal(organization=organization)

    assert stripe_standin.requests == []


def test_fetched_once_after_a_portal_visit(organization, owner, customer_id, stripe_standin):
    sub = stripe_standin.create_subscription(customer=customer_id, status="active", quantity=4)
    visit = portal_visit(organization, owner)

    subscription_refresh_after_portal(organization=organization)

    assert lists(stripe_standin) == 1
    assert stripe_standin.requests_to("GET", "/v1/customers") == []  # one call only
    row = Subscription.objects.get()
    assert (row.stripe_subscription_id, row.status, row.quantity) == (sub["id"], "active", 4)
    visit.refresh_from_db()
    assert visit.subscriptions_synced_at is not None

    subscription_refresh_after_portal(organization=organization)
    subscription_refresh_after_portal(organization=organization)

    assert lists(stripe_standin) == 1


def test_a_new_portal_visit_fetches_again(organization, owner, customer_id, stripe_standin):
    sub = stripe_standin.create_subscription(customer=customer_id, status="active")
    portal_visit(organization, owner)
    subscription_refresh_after_portal(organization=organization)
    stripe_standin.update_subscription(sub["id"], cancel_at_period_end=True)  # done in the portal
    portal_visit(organization, owner)

    subscription_refresh_after_portal(organization=organization)

    assert lists(stripe_standin) == 2
    assert Subscription.objects.get().cancel_at_period_end is True


def test_a_stripe_failure_is_swallowed_and_retried_on_the_next_view(
    organization, owner, customer_id, stripe_standin, caplog
):
    stripe_standin.create_subscription(customer=customer_id, status="active")
    visit = portal_visit(organization, owner)
    stripe_standin.add_fault("500", method="GET", path_prefix="/v1/subscriptions")

    subscription_refresh_after_portal(organization=organization)  # does not raise

    assert "billing.subscription_refresh_failed" in caplog.messages
    assert not Subscription.objects.exists()
    visit.refresh_from_db()
    assert visit.subscriptions_synced_at is None

    stripe_standin.clear_faults()
    subscription_refresh_after_portal(organization=organization)

    assert Subscription.objects.count() == 1


def test_the_refresh_makes_one_short_try_while_stripe_is_down(
    organization, owner, customer_id, stripe_standin, settings
):
    """A page view must not wait through the full timeout and every retry of the API calls."""
    settings.STRIPE_MAX_NETWORK_RETRIES = 3
    portal_visit(organization, owner)
    stripe_standin.add_fault("500", method="GET", path_prefix="/v1/subscriptions")

    subscription_refresh_after_portal(organization=organization)

    assert lists(stripe_standin) == 1  # no retries on the page's side call


def test_no_customer_no_fetch(organization, owner, stripe_standin):
    portal_visit(organization, owner)

    subscription_refresh_after_portal(organization=organization)

    assert stripe_standin.requests == []


def test_one_query_when_nothing_is_due(organization, customer_id, django_assert_num_queries):
    with django_assert_num_queries(1):
        subscription_refresh_after_portal(organization=organization)
