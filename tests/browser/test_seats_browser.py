"""Seats in a real browser: an organization of three on the per-seat Team plan; its owner invites
a newcomer from the members page, the newcomer creates an account on the invitation page and
joins, and the owner's billing page shows four seats, as Stripe (the stand-in) now has them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from accounts.models import User
from billing.models import Subscription
from organizations.models import Organization
from stripe_standin import StripeStandIn
from tests.billing.plans_helpers import subscribed
from tests.browser.conftest import needs_chromium, screenshot
from tests.conftest import PASSWORD

pytestmark = needs_chromium

NEWCOMER = "fourth.person@example.com"
TEAM_MONTHLY = "price_team_monthly"


def test_members_page_invite_accept_and_the_billing_page_shows_the_new_seat_count(
    browser: Any,
    page: Any,
    live_server: Any,
    owner: User,
    organization: Organization,
    make_user: Any,
    stripe_standin: StripeStandIn,
    settings: Any,
    artifacts: Path,
) -> None:
    stripe_standin.seed_demo_catalogue()
    stripe_standin.create_product("Team", id="prod_team", description="Priced per member.")
    stripe_standin.create_price(
        "prod_team", 900, id=TEAM_MONTHLY, lookup_key="team_monthly", metadata={"per_seat": "true"}
    )
    settings.SITE_URL = live_server.url
    for n in (1, 2):
        make_user(email=f"colleague{n}@acme.example.com", role="member", organization=organization)
    subscription_id = subscribed(owner, stripe_standin, TEAM_MONTHLY)

    # The owner sees three seats on the billing page.
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", owner.email)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("#login-submit")
    page.goto(f"{live_server.url}/billing/")
    assert page.inner_text("#seats").strip() == "3 seats \u00d7 $9.00 = $27.00 / month"
    screenshot(page, artifacts, "seats-billing-three-seats")

    # ... invites a fourth person from the members page and copies the link.
    page.goto(f"{live_server.url}/organization/members/")
    page.fill("#invite-email", NEWCOMER)
    with page.expect_navigation():
        page.click("#invite-submit")
    assert f"Invitation sent to {NEWCOMER}" in page.inner_text(".messages")
    with page.expect_navigation():
        page.click(f'[data-invitation="{NEWCOMER}"] [data-action="fresh-link"]')
    link = page.input_value("#fresh-link")
    screenshot(page, artifacts, "seats-members-invited")
    # A pending invitation is not a seat.
    page.goto(f"{live_server.url}/billing/")
    assert page.inner_text("#seats").strip().startswith("3 seats")

    # The newcomer creates an account on the invitation page and joins.
    newcomer = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    newcomer.set_default_timeout(15_000)
    visitor = newcomer.new_page()
    visitor.goto(link)
    visitor.fill("#id_password1", "a-long-pass-phrase-1")
    visitor.fill("#id_password2", "a-long-pass-phrase-1")
    with visitor.expect_navigation():
        visitor.click("#signup-join")
    assert "You joined Acme Inc" in visitor.inner_text(".messages")
    newcomer.close()

    # The quantity at Stripe is the member count, and the owner's page says so.
    (at_stripe,) = [s for s in stripe_standin.subscriptions if s["id"] == subscription_id]
    assert at_stripe["items"]["data"][0]["quantity"] == 4
    assert Subscription.objects.get(stripe_subscription_id=subscription_id).quantity == 4
    page.goto(f"{live_server.url}/billing/")
    assert page.inner_text("#seats").strip() == "4 seats \u00d7 $9.00 = $36.00 / month"
    assert page.locator("#seats").get_attribute("data-quantity") == "4"
    screenshot(page, artifacts, "seats-billing-four-seats")
