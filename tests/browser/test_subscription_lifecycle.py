"""A subscription's whole life in a real browser, offline: subscribe, see the plan by name,
cancel (the end date shows), resume, a renewal that fails at the stand-in (the banner shows),
the banner's one button to update the card in the portal, and the banner gone once the invoice
is paid. Each change Stripe makes reaches the app as the stand-in's signed webhook deliveries."""

from __future__ import annotations

import re
from typing import Any

from accounts.models import User
from billing.models import Subscription
from stripe_standin import StripeStandIn
from tests.browser.conftest import deliver_all, needs_chromium
from tests.browser.test_billing_page import log_in

pytestmark = needs_chromium


def test_subscribe_cancel_resume_fail_a_renewal_and_fix_the_card(
    page: Any,
    live_server: Any,
    owner: User,
    stripe_standin: StripeStandIn,
    artifacts: Any,
    checkout_returns_here: None,
) -> None:
    stripe_standin.seed_demo_catalogue()
    log_in(page, live_server, owner)

    # Subscribe: Checkout at the stand-in, back on the page with the plan by name.
    with page.expect_navigation(url=re.compile(re.escape(stripe_standin.url) + r"/c/pay/")):
        page.click('button.choose[data-price="price_demo_pro_monthly"]')
    with page.expect_navigation(url=re.compile(re.escape(live_server.url) + r"/billing/\?checkout=success")):
        page.click("#pay")
    deliver_all(stripe_standin, live_server)
    page.goto(f"{live_server.url}/billing/")
    assert page.inner_text("#plan-name") == "Pro"
    assert page.inner_text("#status") == "Active"
    assert page.locator("#payments tbody tr").count() == 1  # the first invoice, paid
    artifacts.mkdir(exist_ok=True)
    page.screenshot(path=str(artifacts / "lifecycle-subscribed.png"), full_page=True)

    # Cancel, after the confirmation step: the date it ends shows.
    page.click("#cancel-subscription summary")
    with page.expect_navigation():
        page.click("#confirm-cancel")
    deliver_all(stripe_standin, live_server)
    page.reload()
    assert page.inner_text("#period").startswith("Cancels on ")
    assert Subscription.objects.get().cancel_at_period_end is True

    # Resume.
    with page.expect_navigation():
        page.click("#resume-subscription")
    deliver_all(stripe_standin, live_server)
    page.reload()
    assert page.inner_text("#period").startswith("Renews on ")

    # A renewal fails at Stripe: past_due, and the banner with its one button.
    subscription = Subscription.objects.get()
    stripe_standin.simulate_renewal(subscription.stripe_subscription_id, succeed=False)
    deliver_all(stripe_standin, live_server)
    page.reload()
    assert page.inner_text("#status") == "Past due"
    assert page.locator("#past-due-banner").is_visible()
    assert page.locator("#payments tr[data-status=PENDING]").count() == 1
    page.screenshot(path=str(artifacts / "lifecycle-past-due.png"), full_page=True)

    # The banner's button: the portal on "update payment method", then straight back.
    with page.expect_navigation(url=re.compile(re.escape(stripe_standin.url) + r"/p/session/")):
        page.click("#update-payment-method")
    assert page.get_attribute("#flow-type", "data-flow") == "payment_method_update"
    with page.expect_navigation(url=f"{live_server.url}/billing/?portal=card"):
        page.click("#confirm")
    deliver_all(stripe_standin, live_server)
    page.reload()
    assert page.inner_text("#status") == "Active"
    assert page.locator("#past-due-banner").count() == 0
    assert page.locator("#payments tr[data-status=COMPLETED]").count() == 2
    page.screenshot(path=str(artifacts / "lifecycle-history.png"), full_page=True)
