"""Which organization a request acts for: `X-Organization` on every API path, else the
default membership; a person in two organizations bills each one apart, and a member of one
never reads or acts on another."""

from __future__ import annotations

import json

import pytest

from billing.models import CheckoutSession
from organizations.models import Membership
from tests.assertions import assert_error
from tests.billing.plans_helpers import STARTER_MONTHLY
from tests.organizations.helpers import client_for

pytestmark = pytest.mark.django_db

PORTAL = "/subscriptions/portal"


@pytest.fixture
def two(owner, organization, make_organization):
    """The owner of Acme is also the owner of a second organization, Client Ltd."""
    other = make_organization(name="Client Ltd", billing_email="billing@client.example.com")
    Membership.objects.create(user=owner, organization=other, role="owner")
    return organization, other


@pytest.mark.parametrize("header", ["abc", "1.0", "-1", "", " ", "99999999999999999999999", "0x1"])
def test_a_header_that_is_not_an_id_of_the_users_is_org_not_found_without_stripe(
    header, owner, stripe_standin
):
    response = client_for(owner, header).post(PORTAL)
    assert_error(response, 404, "ORG_NOT_FOUND")
    assert stripe_standin.requests == []


def test_an_organization_the_user_is_not_in_or_an_inactive_one_answers_the_same(
    owner, make_organization, make_user, stripe_standin
):
    stranger_org = make_organization(name="Stranger")
    make_user(email="s@stranger.example.com", role="owner", organization=stranger_org)
    gone = make_organization(name="Gone", is_active=False)
    Membership.objects.create(user=owner, organization=gone, role="owner")
    bodies = []
    for header in (stranger_org.pk, gone.pk, 10**9):
        response = client_for(owner, header).post(PORTAL)
        bodies.append(assert_error(response, 404, "ORG_NOT_FOUND"))
    assert bodies[0] == bodies[1] == bodies[2]  # tells nothing about other organizations
    assert stripe_standin.requests == []


def test_the_checks_before_the_organization_come_first(owner, member, organization, api_client):
    assert_error(client_for(owner, "nope").get(PORTAL), 405, "METHOD_NOT_ALLOWED")
    api_client.credentials(HTTP_X_ORGANIZATION="nope")
    assert_error(api_client.post(PORTAL), 401, "UNAUTHORIZED")
    # The role is that of the organization named: a member there, though owner elsewhere.
    assert_error(client_for(member, organization).post(PORTAL), 403, "BILLING_PERMISSION_DENIED")


def test_a_user_with_one_organization_sees_the_same_with_or_without_the_header(
    owner, organization, stripe_standin
):
    without = client_for(owner).get("/subscriptions/my")
    with_header = client_for(owner, organization).get("/subscriptions/my")
    assert without.status_code == with_header.status_code == 200
    assert without.json() == with_header.json()


def test_the_role_follows_the_organization_named(two, owner, make_user, stripe_standin):
    acme, client = two
    Membership.objects.filter(user=owner, organization=client).update(role="member")
    assert client_for(owner, client).post(PORTAL).status_code == 403
    assert client_for(owner, acme).post(PORTAL).status_code == 200
    assert client_for(owner).post(PORTAL).status_code == 200  # the default: Acme


def test_buy_for_one_and_the_portal_for_the_other_each_customer_sees_only_its_own(two, owner, stripe_standin):
    stripe_standin.seed_demo_catalogue()
    acme, client = two
    bought = client_for(owner, acme).post(
        "/subscriptions/buy", {"subscriptionPeriodId": STARTER_MONTHLY}, format="json"
    )
    assert bought.status_code == 200, bought.content
    portal = client_for(owner, client).post(PORTAL)
    assert portal.status_code == 200, portal.content
    acme.refresh_from_db()
    client.refresh_from_db()
    assert acme.stripe_customer_id and client.stripe_customer_id
    assert acme.stripe_customer_id != client.stripe_customer_id
    assert CheckoutSession.objects.get().organization == acme

    checkout = stripe_standin.requests_to("POST", "/v1/checkout/sessions")
    assert {r.params["customer"] for r in checkout} == {acme.stripe_customer_id}
    portals = stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")
    assert {r.params["customer"] for r in portals} == {client.stripe_customer_id}
    created = stripe_standin.requests_to("POST", "/v1/customers")
    assert sorted(
        r.params["metadata"]["organization_id"] for r in created if r.path == "/v1/customers"
    ) == sorted([str(acme.pk), str(client.pk)])
    # Every call that names a customer names the one of the organization it was made for.
    for request in stripe_standin.requests:
        text = json.dumps([request.path, request.query, request.params])
        if request in checkout:
            assert client.stripe_customer_id not in text
        if request in portals:
            assert acme.stripe_customer_id not in text


def test_a_member_of_one_never_reads_or_acts_on_another(
    owner, organization, make_user, make_organization, stripe_standin
):
    other = make_organization(name="Other")
    other_owner = make_user(email="o@other.example.com", role="owner", organization=other)
    client_for(other_owner).post("/organizations/invitations", {"email": "x@example.com"}, format="json")
    # That invitation may read the plan list (member caps): the attacker's requests start here.
    before = len(stripe_standin.requests)
    attacker = client_for(owner, other)
    for method, path in [
        ("get", "/organizations/members"),
        ("get", "/organizations/invitations"),
        ("post", "/organizations/invitations"),
        ("get", "/subscriptions/my"),
        ("post", PORTAL),
        ("post", "/subscriptions/buy"),
        ("post", "/subscriptions/cancel"),
        ("get", "/subscriptions/payments"),
        ("get", "/subscriptions/pending-payment"),
        ("post", "/subscriptions/portal/payment-method"),
    ]:
        assert_error(getattr(attacker, method)(path), 404, "ORG_NOT_FOUND")
    other_membership = Membership.objects.get(user=other_owner)
    assert_error(attacker.delete(f"/organizations/members/{other_membership.pk}"), 404, "ORG_NOT_FOUND")
    # With its own organization named, another's ids are not found either.
    mine = client_for(owner, organization)
    assert_error(mine.delete(f"/organizations/members/{other_membership.pk}"), 404, "MEMBER_NOT_FOUND")
    assert Membership.objects.filter(user=other_owner).exists()
    assert stripe_standin.requests[before:] == []


def test_the_organization_costs_no_query_without_the_header_and_one_with_it(
    two, owner, django_assert_num_queries
):
    _, client = two
    without, with_header = client_for(owner), client_for(owner, client)
    # The user with the default membership and its organization (one join); the subscription.
    with django_assert_num_queries(2):
        assert without.get("/subscriptions/my").status_code == 200
    # The same, and the membership the header names (with its organization).
    with django_assert_num_queries(3):
        assert with_header.get("/subscriptions/my").status_code == 200
