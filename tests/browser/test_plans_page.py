"""Buying a plan in a real browser: a new organization's owner picks a plan, pays on the
stand-in's Checkout page and lands back on /billing/ showing the plan by name, with no webhook
delivered; a member sees the plans without buttons. Screenshots go to artifacts/ (not committed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from accounts.models import User
from billing.models import Subscription
from stripe_standin import StripeStandIn
from tests.browser.conftest import needs_chromium
from tests.browser.test_billing_page import log_in

pytestmark = needs_chromium


def test_owner_picks_a_plan_pays_and_comes_back_subscribed(
    page: Any,
    live_server: Any,
    owner: User,
    stripe_standin: StripeStandIn,
    artifacts: Path,
    checkout_returns_here: None,
) -> None:
    stripe_standin.seed_demo_catalogue()
    artifacts.mkdir(exist_ok=True)
    log_in(page, live_server, owner)
    assert page.inner_text("#plans-title") == "Choose a plan"
    assert page.locator("#plans .plan").count() == 3
    page.screenshot(path=str(artifacts / "plans.png"), full_page=True)

    with page.expect_navigation(url=re.compile(re.escape(stripe_standin.url) + r"/c/pay/")):
        page.click('button.choose[data-price="price_demo_starter_monthly"]')
    with page.expect_navigation(url=re.compile(re.escape(live_server.url) + r"/billing/\?checkout=success")):
        page.click("#pay")

    assert "Thank you!" in page.inner_text("#billing-notice")
    assert page.inner_text("#plan-name") == "Starter"
    assert "$19.00 / month" in page.inner_text("#plan")
    assert "prod_" not in page.inner_text("#plan")
    assert page.inner_text("#status") == "Active"
    assert stripe_standin.deliveries == []  # no webhook: the page recorded it itself
    assert Subscription.objects.get().price_id == "price_demo_starter_monthly"
    page.screenshot(path=str(artifacts / "subscribed.png"), full_page=True)


def test_member_sees_the_plans_and_no_buttons(
    page: Any, live_server: Any, member: User, stripe_standin: StripeStandIn, artifacts: Path
) -> None:
    stripe_standin.seed_demo_catalogue()
    log_in(page, live_server, member)
    assert page.locator("#plans .plan").count() == 3
    assert page.locator("button.choose").count() == 0
    assert "owner, admins and billing managers can choose a plan" in page.inner_text("#plans-who")
    page.screenshot(path=str(artifacts / "plans-member.png"), full_page=True)
