"""A newcomer's first hour, in a real browser, offline: from the home page to a paid plan, a
plan change whose price is shown first (the preview's amount is what the next invoice then
bills), a card update, a month moved on with the demo's test clock (the renewal invoice), a
cancellation that ends when the clock passes the period's end (the workspace refused, a new
plan offered), and subscribing again.

Each customer lives on a Stripe test clock; Stripe's webhooks reach the app as the stand-in's
signed deliveries. Screenshots of each page go to the artifacts folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from accounts.models import User
from billing.models import Subscription
from stripe_standin import StripeStandIn
from tests.browser.conftest import deliver_all, needs_chromium, screenshot
from tests.conftest import PASSWORD

pytestmark = needs_chromium


def test_a_newcomer_walks_from_the_home_page_through_every_state(
    page: Any,
    live_server: Any,
    owner: User,
    stripe_standin: StripeStandIn,
    artifacts: Path,
    checkout_returns_here: None,
    settings: Any,
) -> None:
    settings.STRIPE_TEST_CLOCKS = True
    stripe_standin.seed_demo_catalogue()
    site = live_server.url

    # The front door: what the product is, and a way in.
    page.goto(f"{site}/")
    assert page.inner_text("#page-title") == "Subscriptions for your whole team"
    assert page.request.get(f"{site}/favicon.ico").status == 200
    screenshot(page, artifacts, "first-hour-home-visitor")
    with page.expect_navigation():
        page.click("#home-login")
    page.fill("#id_username", owner.email)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("#login-submit")
    page.goto(f"{site}/")
    assert "Acme Inc" in page.inner_text("#organizations")
    assert "No subscription" in page.inner_text("#organizations")
    screenshot(page, artifacts, "first-hour-home-member")

    # A paid plan, through Checkout, which names the organization.
    with page.expect_navigation():
        page.click("#nav-billing")
    with page.expect_navigation(url=re.compile(re.escape(stripe_standin.url) + r"/c/pay/")):
        page.click('button.choose[data-price="price_demo_starter_monthly"]')
    assert page.inner_text("#checkout-customer") == "Acme Inc"
    screenshot(page, artifacts, "first-hour-checkout")
    with page.expect_navigation(url=re.compile(re.escape(site) + r"/billing/\?checkout=success")):
        page.click("#pay")
    deliver_all(stripe_standin, live_server)
    page.goto(f"{site}/billing/")
    assert page.inner_text("#plan-name") == "Starter"
    assert page.inner_text("#status") == "Active"
    screenshot(page, artifacts, "first-hour-billing-subscribed")

    # The picker: monthly/yearly without JavaScript, labels against the current plan.
    assert page.locator('.period[data-price="price_demo_pro_yearly"]').is_hidden()
    page.click('label[for="show-yearly"]')
    assert page.locator('.period[data-price="price_demo_pro_yearly"]').is_visible()
    assert page.inner_text('button.choose[data-price="price_demo_pro_yearly"]') == "Upgrade"
    screenshot(page, artifacts, "first-hour-picker-yearly")
    page.click('label[for="show-monthly"]')

    # A plan change shows its price first, from Stripe's preview.
    with page.expect_navigation(url=re.compile(re.escape(site) + r"/billing/change/\?price=")):
        page.click('button.choose[data-price="price_demo_pro_monthly"]')
    next_invoice = int(page.get_attribute("#next-invoice", "data-amount") or "0")
    assert next_invoice > 4900  # the month ahead plus the adjustment for the rest of this one
    assert page.locator("#prorations tr").count() == 3  # the header, a credit, a charge
    screenshot(page, artifacts, "first-hour-change-preview")
    with page.expect_navigation(url=re.compile(re.escape(stripe_standin.url) + r"/p/session/")):
        page.click("#confirm-change")
    screenshot(page, artifacts, "first-hour-portal-confirm-change")
    with page.expect_navigation(url=f"{site}/billing/?portal=plan"):
        page.click("#confirm")
    assert page.inner_text("#billing-notice").startswith("Your plan changed to Pro")
    assert page.inner_text("#plan-name") == "Pro"
    screenshot(page, artifacts, "first-hour-plan-changed")
    deliver_all(stripe_standin, live_server)

    # A card update, in the portal's own flow, and straight back.
    with page.expect_navigation(url=re.compile(re.escape(stripe_standin.url) + r"/p/session/")):
        page.click("#update-card")
    with page.expect_navigation(url=f"{site}/billing/?portal=card"):
        page.click("#confirm")
    assert page.inner_text("#billing-notice") == "Your payment method was updated."
    screenshot(page, artifacts, "first-hour-card-updated")

    # A month later: the renewal invoice bills what the preview said.
    with page.expect_navigation():
        page.click("#advance-time")
    assert "Your subscription renewed" in page.inner_text("#messages")
    deliver_all(stripe_standin, live_server)
    renewal = max(stripe_standin.invoices, key=lambda i: i["number"])
    assert renewal["billing_reason"] == "subscription_cycle"
    assert renewal["amount_paid"] == next_invoice
    page.reload()
    assert page.locator("#payments tbody tr").count() == 2
    screenshot(page, artifacts, "first-hour-renewed")

    # Cancel at the period's end; the plan picker says why it is closed meanwhile.
    page.click("#cancel-subscription summary")
    with page.expect_navigation():
        page.click("#confirm-cancel")
    assert page.inner_text("#period").startswith("Cancels on ")
    assert page.locator("#plans-blocked").is_visible()
    screenshot(page, artifacts, "first-hour-cancel-set")

    # The clock passes the period's end: the subscription ends, access goes.
    with page.expect_navigation():
        page.click("#advance-time")
    assert "Your subscription has ended." in page.inner_text("#messages")
    deliver_all(stripe_standin, live_server)
    assert Subscription.objects.get().status == "canceled"
    with page.expect_navigation(url=re.compile(re.escape(site) + r"/billing/")):
        page.goto(f"{site}/workspace/")
    assert page.inner_text("#plans-title") == "Choose a plan"
    screenshot(page, artifacts, "first-hour-ended-workspace-refused")

    # And back: a new subscription through Checkout.
    with page.expect_navigation(url=re.compile(re.escape(stripe_standin.url) + r"/c/pay/")):
        page.click('button.choose[data-price="price_demo_starter_monthly"]')
    with page.expect_navigation(url=re.compile(re.escape(site) + r"/billing/\?checkout=success")):
        page.click("#pay")
    deliver_all(stripe_standin, live_server)
    page.goto(f"{site}/workspace/")
    assert page.url == f"{site}/workspace/"
    screenshot(page, artifacts, "first-hour-subscribed-again-workspace")
    page.goto(f"{site}/")
    assert "Starter" in page.inner_text("#organizations") and "Active" in page.inner_text("#organizations")
    screenshot(page, artifacts, "first-hour-home-member-again")
