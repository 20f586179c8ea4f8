"""Headless Chromium (Debian's `chromium`) driven by Playwright's sync API, against the app
served by pytest-django's `live_server` and Stripe's local stand-in.

Skipped cleanly where /usr/bin/chromium is missing (Playwright's own browsers are never
downloaded: `.ci/run` installs Debian's chromium).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


# Each browser test module starts with this (the marker, and a clean skip without chromium).
needs_chromium = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def _orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API keeps an asyncio loop marked as running in this thread, so
    Django would refuse every ORM call of the test (and the database flush after it) as
    "async unsafe". Nothing here is concurrent: the test's code runs while the loop is
    parked in another greenlet. The override lasts as long as the browser, not longer."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def browser(_orm_beside_playwright: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, live_server: Any, settings: Any, transactional_db: None) -> Iterator[Any]:
    """A fresh browser context (no cookies) on the live app, Stripe sending people back to it."""
    settings.BILLING_PORTAL_RETURN_URL = f"{live_server.url}/billing/"
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def checkout_returns_here(live_server: Any, settings: Any) -> None:
    """Stripe Checkout (the stand-in's page) sends the customer back to the live app."""
    settings.BILLING_CHECKOUT_SUCCESS_URL = (
        f"{live_server.url}/billing/?checkout=success&session_id={{CHECKOUT_SESSION_ID}}"
    )
    settings.BILLING_CHECKOUT_CANCEL_URL = f"{live_server.url}/billing/?checkout=canceled"


def deliver_all(standin: Any, live_server: Any) -> None:
    """Stripe's webhooks for what happened at the stand-in, signed, to the live app."""
    from django.conf import settings

    deliveries = standin.deliver_events(
        url=f"{live_server.url}/subscriptions/webhook", secret=settings.STRIPE_WEBHOOK_SECRET
    )
    assert deliveries and all(d.ok for d in deliveries), deliveries


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def screenshot(page: Any, artifacts: Path, name: str) -> None:
    """The whole page as `artifacts/<name>.png`."""
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
