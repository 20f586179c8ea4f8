"""Teams in a real browser: an owner of two organizations invites a newcomer to both from the
members page (copying the fresh link: the demo has no mail), the newcomer creates an account
on the first invitation's page and joins, joins the second while logged in, then switches
organization in the header and sees the other organization's billing page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from accounts.models import User
from organizations.models import Membership, Organization
from stripe_standin import StripeStandIn
from tests.browser.conftest import needs_chromium, screenshot
from tests.conftest import PASSWORD

pytestmark = needs_chromium

NEWCOMER = "new.person@example.com"


def _invite_and_copy_link(page: Any, live_server: Any) -> str:
    page.goto(f"{live_server.url}/organization/members/")
    page.fill("#invite-email", NEWCOMER)
    page.select_option("#invite-role", "admin")
    with page.expect_navigation():
        page.click("#invite-submit")
    assert f"Invitation sent to {NEWCOMER}" in page.inner_text(".messages")
    with page.expect_navigation():
        page.click(f'[data-invitation="{NEWCOMER}"] [data-action="fresh-link"]')
    link: str = page.input_value("#fresh-link")
    assert re.fullmatch(r"http://[^/]+/invitations/[A-Za-z0-9_\-]{40,}/", link), link
    return link


def test_invite_accept_with_a_new_account_switch_and_bill_the_other_organization(
    browser: Any,
    page: Any,
    live_server: Any,
    owner: User,
    organization: Organization,
    make_organization: Any,
    stripe_standin: StripeStandIn,
    settings: Any,
    artifacts: Path,
) -> None:
    stripe_standin.seed_demo_catalogue()
    settings.SITE_URL = live_server.url
    client_org = make_organization(name="Client Ltd", billing_email="billing@client.example.com")
    Membership.objects.create(user=owner, organization=client_org, role="owner")

    # The owner logs in, invites the newcomer to Acme and copies the link.
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", owner.email)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("#login-submit")
    acme_link = _invite_and_copy_link(page, live_server)
    screenshot(page, artifacts, "teams-members-page")

    # ... then switches to Client Ltd in the header and invites them there too.
    page.select_option("#org-switch", str(client_org.pk))
    with page.expect_navigation():
        page.click("#org-switch-submit")
    client_link = _invite_and_copy_link(page, live_server)

    # The newcomer, in a browser of their own: no account yet, the e-mail is fixed.
    newcomer = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    newcomer.set_default_timeout(15_000)
    visitor = newcomer.new_page()
    visitor.goto(acme_link)
    assert visitor.input_value("#id_email") == NEWCOMER
    assert visitor.locator("#id_email").get_attribute("readonly") is not None
    visitor.fill("#id_password1", "a-long-pass-phrase-1")
    visitor.fill("#id_password2", "a-long-pass-phrase-1")
    screenshot(visitor, artifacts, "teams-invitation-new-account")
    with visitor.expect_navigation():
        visitor.click("#signup-join")
    assert visitor.url == f"{live_server.url}/billing/"
    assert "You joined Acme Inc as admin" in visitor.inner_text(".messages")

    # Logged in, the second link is one click; then the switcher offers both.
    visitor.goto(client_link)
    with visitor.expect_navigation():
        visitor.click("#join")
    assert "You joined Client Ltd" in visitor.inner_text(".messages")
    assert visitor.inner_text("#page-title").strip() == "Client Ltd"
    options = visitor.locator("#org-switch option").all_inner_texts()
    assert options == ["Acme Inc", "Client Ltd"], options
    screenshot(visitor, artifacts, "teams-switcher")

    visitor.select_option("#org-switch", str(organization.pk))
    with visitor.expect_navigation():
        visitor.click("#org-switch-submit")
    assert visitor.url == f"{live_server.url}/billing/"
    assert visitor.inner_text("#page-title").strip() == "Acme Inc"
    assert visitor.inner_text("#role").strip() == "Admin"
    screenshot(visitor, artifacts, "teams-billing-other-organization")
    newcomer.close()

    joined = User.objects.get(email=NEWCOMER)
    assert sorted(m.organization.name for m in joined.memberships.all()) == ["Acme Inc", "Client Ltd"]
    assert joined.memberships.get(is_default=True).organization == organization
