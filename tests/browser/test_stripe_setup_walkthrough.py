"""docs/stripe-setup.md, step by step, with the stand-in as "Stripe": a test key, a copy of the
plan file, `billing_setup` twice (the plan, then --apply), webhooks forwarded, the app run with
the printed settings and promotion codes on; then a newcomer subscribes through Checkout with
the file's promotion code."""

from __future__ import annotations

import re
import shutil
from io import StringIO
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.core.management import call_command

from accounts.models import User
from billing.services.setup import DEFAULT_PLAN_FILE
from stripe_standin import StripeStandIn
from tests.browser.conftest import needs_chromium, screenshot
from tests.browser.test_billing_page import log_in

pytestmark = needs_chromium


def _run(*args: str) -> str:
    out = StringIO()
    call_command("billing_setup", *args, stdout=out, stderr=StringIO(), no_color=True)
    return out.getvalue()


def test_a_newcomer_follows_the_setup_guide_and_subscribes_with_a_promotion_code(
    page: Any,
    live_server: Any,
    settings: Any,
    owner: User,
    stripe_standin: StripeStandIn,
    checkout_returns_here: None,
    tmp_path: Path,
    artifacts: Path,
) -> None:
    # 1. A test key: the suite's `sk_test_...`, against the stand-in.
    assert settings.STRIPE_SECRET_KEY.startswith("sk_test_")
    # 2. Copy the plan file.
    plans = tmp_path / "my-plans.toml"
    shutil.copy(DEFAULT_PLAN_FILE, plans)
    # 3. The plan of changes, then --apply.
    planned = _run(str(plans))
    assert "Run again with --apply" in planned, planned
    assert stripe_standin.products == []
    applied = _run(str(plans), "--apply")
    products = re.search(r"^BILLING_PRODUCTS=(\S+)$", applied, re.M)
    portal = re.search(r"^STRIPE_PORTAL_CONFIGURATION=(bpc_\S+)$", applied, re.M)
    assert products and portal, applied
    assert "no changes" in _run(str(plans))
    # 4 and 5. Webhooks forwarded (`stripe listen`), and the app run with the printed settings.
    settings.BILLING_PRODUCTS = products.group(1).split(",")
    settings.STRIPE_PORTAL_CONFIGURATION = portal.group(1)
    settings.BILLING_ALLOW_PROMOTION_CODES = True
    stripe_standin.set_webhook(
        f"{live_server.url}/subscriptions/webhook", django_settings.STRIPE_WEBHOOK_SECRET, auto_deliver=True
    )
    try:
        _subscribe_with_the_promotion_code(page, live_server, owner, stripe_standin, artifacts)
    finally:
        stripe_standin.set_webhook(None, auto_deliver=False)


def _subscribe_with_the_promotion_code(
    page: Any, live_server: Any, owner: User, stripe_standin: StripeStandIn, artifacts: Path
) -> None:
    log_in(page, live_server, owner)
    plans = page.inner_text("#plans") if page.locator("#plans").count() else page.content()
    for name in ("Free", "Starter", "Pro", "Team"):
        assert name in plans, plans
    screenshot(page, artifacts, "stripe-setup-1-plans-from-the-plan-file")

    pro_monthly = next(p["id"] for p in stripe_standin.prices if p["lookup_key"] == "demo_pro_monthly")
    with page.expect_navigation(url=re.compile(re.escape(stripe_standin.url) + r"/c/pay/")):
        page.click(f'button.choose[data-price="{pro_monthly}"]')
    assert page.locator("#promotion-code").count() == 1
    page.fill("#promotion-code", "WELCOME20")
    with page.expect_navigation():
        page.click("#apply-code")
    assert page.inner_text("#discount") == "-$9.80"
    assert page.inner_text("#total") == "$39.20"
    screenshot(page, artifacts, "stripe-setup-2-checkout-with-promotion-code")

    with page.expect_navigation(url=re.compile(re.escape(live_server.url) + r"/billing/\?checkout=success")):
        page.click("#pay")
    assert page.inner_text("#status") == "Active"
    assert "Pro" in page.inner_text("main")
    payments = page.inner_text("#payments")
    assert "$39.20" in payments and "$9.80 off" in payments, payments
    screenshot(page, artifacts, "stripe-setup-3-subscribed-with-the-discount")
