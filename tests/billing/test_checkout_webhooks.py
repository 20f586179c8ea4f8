"""Webhooks of the buying flow: checkout.session.completed/expired, product.* and price.*;
and the sync command settling open Checkout sessions."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from billing.models import CheckoutSession, Subscription
from billing.services import plans as plan_catalogue
from tests.billing.plans_helpers import STARTER_MONTHLY, buy
from tests.billing.stripe_events import deliver, outcome_of


@pytest.fixture(autouse=True)
def _catalogue(stripe_standin):
    stripe_standin.seed_demo_catalogue()


def last_event(stripe_standin, type: str) -> dict:
    return stripe_standin.events(type)[-1]


@pytest.mark.django_db
def test_completed_records_the_subscription_and_ends_the_pending_payment(owner, organization, stripe_standin):
    session_id = buy(owner, STARTER_MONTHLY).json()["sessionId"]
    stripe_standin.complete_checkout_session(session_id)
    response = deliver(Client(), last_event(stripe_standin, "checkout.session.completed"))
    assert response.status_code == 200, response.content
    assert outcome_of(response) == "processed"
    (sub,) = stripe_standin.subscriptions
    row = Subscription.objects.get()
    assert (row.organization, row.stripe_subscription_id, row.status) == (organization, sub["id"], "active")
    assert stripe_standin.requests_to("GET", f"/v1/subscriptions/{sub['id']}")  # fetched in prepare
    session = CheckoutSession.objects.get()
    assert (session.status, session.stripe_subscription_id) == ("complete", sub["id"])


@pytest.mark.django_db
def test_completed_for_a_session_we_do_not_know(stripe_standin):
    customer = stripe_standin.create_customer(name="Stranger")
    stripe_standin.save_card(customer["id"])
    event = {
        "id": "evt_stranger",
        "object": "event",
        "created": 1796000000,
        "type": "checkout.session.completed",
        "data": {"object": {"id": "cs_test_unknown", "customer": customer["id"], "subscription": "sub_x"}},
    }
    response = deliver(Client(), event)
    assert outcome_of(response) == "unknown_customer"
    assert Subscription.objects.count() == 0


@pytest.mark.django_db
def test_expired_ends_the_pending_payment(owner, stripe_standin):
    session_id = buy(owner, STARTER_MONTHLY).json()["sessionId"]
    stripe_standin.expire_checkout_session(session_id)
    response = deliver(Client(), last_event(stripe_standin, "checkout.session.expired"))
    assert outcome_of(response) == "processed"
    assert CheckoutSession.objects.get().status == "expired"


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["product", "price"])
def test_catalogue_events_drop_the_plan_cache(stripe_standin, kind):
    plan_catalogue.plans_list()
    assert plan_catalogue.plans_cached() is not None
    if kind == "product":
        stripe_standin.update_product("prod_demo_pro", name="Pro Max")
    else:
        stripe_standin.update_price("price_demo_pro_yearly", active=False)
    response = deliver(Client(), last_event(stripe_standin, f"{kind}.updated"))
    assert outcome_of(response) == "processed"
    data = Client().get("/subscriptions").json()["data"]
    pro = next(plan for plan in data if plan["id"] == "prod_demo_pro")
    if kind == "product":
        assert pro["name"] == "Pro Max"
    else:
        assert [p["periodType"] for p in pro["periods"]] == ["MONTHLY"]


@pytest.mark.django_db
def test_sync_settles_open_checkout_sessions(owner, stripe_standin, make_user):
    paid = buy(owner, STARTER_MONTHLY).json()["sessionId"]
    stripe_standin.complete_checkout_session(paid)
    other = make_user(role="owner")
    lapsed = buy(other, STARTER_MONTHLY).json()["sessionId"]
    stripe_standin.expire_checkout_session(lapsed)
    call_command("sync_subscriptions")
    states = dict(CheckoutSession.objects.values_list("stripe_session_id", "status"))
    assert states == {paid: "complete", lapsed: "expired"}
    assert Subscription.objects.get().price_id == STARTER_MONTHLY
