"""The home page at `/`: the product and a log-in for a visitor, organizations at a glance for
a member, the header's links on every page, and the favicon."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from billing.models import Subscription
from organizations.models import Membership
from tests.billing.test_views import html, logged_in, text
from tests.factories import SubscriptionFactory


@pytest.mark.django_db
def test_a_visitor_sees_the_product_and_a_log_in(client: Client):
    response = client.get("/")
    assert response.status_code == 200, response.content
    body = html(response)
    page = text(body)
    assert "Subscriptions for your whole team" in page
    assert (
        'id="home-login" href="/accounts/login/"' in body or 'href="/accounts/login/" id="home-login"' in body
    )
    assert "Sign up" in page and 'href="/accounts/signup/"' in body
    assert 'id="nav-billing"' not in body  # the member's links need a login


@pytest.mark.django_db
def test_head_is_answered(client: Client):
    response = client.head("/")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.django_db
def test_a_member_sees_the_plan_status_and_links(owner, organization):
    end = timezone.now() + timedelta(days=20)
    SubscriptionFactory.create(organization=organization, current_period_end=end)
    body = html(logged_in(owner).get("/"))
    page = text(body)
    assert "Acme Inc" in page and "Owner" in page
    assert "Active" in page and f"Renews on {end:%B} {end.day}, {end.year}" in page
    for link in ('id="home-billing"', 'id="home-members"', 'id="home-workspace"'):
        assert link in body
    assert 'href="/organization/members/"' in body


@pytest.mark.django_db
def test_past_due_does_not_say_renews(owner, organization):
    SubscriptionFactory.create(organization=organization, status=Subscription.Status.PAST_DUE)
    page = text(html(logged_in(owner).get("/")))
    assert "Past due" in page and "Renews on" not in page


@pytest.mark.django_db
def test_without_an_organization(make_user):
    page = text(html(logged_in(make_user()).get("/")))
    assert "doesn't belong to an organization yet" in page


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/billing/"])
def test_the_header_links_billing_members_and_workspace(owner, path):
    body = html(logged_in(owner).get(path))
    assert 'href="/billing/" id="nav-billing"' in body
    assert 'href="/organization/members/" id="nav-members"' in body
    assert 'href="/workspace/" id="nav-workspace"' in body
    assert 'class="brand" href="/"' in body
    assert 'rel="icon" href="/favicon.ico"' in body


@pytest.mark.django_db
def test_the_admins_view_site_lands_on_the_home_page(admin_client: Client):
    body = admin_client.get("/admin/").content.decode()
    assert '<a href="/">View site</a>' in body
    assert admin_client.get("/").status_code == 200


def test_favicon_is_served():
    response = Client().get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    content = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert content[:4] == b"\x00\x00\x01\x00"  # an icon file


@pytest.mark.django_db
def test_the_home_page_costs_a_known_number_of_queries_and_no_stripe_call(
    owner, organization, stripe_standin, django_assert_num_queries
):
    SubscriptionFactory.create(organization=organization)
    browser = logged_in(owner)
    browser.get("/")  # the session is warm
    before = len(stripe_standin.requests)
    # The session and its user, the user's membership, the memberships listed, their subscriptions.
    with django_assert_num_queries(5):
        assert browser.get("/").status_code == 200
    assert len(stripe_standin.requests) == before


@pytest.mark.django_db
def test_a_person_in_two_organizations_switches_from_the_home_page(owner, organization, make_organization):
    other = make_organization(name="Client Ltd")
    Membership.objects.create(user=owner, organization=other, role="billing")
    client = logged_in(owner)
    body = html(client.get("/"))
    assert "Acme Inc" in text(body) and "Client Ltd" in text(body)
    assert body.count('id="home-billing"') == 1  # the links act on the current organization
    assert "Work in Client Ltd" in text(body) and "Work in Acme Inc" not in text(body)

    response = client.post("/organization/switch/", {"organization": other.pk, "next": "/"})

    assert response.status_code == 303 and response["Location"] == "/"
    body = html(client.get("/"))
    assert "Work in Acme Inc" in text(body) and "Work in Client Ltd" not in text(body)
    assert 'href="/accounts/signup/"' not in body  # a member is not offered a sign-up
