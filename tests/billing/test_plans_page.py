"""The billing page's plans, Choose buttons, checkout in progress and the way back from
Checkout, through Django's test client (the same services as the API)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from billing.models import CheckoutSession, Subscription
from tests.billing.plans_helpers import FREE_MONTHLY, PRO_MONTHLY, STARTER_MONTHLY, STARTER_YEARLY, buy
from tests.billing.test_views import html, text

PAGE = "/billing/"


@pytest.fixture(autouse=True)
def _catalogue(stripe_standin):
    stripe_standin.seed_demo_catalogue()


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def choose_buttons(body: str) -> list[str]:
    return re.findall(r'<button[^>]*class="button primary choose" data-price="([^"]+)"', body)


@pytest.mark.django_db
def test_owner_sees_plans_with_prices_capabilities_and_a_button_per_period(owner):
    body = html(logged_in(owner).get(PAGE))
    page = text(body)
    assert "Choose a plan" in page
    for sentence in ("Starter", "$19.00 / month", "$190.00 / year", "$490.00 / year", "$0.00 / month"):
        assert sentence in page, page
    assert "5 TB of storage" in page and "Extended support" in page
    assert choose_buttons(body) == [
        FREE_MONTHLY,
        STARTER_MONTHLY,
        STARTER_YEARLY,
        "price_demo_pro_monthly",
        "price_demo_pro_yearly",
    ]


@pytest.mark.django_db
def test_member_sees_plans_without_buttons_and_who_can_choose(member):
    body = html(logged_in(member).get(PAGE))
    assert "Starter" in text(body)
    assert choose_buttons(body) == []
    assert "Only your organization's owner, admins and billing managers can choose a plan." in text(body)


@pytest.mark.django_db
def test_choose_a_paid_period_is_303_to_checkout(owner, stripe_standin):
    response = logged_in(owner).post("/billing/buy/", {"price": STARTER_MONTHLY})
    assert response.status_code == 303
    row = CheckoutSession.objects.get()
    assert response["Location"] == f"{stripe_standin.url}/c/pay/{row.stripe_session_id}"


@pytest.mark.django_db
def test_choose_the_free_plan_comes_back_with_a_message(owner):
    client = logged_in(owner)
    response = client.post("/billing/buy/", {"price": FREE_MONTHLY})
    assert (response.status_code, response["Location"]) == (303, "/billing/")
    page = text(html(client.get(PAGE)))
    assert "Your free plan has started" in page
    assert "Free" in page and "Change plan" in page and "Current plan" in page


@pytest.mark.django_db
def test_choose_errors_are_page_messages(owner, stripe_standin):
    response = logged_in(owner).post("/billing/buy/", {"price": "price_gone"})
    assert response.status_code == 404
    assert "That plan is no longer on offer" in text(html(response))
    response = logged_in(owner).post("/billing/buy/", {})
    assert response.status_code == 400
    assert logged_in(owner).get("/billing/buy/").status_code == 405


@pytest.mark.django_db
def test_checkout_in_progress_with_continue_and_cancel(owner, stripe_standin):
    url = buy(owner, STARTER_YEARLY).json()["checkoutUrl"]
    client = logged_in(owner)
    body = html(client.get(PAGE))
    assert "Checkout in progress" in text(body)
    assert f'href="{url}"' in body and 'id="pending-cancel"' in body
    response = client.post("/billing/pending-payment/cancel/")
    assert (response.status_code, response["Location"]) == (303, "/billing/")
    assert CheckoutSession.objects.get().status == "expired"
    page = text(html(client.get(PAGE)))
    assert "Checkout in progress" not in page and "nothing was charged" in page


@pytest.mark.django_db
def test_back_from_checkout_records_the_subscription_and_names_the_plan(owner, stripe_standin):
    session_id = buy(owner, STARTER_MONTHLY).json()["sessionId"]
    stripe_standin.complete_checkout_session(session_id)
    response = logged_in(owner).get(PAGE, {"checkout": "success", "session_id": session_id})
    page = text(html(response))
    assert response.status_code == 200
    assert Subscription.objects.get().status == "active"  # before any webhook
    assert "Thank you!" in page
    assert "Starter · $19.00 / month" in page
    assert "prod_demo_starter" not in page


@pytest.mark.django_db
def test_back_from_checkout_canceled_says_nothing_was_charged(owner):
    page = text(html(logged_in(owner).get(PAGE, {"checkout": "canceled"})))
    assert "Checkout canceled: nothing was charged" in page


@pytest.mark.django_db
def test_subscribed_can_choose_another_period_through_the_portal(owner, stripe_standin):
    session_id = buy(owner, STARTER_MONTHLY).json()["sessionId"]
    stripe_standin.complete_checkout_session(session_id)
    client = logged_in(owner)
    client.get(PAGE, {"checkout": "success", "session_id": session_id})
    body = html(client.get(PAGE))
    assert STARTER_MONTHLY not in choose_buttons(body) and PRO_MONTHLY in choose_buttons(body)
    response = client.post("/billing/buy/", {"price": PRO_MONTHLY})
    assert response.status_code == 303
    assert response["Location"].startswith(f"{stripe_standin.url}/p/session/")


@pytest.mark.django_db
def test_plans_unavailable_still_renders_the_page(owner, stripe_standin):
    stripe_standin.add_fault("500")
    response = logged_in(owner).get(PAGE)
    assert response.status_code == 200
    assert "The plans can't be shown right now" in text(html(response))
