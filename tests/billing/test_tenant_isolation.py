"""A user of one organization never gets a portal session for another organization's customer,
whatever ids the request carries. Asserted on what the Stripe stand-in received: the other
customer's id appears in no request to Stripe at all."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from billing.models import PortalSession
from tests import figures
from tests.conftest import access_token_for

PORTAL = "/subscriptions/portal"


@pytest.fixture
def victim(make_organization, make_user, stripe_standin):
    """Another organization with a real (stand-in) customer and an owner of its own."""
    customer = stripe_standin.create_customer(name="Victim Corp")
    org = make_organization(name="Victim Corp", stripe_customer_id=customer["id"])
    owner = make_user(email="owner@victim.example.com", role="owner", organization=org)
    return org, owner


def _attack_params(victim_org, victim_owner) -> dict[str, str]:
    return {
        "customer": victim_org.stripe_customer_id,
        "customer_id": victim_org.stripe_customer_id,
        "stripe_customer_id": victim_org.stripe_customer_id,
        "organization": str(victim_org.pk),
        "organization_id": str(victim_org.pk),
        "org_id": str(victim_org.pk),
        "user_id": str(victim_owner.pk),
        "return_url": "https://evil.example.com/steal",
        "configuration": "bpc_attacker",
    }


def _attack_headers(victim_org, victim_owner) -> dict[str, Any]:
    return {
        "HTTP_X_ORGANIZATION_ID": str(victim_org.pk),
        "HTTP_X_ORG_ID": str(victim_org.pk),
        "HTTP_X_CUSTOMER_ID": victim_org.stripe_customer_id,
        "HTTP_X_USER_ID": str(victim_owner.pk),
        "HTTP_X_FORWARDED_USER": victim_owner.email,
        "HTTP_STRIPE_ACCOUNT": "acct_attacker",
        "HTTP_X_HTTP_METHOD_OVERRIDE": "PUT",
    }


def assert_stripe_only_saw(standin, own_customer: str, victim_customer: str) -> None:
    seen = standin.requests
    assert seen, "the request never reached the stand-in"
    for request in seen:
        text = json.dumps([request.path, request.query, request.params])
        assert victim_customer not in text, request
        assert "acct_attacker" not in json.dumps(request.headers), request.headers
        assert "bpc_attacker" not in text and "evil.example.com" not in text, request
    sessions = standin.requests_to("POST", "/v1/billing_portal/sessions")
    assert {s.params["customer"] for s in sessions} == {own_customer}


VARIANTS = ["json-body", "form-body", "query", "headers", "everything-at-once", "json-array-body"]


@pytest.mark.django_db
@pytest.mark.parametrize("variant", VARIANTS)
def test_the_api_ignores_every_id_the_request_carries(variant, owner, organization, victim, stripe_standin):
    victim_org, victim_owner = victim
    params = _attack_params(victim_org, victim_owner)
    headers = (
        _attack_headers(victim_org, victim_owner) if variant in ("headers", "everything-at-once") else {}
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(owner)}")
    query = (
        "?" + "&".join(f"{k}={v}" for k, v in params.items())
        if variant in ("query", "everything-at-once")
        else ""
    )
    if variant in ("json-body", "everything-at-once"):
        response = client.post(PORTAL + query, params, format="json", **headers)
    elif variant == "form-body":
        response = client.post(PORTAL, params, format="multipart")
    elif variant == "json-array-body":
        response = client.generic("POST", PORTAL, json.dumps([params]), content_type="application/json")
    else:
        response = client.post(PORTAL + query, **headers)
    assert response.status_code == 200, response.content
    organization.refresh_from_db()
    assert_stripe_only_saw(stripe_standin, organization.stripe_customer_id, victim_org.stripe_customer_id)
    assert PortalSession.objects.filter(organization=victim_org).count() == 0
    victim_org.refresh_from_db()
    assert victim_org.stripe_customer_id == stripe_standin.customers[0]["id"]  # untouched
    figures.count("tenant isolation", "requests carrying another organization's ids")


@pytest.mark.django_db
def test_the_victims_id_in_the_path_is_not_a_route(owner, victim, stripe_standin):
    victim_org, _ = victim
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(owner)}")
    for path in (f"{PORTAL}/{victim_org.stripe_customer_id}", f"{PORTAL}/{victim_org.pk}/"):
        response = client.post(path)
        assert response.status_code == 404 and response.json()["error_code"] == "NOT_FOUND", response.content
    assert stripe_standin.requests == []


@pytest.mark.django_db
def test_the_api_does_not_take_the_victims_browser_session(owner, victim, stripe_standin):
    """A session cookie is no credential for the API (it would need CSRF protection)."""
    victim_org, victim_owner = victim
    client = APIClient()
    client.force_login(victim_owner)
    response = client.post(PORTAL)
    assert response.status_code == 401 and response.json()["error_code"] == "UNAUTHORIZED", response.content
    # With the attacker's own token too: the token's user, not the cookie's, is served.
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(owner)}")
    assert client.post(PORTAL).status_code == 200
    own = owner.memberships.get().organization
    assert_stripe_only_saw(stripe_standin, own.stripe_customer_id, victim_org.stripe_customer_id)


@pytest.mark.django_db
def test_the_form_ignores_ids_in_its_fields(owner, organization, victim, stripe_standin):
    victim_org, victim_owner = victim
    client = Client()
    client.force_login(owner)
    response = client.post(
        "/billing/portal/?"
        + "&".join(f"{k}={v}" for k, v in _attack_params(victim_org, victim_owner).items()),
        _attack_params(victim_org, victim_owner),
        **_attack_headers(victim_org, victim_owner),
    )
    assert response.status_code == 303, response.content[:500]
    organization.refresh_from_db()
    assert_stripe_only_saw(stripe_standin, organization.stripe_customer_id, victim_org.stripe_customer_id)


@pytest.mark.django_db
def test_a_token_follows_its_user_not_the_organization_it_was_minted_in(
    owner, organization, make_organization, stripe_standin
):
    """The token names a user; the organization is read on every request. A user moved out
    of an organization loses its billing at once, token or no token."""
    token = access_token_for(owner)
    elsewhere = make_organization(name="Elsewhere")
    owner.memberships.update(organization=elsewhere)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.post(PORTAL).status_code == 200
    elsewhere.refresh_from_db()
    organization.refresh_from_db()
    sessions = stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")
    assert [s.params["customer"] for s in sessions] == [elsewhere.stripe_customer_id]
    assert organization.stripe_customer_id is None
    owner.memberships.all().delete()
    response = client.post(PORTAL)
    assert response.status_code == 400 and response.json()["error_code"] == "NO_ORGANIZATION"
