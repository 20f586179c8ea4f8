"""Paying in a real browser while Stripe's webhooks reach the app at once, as they do in
production: the stand-in delivers each event the moment it is made, so the
`customer.subscription.created` event (still `incomplete`) races the return page's own read of
the subscription (`active`). The first page after Checkout must show what Stripe gave last:
Active, and no "payment didn't go through" banner."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from accounts.models import User
from stripe_standin import StripeStandIn
from tests.browser.conftest import needs_chromium
from tests.browser.test_billing_page import log_in

pytestmark = needs_chromium


@pytest.fixture
def webhooks_at_once(live_server: Any, stripe_standin: StripeStandIn) -> Iterator[None]:
    """The stand-in delivers every event to the live app as soon as it is made."""
    stripe_standin.set_webhook(
        f"{live_server.url}/subscriptions/webhook", settings.STRIPE_WEBHOOK_SECRET, auto_deliver=True
    )
    yield
    stripe_standin.set_webhook(None, auto_deliver=False)


def _all_delivered(stripe_standin: StripeStandIn, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while stripe_standin.pending_events and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not stripe_standin.pending_events
    assert all(d.ok for d in stripe_standin.deliveries), stripe_standin.deliveries


def test_the_first_page_after_paying_shows_active_with_webhooks_racing_it(
    page: Any,
    live_server: Any,
    owner: User,
    stripe_standin: StripeStandIn,
    artifacts: Path,
    checkout_returns_here: None,
    webhooks_at_once: None,
) -> None:
    stripe_standin.seed_demo_catalogue()
    log_in(page, live_server, owner)

    with page.expect_navigation(url=re.compile(re.escape(stripe_standin.url) + r"/c/pay/")):
        page.click('button.choose[data-price="price_demo_starter_monthly"]')
    with page.expect_navigation(url=re.compile(re.escape(live_server.url) + r"/billing/\?checkout=success")):
        page.click("#pay")

    # The first page after Checkout, as it was rendered: no reload.
    assert "Thank you!" in page.inner_text("#billing-notice")
    assert page.inner_text("#status") == "Active"
    assert page.locator("#past-due-banner").count() == 0
    page.screenshot(path=str(artifacts / "checkout-return-webhooks.png"), full_page=True)

    # And once every webhook has landed, the page still agrees with Stripe.
    _all_delivered(stripe_standin)
    assert stripe_standin.events("customer.subscription.created")  # the race did happen
    page.reload()
    assert page.inner_text("#status") == "Active"
    assert page.locator("#past-due-banner").count() == 0
