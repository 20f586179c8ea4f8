"""The pages of teams: members page, invitation page, sign-up, and the header's switcher."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from billing.models import CheckoutSession
from organizations.models import Invitation, Membership
from tests.billing.plans_helpers import STARTER_MONTHLY
from tests.factories import PASSWORD
from tests.organizations.helpers import LINK, last_token

pytestmark = pytest.mark.django_db

MEMBERS = "/organization/members/"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def invite_on_page(client: Client, email: str, role: str = "member"):
    return client.post("/organization/members/invite/", {"email": email, "role": role})


def test_members_page_lists_members_and_lets_an_owner_invite_change_and_remove(owner, member, organization):
    client = logged_in(owner)
    page = client.get(MEMBERS)
    assert page.status_code == 200
    text = page.content.decode()
    assert owner.email in text and member.email in text and 'id="invite-form"' in text
    response = invite_on_page(client, "ben@example.com")
    assert response.status_code == 303 and response["Location"] == MEMBERS
    assert mail.outbox[-1].to == ["ben@example.com"]
    followed = client.get(MEMBERS).content.decode()
    assert (
        "Invitation sent to ben@example.com" in followed and 'data-invitation="ben@example.com"' in followed
    )

    target = Membership.objects.get(user=member)
    client.post(f"/organization/members/{target.pk}/role/", {"role": "billing"})
    assert Membership.objects.get(user=member).role == "billing"
    client.post(f"/organization/members/{target.pk}/remove/")
    assert not Membership.objects.filter(user=member).exists()


def test_a_member_sees_the_list_but_no_invite_form_and_the_services_refuse_them(owner, member, organization):
    client = logged_in(member)
    text = client.get(MEMBERS).content.decode()
    assert owner.email in text and 'id="invite-form"' not in text
    invite_on_page(client, "x@example.com")
    assert "Your role does not allow" in client.get(MEMBERS).content.decode()
    assert not Invitation.objects.exists()
    owner_membership = Membership.objects.get(user=owner)
    client.post(f"/organization/members/{owner_membership.pk}/role/", {"role": "member"})
    assert Membership.objects.get(user=owner).role == "owner"


def test_the_last_owner_is_told_they_cannot_leave(owner, organization):
    client = logged_in(owner)
    mine = Membership.objects.get(user=owner)
    response = client.post(f"/organization/members/{mine.pk}/remove/")
    assert response.status_code == 303
    assert "needs an owner" in client.get(MEMBERS).content.decode()


def test_a_fresh_link_is_shown_once_and_the_one_sent_before_stops_working(owner, organization, make_user):
    client = logged_in(owner)
    invite_on_page(client, "ben@example.com")
    mailed = last_token("ben@example.com")
    invitation = Invitation.objects.get()
    page = client.post(f"/organization/invitations/{invitation.pk}/link/")
    assert page.status_code == 200
    fresh = LINK.search(page.content.decode())
    assert fresh and fresh.group(1) != mailed
    assert Client().get(f"/invitations/{mailed}/").status_code == 410
    assert Client().get(f"/invitations/{fresh.group(1)}/").status_code == 200
    # Not kept anywhere: the next page load shows no link.
    assert not LINK.search(client.get(MEMBERS).content.decode())


def test_a_newcomer_creates_an_account_with_the_invited_email_and_joins_in_one_step(owner, organization):
    invite_on_page(logged_in(owner), "new.person@example.com", role="admin")
    token = last_token("new.person@example.com")
    visitor = Client()
    page = visitor.get(f"/invitations/{token}/")
    assert page.status_code == 200 and 'id="signup-join"' in page.content.decode()
    response = visitor.post(
        f"/invitations/{token}/",
        {
            "email": "evil@example.com",
            "password1": "a-long-pass-phrase-1",
            "password2": "a-long-pass-phrase-1",
        },
    )
    assert response.status_code == 303, response.content.decode()[:2000]
    joined = Membership.objects.get(user__email="new.person@example.com")  # the invited e-mail, fixed
    assert (joined.organization, joined.role, joined.is_default) == (organization, "admin", True)
    assert visitor.get("/billing/").status_code == 200  # logged in
    assert visitor.get(f"/invitations/{token}/").status_code == 410  # used


def test_an_existing_account_logs_in_and_joins(owner, organization, make_user):
    ben = make_user(email="ben@example.com")
    invite_on_page(logged_in(owner), "ben@example.com")
    token = last_token("ben@example.com")
    visitor = Client()
    assert 'id="login-join"' in visitor.get(f"/invitations/{token}/").content.decode()
    wrong = visitor.post(f"/invitations/{token}/", {"password": "wrong"})
    assert wrong.status_code == 200 and not Membership.objects.filter(user=ben).exists()
    response = visitor.post(f"/invitations/{token}/", {"password": PASSWORD})
    assert response.status_code == 303
    assert Membership.objects.get(user=ben).organization == organization


def test_a_person_logged_in_with_another_email_is_told_so_and_can_log_out(owner, member, organization):
    invite_on_page(logged_in(owner), "ben@example.com")
    token = last_token("ben@example.com")
    page = logged_in(member).get(f"/invitations/{token}/")
    text = page.content.decode()
    assert page.status_code == 403 and 'id="invitation-mismatch"' in text and 'id="mismatch-logout"' in text
    assert member.email in text and "ben@example.com" in text


def test_signup_creates_an_account_and_its_first_organization(client):
    assert 'id="signup-link"' in client.get("/accounts/login/").content.decode()
    response = client.post(
        "/accounts/signup/",
        {
            "organization": "Newco",
            "email": "Founder@Newco.example.com",
            "password1": "a-long-pass-phrase-1",
            "password2": "a-long-pass-phrase-1",
        },
    )
    assert response.status_code == 303, response.content.decode()[:2000]
    membership = Membership.objects.get(user__email="founder@newco.example.com")
    assert (membership.organization.name, membership.role, membership.is_default) == ("Newco", "owner", True)
    assert client.get("/billing/").status_code == 200
    again = Client().post(
        "/accounts/signup/",
        {
            "organization": "X",
            "email": "founder@newco.example.com",
            "password1": "a-long-pass-phrase-1",
            "password2": "a-long-pass-phrase-1",
        },
    )
    assert again.status_code == 200 and "already exists" in again.content.decode()


def test_the_switcher_shows_for_two_organizations_and_keeps_the_choice(
    owner, organization, make_organization
):
    assert 'id="org-switcher"' not in logged_in(owner).get("/billing/").content.decode()
    other = make_organization(name="Client Ltd")
    Membership.objects.create(user=owner, organization=other, role="owner")
    client = logged_in(owner)
    page = client.get("/billing/").content.decode()
    assert 'id="org-switcher"' in page and re.search(r'<h1 id="page-title">\s*Acme Inc', page)
    response = client.post("/organization/switch/", {"organization": other.pk, "next": "/billing/"})
    assert response.status_code == 303 and response["Location"] == "/billing/"
    assert re.search(r'<h1 id="page-title">\s*Client Ltd', client.get("/billing/").content.decode())
    # Not one of theirs: refused, the choice stays.
    stranger = make_organization(name="Stranger")
    client.post("/organization/switch/", {"organization": stranger.pk})
    assert re.search(r'<h1 id="page-title">\s*Client Ltd', client.get("/billing/").content.decode())


def test_on_the_page_buy_for_one_and_open_the_portal_for_the_other(
    owner, organization, make_organization, stripe_standin
):
    stripe_standin.seed_demo_catalogue()
    other = make_organization(name="Client Ltd")
    Membership.objects.create(user=owner, organization=other, role="owner")
    client = logged_in(owner)
    bought = client.post("/billing/buy/", {"price": STARTER_MONTHLY})
    assert bought.status_code == 303 and "/c/pay/" in bought["Location"], bought
    client.post("/organization/switch/", {"organization": other.pk})
    portal = client.post("/billing/portal/")
    assert portal.status_code == 303, portal
    organization.refresh_from_db()
    other.refresh_from_db()
    assert CheckoutSession.objects.get().organization == organization
    checkout = stripe_standin.requests_to("POST", "/v1/checkout/sessions")
    assert {r.params["customer"] for r in checkout} == {organization.stripe_customer_id}
    portals = stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")
    assert {r.params["customer"] for r in portals} == {other.stripe_customer_id}
    assert organization.stripe_customer_id != other.stripe_customer_id


def _database_text() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        rows = []
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 -- table names from the schema
            rows.append(repr(cursor.fetchall()))
    # Session data is stored encoded: read it as the app does.
    from django.contrib.sessions.models import Session

    rows.extend(repr(session.get_decoded()) for session in Session.objects.all())
    return "\n".join(rows)


def test_the_raw_token_reaches_no_table_sessions_and_messages_included(owner, organization):
    client = logged_in(owner)
    invite_on_page(client, "new.person@example.com")
    mailed = last_token("new.person@example.com")
    page = client.post(f"/organization/invitations/{Invitation.objects.get().pk}/link/")
    fresh = LINK.search(page.content.decode())
    assert fresh
    visitor = Client()
    visitor.get(f"/invitations/{fresh.group(1)}/")
    visitor.post(
        f"/invitations/{fresh.group(1)}/",
        {"password1": "a-long-pass-phrase-1", "password2": "a-long-pass-phrase-1"},
    )
    assert Membership.objects.filter(user__email="new.person@example.com").exists()
    text = _database_text()
    assert mailed not in text and fresh.group(1) not in text


def test_the_switcher_needs_the_csrf_token(owner, organization, make_organization):
    other = make_organization(name="Client Ltd")
    Membership.objects.create(user=owner, organization=other, role="owner")
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post("/organization/switch/", {"organization": other.pk}).status_code == 403
    assert re.search(r'<h1 id="page-title">\s*Acme Inc', client.get("/billing/").content.decode())
