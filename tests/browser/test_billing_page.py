"""The billing page in a real browser: log in, open the portal, come back; what a member
sees; what a Stripe failure looks like. Screenshots land in artifacts/ (git-ignored)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from accounts.models import User
from billing.models import PortalSession
from organizations.models import Organization
from stripe_standin import StripeStandIn
from tests.browser.conftest import DESKTOP, PHONE, needs_chromium
from tests.conftest import PASSWORD

pytestmark = needs_chromium


def log_in(page: Any, live_server: Any, user: User) -> None:
    """Through the real login form, starting from the page a person would open."""
    page.goto(f"{live_server.url}/billing/")
    assert re.search(r"/accounts/login/\?next=/billing/$", page.url), page.url
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("#login-submit")
    assert page.url == f"{live_server.url}/billing/", page.url


def no_horizontal_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_owner_opens_the_portal_and_comes_back(
    page: Any,
    live_server: Any,
    owner: User,
    organization: Organization,
    stripe_standin: StripeStandIn,
    artifacts: Path,
) -> None:
    log_in(page, live_server, owner)
    assert page.inner_text("h1") == "Acme Inc"
    assert page.inner_text("#role") == "Owner"
    assert page.inner_text("#plan") == "No subscription yet"
    assert "Offline demo: Stripe is a local stand-in" in page.inner_text("#offline-demo")
    button = page.locator("#manage-billing")
    assert button.is_enabled()
    # The app's own stylesheet arrived (served by the app, not a CDN).
    assert page.evaluate("getComputedStyle(document.querySelector('#manage-billing')).backgroundColor") == (
        "rgb(99, 91, 255)"
    )

    with page.expect_navigation(url=re.compile(re.escape(stripe_standin.url) + r"/p/session/")):
        button.click()
    assert page.inner_text("h1") == "Stripe billing portal (local stand-in)"
    organization.refresh_from_db()
    assert page.inner_text("#customer-id") == organization.stripe_customer_id
    assert PortalSession.objects.get().source == "web"

    # Meanwhile, in the portal, the customer subscribes.
    stripe_standin.create_subscription(
        customer=organization.stripe_customer_id, product="prod_team", price_id="price_team_monthly"
    )
    with page.expect_navigation(url=f"{live_server.url}/billing/"):
        page.click("#return-link")
    assert page.inner_text("h1") == "Acme Inc"
    assert "prod_team" in page.inner_text("#plan")
    assert page.inner_text("#status") == "Active"
    assert page.inner_text("#period").startswith("Renews on ")

    page.screenshot(path=str(artifacts / "billing-page.png"), full_page=True)
    page.set_viewport_size(PHONE)
    assert no_horizontal_scroll(page)
    assert page.locator("#manage-billing").bounding_box()["width"] > PHONE["width"] * 0.7  # thumb-sized
    page.screenshot(path=str(artifacts / "billing-page-phone.png"), full_page=True)
    page.set_viewport_size(DESKTOP)

    with page.expect_navigation():
        page.click("#logout")
    assert "/accounts/login/" in page.url
    page.goto(f"{live_server.url}/billing/")
    assert "/accounts/login/" in page.url


def test_member_sees_the_button_disabled_and_why(
    page: Any, live_server: Any, member: User, stripe_standin: StripeStandIn, artifacts: Path
) -> None:
    log_in(page, live_server, member)
    assert page.inner_text("#role") == "Member"
    button = page.locator("#manage-billing")
    assert button.is_disabled()
    reason = page.inner_text("#manage-billing-reason")
    assert "Only your organization's owner, admins and billing managers can manage billing" in reason
    assert button.get_attribute("aria-describedby") == "manage-billing-reason"
    page.screenshot(path=str(artifacts / "billing-page-member.png"), full_page=True)
    assert stripe_standin.requests_to("POST", "/v1/billing_portal/sessions") == []


def test_stripe_failure_shows_its_message_on_the_page(
    page: Any,
    live_server: Any,
    owner: User,
    organization: Organization,
    stripe_standin: StripeStandIn,
    artifacts: Path,
) -> None:
    log_in(page, live_server, owner)
    stripe_standin.add_fault("500")  # every Stripe call fails, retries included
    with page.expect_response(f"{live_server.url}/billing/portal/") as answer:
        page.click("#manage-billing")
    assert answer.value.status == 503
    page.wait_for_load_state()
    alert = page.locator("#billing-error")
    assert "Please try again in a moment" in alert.inner_text()
    assert alert.get_attribute("role") == "alert"
    # The person is still on the billing page, and may simply try again.
    assert page.inner_text("h1") == "Acme Inc"
    assert page.locator("#manage-billing").is_enabled()
    page.screenshot(path=str(artifacts / "billing-page-error.png"), full_page=True)

    stripe_standin.clear_faults()
    with page.expect_navigation(url=re.compile(re.escape(stripe_standin.url) + r"/p/session/")):
        page.click("#manage-billing")


def test_not_configured_shows_its_message(
    page: Any, live_server: Any, owner: User, stripe_standin: StripeStandIn
) -> None:
    log_in(page, live_server, owner)
    stripe_standin.set_portal_configured(False)
    with page.expect_response(f"{live_server.url}/billing/portal/") as answer:
        page.click("#manage-billing")
    assert answer.value.status == 500
    page.wait_for_load_state()
    assert "Billing isn't set up on this server yet" in page.inner_text("#billing-error")


def test_wrong_password_stays_on_the_login_page(
    page: Any, live_server: Any, owner: User, artifacts: Path
) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", owner.email)
    page.fill("#id_password", "not-the-password")
    with page.expect_navigation():
        page.click("#login-submit")
    assert "Please enter a correct email and password" in page.inner_text("#login-error")
    assert page.input_value("#id_username") == owner.email
    page.set_viewport_size(PHONE)
    assert no_horizontal_scroll(page)
    page.screenshot(path=str(artifacts / "login-page-phone.png"), full_page=True)
