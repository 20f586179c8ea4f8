"""A plan change on the page: Stripe's preview of what it costs first (the amounts equal what
the change then bills), the plan picker's labels and its refusal while past due or set to
cancel, what the page says on return from each portal flow, and the demo's "advance time".

Driven as a person would: the page's buttons, the stand-in's Checkout and portal pages over
real HTTP, and each customer on a Stripe test clock (time stands still until advanced, so a
preview and the change made after it are prorated at the same moment).
"""

from __future__ import annotations

import re
import urllib.parse
import urllib.request
from typing import Any

import pytest
from django.test import Client

from billing.models import Subscription
from stripe_standin import StripeStandIn
from tests.billing.test_views import html, text

pytestmark = pytest.mark.django_db

PAGE = "/billing/"


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def stand_in_form(url: str, **fields: str) -> str:
    """Press a button of one of the stand-in's hosted pages (a form post); where it leads."""
    data = urllib.parse.urlencode(fields).encode()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, data=data, method="POST"), timeout=10) as answer:
            return str(answer.geturl())
    except urllib.error.HTTPError as e:  # the 303 back to the app
        assert e.code == 303, e.read()
        return str(e.headers["Location"])


@pytest.fixture
def clocks(settings: Any) -> None:
    settings.STRIPE_TEST_CLOCKS = True


@pytest.fixture
def starter(owner: Any, stripe_standin: StripeStandIn, clocks: None) -> Client:
    """The owner's organization on Starter monthly, paid through Checkout; the owner's browser."""
    stripe_standin.seed_demo_catalogue()
    browser = logged_in(owner)
    response = browser.post("/billing/buy/", {"price": "price_demo_starter_monthly"})
    assert response.status_code == 303, response.content
    (session,) = stripe_standin.checkout_sessions
    stripe_standin.complete_checkout_session(session["id"])
    assert browser.get(f"{PAGE}?checkout=success&session_id={session['id']}").status_code == 200
    assert Subscription.objects.get().status == "active"
    return browser


def _advance(browser: Client) -> str:
    response = browser.post("/billing/demo/advance/")
    assert response.status_code == 303, response.content
    return text(html(browser.get(PAGE)))


def _change_at_the_portal(browser: Client, price: str) -> str:
    """Confirm the change on the stand-in's portal page; the page the portal sends back to."""
    response = browser.post("/billing/buy/", {"price": price})
    assert response.status_code == 303, response.content
    back = stand_in_form(response["Location"], action="confirm_flow")
    assert back.endswith("/billing/?portal=plan"), back
    return text(html(browser.get(PAGE + "?portal=plan")))


def test_each_customer_lives_on_a_test_clock(starter: Client, stripe_standin: StripeStandIn):
    (customer,) = stripe_standin.customers
    assert customer["test_clock"] and customer["test_clock"].startswith("clock_")


def test_an_upgrade_shows_its_price_and_the_next_invoice_bills_exactly_that(
    starter: Client, stripe_standin: StripeStandIn
):
    body = html(starter.get("/billing/change/?price=price_demo_pro_monthly"))
    next_amount = int(re.search(r'id="next-invoice" data-amount="(-?\d+)"', body).group(1))  # type: ignore[union-attr]
    page = text(body)
    assert "Starter → Pro" in page and "Charged today $0.00" in page
    assert (
        "Unused time on 1 \N{MULTIPLICATION SIGN} Starter monthly" in page
        and "Remaining time on 1 \N{MULTIPLICATION SIGN} Pro monthly" in page
    )
    # Checkout's clock has not moved: the whole month is unused, so the credit and the charge
    # are whole months, and the next invoice adds the month after.
    assert next_amount == -1900 + 4900 + 4900
    assert "Then $49.00 / month" in page
    preview_calls = stripe_standin.requests_to("POST", "/v1/invoices/create_preview")
    assert preview_calls[-1].params["subscription_details"]["proration_behavior"] == "create_prorations"

    after = _change_at_the_portal(starter, "price_demo_pro_monthly")
    assert "Your plan changed to Pro ($49.00 / month)." in after

    after_month = _advance(starter)
    assert "Your subscription renewed" in after_month
    renewal = max(stripe_standin.invoices, key=lambda i: (i["created"], i["number"]))
    assert renewal["billing_reason"] == "subscription_cycle"
    assert renewal["amount_due"] == next_amount


def test_a_change_to_yearly_is_charged_at_once_as_previewed(starter: Client, stripe_standin: StripeStandIn):
    body = html(starter.get("/billing/change/?price=price_demo_starter_yearly"))
    due = int(re.search(r'id="due-now" data-amount="(\d+)"', body).group(1))  # type: ignore[union-attr]
    assert 'data-new-cycle="true"' in body
    assert due == 19000 - 1900

    _change_at_the_portal(starter, "price_demo_starter_yearly")
    newest = max(stripe_standin.invoices, key=lambda i: i["number"])
    assert newest["billing_reason"] == "subscription_update" and newest["amount_paid"] == due
    row = Subscription.objects.get()
    assert row.price_id == "price_demo_starter_yearly"
    assert row.current_period_start is not None and row.current_period_end is not None
    assert (row.current_period_end - row.current_period_start).days == 365  # a new yearly cycle


