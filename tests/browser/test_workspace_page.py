"""The /workspace/ demo page in a real browser: refused without a plan, open on Starter, its
extended-support part appearing after a switch to Pro (Stripe's changes arrive as signed
webhook deliveries from the stand-in to the live app)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from accounts.models import User
from organizations.models import Organization
from stripe_standin import StripeStandIn
from tests.billing.capability_fixtures import PRO, STARTER, subscribe
from tests.browser.conftest import deliver_all, needs_chromium
from tests.conftest import PASSWORD

pytestmark = needs_chromium


def test_workspace_follows_the_plan(
    page: Any,
    live_server: Any,
    member: User,
    organization: Organization,
    stripe_standin: StripeStandIn,
    artifacts: Path,
) -> None:
    stripe_standin.seed_demo_catalogue()
    page.goto(f"{live_server.url}/workspace/")
    assert re.search(r"/accounts/login/\?next=/workspace/$", page.url), page.url
    page.fill("#id_username", member.email)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("#login-submit")

    # No plan: sent to the billing page, told which plans unlock it.
    assert page.url == f"{live_server.url}/billing/", page.url
    assert "choose a plan (Free, Starter or Pro)" in page.inner_text(".messages")

    subscription = subscribe(organization, stripe_standin, STARTER)
    deliver_all(stripe_standin, live_server)
    page.goto(f"{live_server.url}/workspace/")
    assert page.url == f"{live_server.url}/workspace/"
    assert page.inner_text("#storage-quota") == "1 TB"
    assert page.locator("#extended-support").count() == 0
    assert "Extended support comes with the Pro plan" in page.inner_text("#extended-support-note")
    page.screenshot(path=str(artifacts / "workspace-starter.png"), full_page=True)

    stripe_standin.update_subscription(subscription["id"], price_id=PRO)
    deliver_all(stripe_standin, live_server)
    page.reload()
    assert page.locator("#extended-support").is_visible()
    assert page.inner_text("#storage-quota") == "5 TB"
    assert page.locator("#extended-support-note").count() == 0
    page.screenshot(path=str(artifacts / "workspace-pro.png"), full_page=True)
