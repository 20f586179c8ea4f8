"""Buying while a subscription is live at Stripe but was never recorded here (its webhook
lost, or made in the Dashboard): Stripe is asked before a Checkout session or a free
subscription is started, the subscription is recorded, and the answer is as for a live one."""

from __future__ import annotations

import pytest
import stripe
from django.conf import settings

from billing.models import Subscription
from tests.assertions import assert_error
from tests.billing.plans_helpers import FREE_MONTHLY, PRO_MONTHLY, STARTER_MONTHLY, buy
from tests.billing.stripe_events import give_customer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _catalogue(stripe_standin):
    stripe_standin.seed_demo_catalogue()


def made_in_the_dashboard(stripe_standin, customer_id: str, price: str) -> str:
    """A subscription made through Stripe's API directly, bypassing the app (no webhook)."""
    stripe_standin.save_card(customer_id)
    client = stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses={"api": settings.STRIPE_API_BASE})
    made = client.v1.subscriptions.create({"customer": customer_id, "items": [{"price": price}]})
    assert made.status == "active"
    return made.id


def checkout_creates(stripe_standin) -> list:
    return stripe_standin.requests_to("POST", "/v1/checkout/sessions")


def test_the_same_period_is_409_and_the_subscription_is_recorded(owner, organization, stripe_standin):
    subscription_id = made_in_the_dashboard(
        stripe_standin, give_customer(organization, stripe_standin), STARTER_MONTHLY
    )
    assert not Subscription.objects.exists()

    assert_error(buy(owner, STARTER_MONTHLY), 409, "ALREADY_SUBSCRIBED")

    assert checkout_creates(stripe_standin) == []
    assert stripe_standin.checkout_sessions == []
    row = Subscription.objects.get()
    assert (row.stripe_subscription_id, row.status, row.price_id) == (
        subscription_id,
        "active",
        STARTER_MONTHLY,
    )
    assert len([s for s in stripe_standin.subscriptions if s["status"] == "active"]) == 1


def test_another_period_is_the_change_flow_not_a_second_subscription(owner, organization, stripe_standin):
    subscription_id = made_in_the_dashboard(
        stripe_standin, give_customer(organization, stripe_standin), STARTER_MONTHLY
    )

    response = buy(owner, PRO_MONTHLY)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["isSubscriptionChange"] is True and body["previousSubscription"]["id"] == subscription_id
    assert body["sessionId"].startswith("bps_")
    assert checkout_creates(stripe_standin) == []
    assert Subscription.objects.get().stripe_subscription_id == subscription_id


def test_a_free_period_creates_no_second_subscription(owner, organization, stripe_standin):
    made_in_the_dashboard(stripe_standin, give_customer(organization, stripe_standin), STARTER_MONTHLY)
    before = len(stripe_standin.requests)

    response = buy(owner, FREE_MONTHLY)

    assert response.status_code == 200, response.content
    assert response.json()["isSubscriptionChange"] is True
    creates = [
        r for r in stripe_standin.requests[before:] if (r.method, r.path) == ("POST", "/v1/subscriptions")
    ]
    assert creates == []
    assert len(stripe_standin.subscriptions) == 1


def test_a_customer_with_only_ended_subscriptions_gets_checkout(owner, organization, stripe_standin):
    customer_id = give_customer(organization, stripe_standin)
    stripe_standin.create_subscription(customer=customer_id, status="canceled")

    response = buy(owner, STARTER_MONTHLY)

    assert response.status_code == 200, response.content
    assert response.json()["sessionId"].startswith("cs_")
    assert len(stripe_standin.requests_to("GET", "/v1/subscriptions")) == 1  # asked once


def test_a_new_customer_is_not_asked(owner, stripe_standin):
    assert buy(owner, STARTER_MONTHLY).status_code == 200
    assert stripe_standin.requests_to("GET", "/v1/subscriptions") == []