def test_the_picker_labels_upgrade_downgrade_and_the_yearly_saving(starter: Client):
    body = html(starter.get(PAGE))
    buttons = dict(re.findall(r'class="button primary choose" data-price="(\w+)"[^>]*>([^<]+)<', body))
    assert buttons == {
        "price_demo_free_monthly": "Downgrade",
        "price_demo_starter_yearly": "Switch to yearly",
        "price_demo_pro_monthly": "Upgrade",
        "price_demo_pro_yearly": "Upgrade",
    }
    assert 'data-price="price_demo_starter_monthly" data-interval="month"' in body
    assert "Current plan" in text(body)
    assert "Save $38.00 a year (17%)" in text(body)  # twelve months at $19 against $190
    assert 'id="yearly-saving">save up to 17%<' in body
    assert "<script" not in body  # the switch works without JavaScript


def test_choices_are_disabled_with_a_reason_while_set_to_cancel(starter: Client):
    starter.post("/billing/cancel/")
    body = html(starter.get(PAGE))
    assert 'id="plans-blocked"' in body and "Choose “Keep my subscription” first" in text(body)
    assert body.count('disabled aria-describedby="plans-blocked"') == 4  # every plan but the current one
    refused = starter.get("/billing/change/?price=price_demo_pro_monthly")
    assert refused.status_code == 409
    assert "can't change while a payment is due or the subscription is set to end" in text(html(refused))


def test_past_due_disables_choices_and_says_no_renewal_date(starter: Client, stripe_standin: StripeStandIn):
    stripe_standin.simulate_renewal(Subscription.objects.get().stripe_subscription_id, succeed=False)
    Subscription.objects.update(status="past_due")  # as the webhook of that failure leaves it
    page = text(html(starter.get(PAGE)))
    assert "Renews on" not in page
    assert "A payment is due. Update your payment method first" in page


def test_return_from_the_card_flow_says_the_card_was_updated_and_the_invoice_paid(
    starter: Client, stripe_standin: StripeStandIn
):
    subscription_id = Subscription.objects.get().stripe_subscription_id
    stripe_standin.simulate_renewal(subscription_id, succeed=False)
    Subscription.objects.update(status="past_due")  # as the webhook of that failure leaves it
    response = starter.post("/billing/payment-method/")
    assert response.status_code == 303
    back = stand_in_form(response["Location"], action="confirm_flow")
    assert back.endswith("/billing/?portal=card"), back
    page = text(html(starter.get(PAGE + "?portal=card")))
    assert (
        "Your payment method was updated. Your invoice was paid: your subscription is active again." in page
    )


def test_return_from_the_portal_says_a_cancellation_was_set_then_withdrawn(starter: Client):
    response = starter.post("/billing/portal/")
    portal = response["Location"]
    stand_in_form(portal, action="cancel", subscription=Subscription.objects.get().stripe_subscription_id)
    page = text(html(starter.get(PAGE)))
    assert re.search(r"Your subscription will end on \w+ \d+, \d{4}\. Until then nothing changes\.", page), (
        page
    )

    portal = starter.post("/billing/portal/")["Location"]
    stand_in_form(portal, action="resume", subscription=Subscription.objects.get().stripe_subscription_id)
    page = text(html(starter.get(PAGE)))
    assert "Your cancellation was withdrawn: your subscription renews on" in page
    assert "withdrawn" not in text(html(starter.get(PAGE)))  # said once


def test_advancing_time_ends_a_subscription_set_to_cancel_and_access_goes(starter: Client, owner: Any):
    starter.post("/billing/cancel/")
    page = _advance(starter)
    assert "Your subscription has ended." in page
    assert Subscription.objects.get().status == "canceled"
    assert 'id="plans-title">Choose a plan<' in html(starter.get(PAGE))
    workspace = starter.get("/workspace/")
    assert workspace.status_code == 302 and workspace["Location"].startswith(PAGE)


def test_a_declining_card_fails_the_renewal(starter: Client, stripe_standin: StripeStandIn):
    (customer,) = stripe_standin.customers
    stripe_standin.save_card(customer["id"], declines=True)
    page = _advance(starter)
    assert "The renewal payment failed" in page
    assert Subscription.objects.get().status == "past_due"


def test_advance_time_is_offered_only_in_the_demo_with_clocks(starter: Client, settings: Any):
    assert 'id="advance-time"' in html(starter.get(PAGE))
    settings.STRIPE_TEST_CLOCKS = False
    assert 'id="advance-time"' not in html(starter.get(PAGE))
    assert starter.post("/billing/demo/advance/").status_code == 404


def test_a_member_cannot_advance_time(starter: Client, member: Any):
    response = logged_in(member).post("/billing/demo/advance/")
    assert response.status_code == 403


def test_a_flagged_address_alone_says_nothing(starter: Client):
    page = text(html(starter.get(PAGE + "?portal=plan")))  # a bookmark, not a return from Stripe
    assert "Your plan was not changed." not in page and "Your plan changed" not in page


def test_leaving_the_plan_change_in_the_portal_changes_nothing(starter: Client):
    response = starter.post("/billing/buy/", {"price": "price_demo_pro_monthly"})
    back = stand_in_form(response["Location"], action="leave_flow")
    assert back.endswith("/billing/"), back  # the session's return URL: no flow completed
    page = text(html(starter.get(PAGE)))
    assert (
        "Your plan changed" not in page
        and Subscription.objects.get().price_id == "price_demo_starter_monthly"
    )
