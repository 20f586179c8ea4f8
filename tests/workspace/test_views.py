"""The /workspace/ demo page: needs access; its extended-support part needs the capability."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from tests.billing.capability_fixtures import PRO, STARTER, Deliveries, subscribe
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
URL = "/workspace/"


@pytest.fixture
def deliveries(client, stripe_standin) -> Deliveries:
    return Deliveries(client, stripe_standin)


def logged_in(client, user):
    assert client.login(username=user.email, password=PASSWORD)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_anonymous_goes_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/workspace/"


def test_without_a_plan_redirects_to_billing_naming_the_plans(client, member, stripe_standin):
    stripe_standin.seed_demo_catalogue()
    response = logged_in(client, member).get(URL)
    assert response.status_code == 302
    assert response["Location"] == "/billing/"
    assert messages_of(response) == [
        "This page needs a subscription: choose a plan (Free, Starter or Pro) to unlock it."
    ]
    page = client.get("/billing/")  # the message is shown there
    assert "choose a plan (Free, Starter or Pro)" in page.content.decode()


def test_without_an_organization_redirects_to_billing(client, make_user):
    response = logged_in(client, make_user()).get(URL)
    assert (response.status_code, response["Location"]) == (302, "/billing/")


@pytest.mark.parametrize("status", ["unpaid", "canceled", "incomplete", "paused"])
def test_a_status_without_access_redirects(client, member, organization, stripe_standin, deliveries, status):
    subscribe(organization, stripe_standin, PRO, status=status)
    deliveries.all()
    response = logged_in(client, member).get(URL)
    assert (response.status_code, response["Location"]) == (302, "/billing/")


def test_starter_opens_without_extended_support(client, member, organization, stripe_standin, deliveries):
    subscribe(organization, stripe_standin, STARTER)
    deliveries.all()
    response = logged_in(client, member).get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="storage-quota">1 TB<' in html
    assert 'id="extended-support"' not in html
    assert "Extended support comes with the Pro plan: change your plan to unlock it." in html


def test_pro_shows_extended_support(client, member, organization, stripe_standin, deliveries):
    subscribe(organization, stripe_standin, PRO)
    deliveries.all()
    response = logged_in(client, member).get(URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="extended-support"' in html
    assert 'id="storage-quota">5 TB<' in html
    assert 'id="extended-support-note"' not in html
    assert ">5 TB of storage</li>" in html and "(5)" not in html  # the value is in the name


def test_past_due_keeps_access(client, member, organization, stripe_standin, deliveries):
    subscribe(organization, stripe_standin, PRO, status="past_due")
    deliveries.all()
    assert logged_in(client, member).get(URL).status_code == 200


def test_the_page_costs_one_query_beyond_the_session_and_never_calls_stripe(
    client, member, organization, stripe_standin, deliveries, django_assert_num_queries
):
    subscribe(organization, stripe_standin, STARTER)
    deliveries.all()
    logged_in(client, member)
    before = len(stripe_standin.requests)
    # The session, its user; then the membership, organization and billing access together.
    with django_assert_num_queries(3):
        assert client.get(URL).status_code == 200
    assert len(stripe_standin.requests) == before


def test_the_note_without_a_cached_catalogue_still_reads(
    client, member, organization, stripe_standin, deliveries
):
    from django.core.cache import cache

    subscribe(organization, stripe_standin, STARTER)
    deliveries.all()
    cache.clear()  # no plan list cached at all, not even the stale copy
    before = len(stripe_standin.requests)
    html = logged_in(client, member).get(URL).content.decode()
    assert "EXTENDED_SUPPORT is not included in your plan: change your plan to unlock it." in html
    assert len(stripe_standin.requests) == before


GATED = pytest.mark.urls("tests.billing.capability_views")


@GATED
def test_capability_required_redirects_naming_the_plan(
    client, member, organization, stripe_standin, deliveries
):
    subscribe(organization, stripe_standin, STARTER)
    deliveries.all()
    response = logged_in(client, member).get("/test-support/")
    assert (response.status_code, response["Location"]) == (302, "/billing/")
    assert messages_of(response) == [
        "Extended support comes with the Pro plan: change your plan to unlock it."
    ]


@GATED
def test_capability_required_without_access(client, member, stripe_standin):
    stripe_standin.seed_demo_catalogue()
    response = logged_in(client, member).get("/test-support/")
    assert (response.status_code, response["Location"]) == (302, "/billing/")
    assert "needs a subscription" in messages_of(response)[0]


@GATED
def test_capability_required_lets_the_plan_through(
    client, member, organization, stripe_standin, deliveries, django_assert_num_queries
):
    subscribe(organization, stripe_standin, PRO)
    deliveries.all()
    logged_in(client, member)
    with django_assert_num_queries(3):
        assert client.get("/test-support/").content == b"support 1"
    with django_assert_num_queries(3):  # stacked decorators ask once
        assert client.get("/test-storage/").content == b"storage 5"
    anonymous = client.__class__()
    assert anonymous.get("/test-support/")["Location"] == "/accounts/login/?next=/test-support/"
