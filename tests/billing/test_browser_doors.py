"""The browser's doors: the portal form never reaches Stripe without a CSRF token or a live
session, and the admin refuses anyone who is not staff."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from billing.models import PortalSession
from tests import figures
from tests.conftest import PASSWORD

PORTAL_FORM = "/billing/portal/"


def portal_calls(standin) -> list:
    return standin.requests_to("POST", "/v1/billing_portal/sessions") + standin.requests_to(
        "POST", "/v1/customers"
    )


def _csrf_client(user) -> tuple[Client, str]:
    """A browser that enforces CSRF like a real one, logged in, with its CSRF cookie."""
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")  # a page with a form sets the CSRF cookie
    client.force_login(user)
    return client, client.cookies["csrftoken"].value


@pytest.mark.django_db
def test_the_form_with_its_csrf_token_reaches_stripe(owner, stripe_standin):
    """The control: the same browser, with the token, does get its 303 to Stripe."""
    client, token = _csrf_client(owner)
    response = client.post(PORTAL_FORM, {"csrfmiddlewaretoken": token})
    assert response.status_code == 303, response.content[:500]
    assert response["Location"].startswith(stripe_standin.url)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "attack",
    ["no-token", "empty-token", "another-sessions-token", "header-token-without-cookie", "cross-origin"],
)
def test_the_portal_form_without_a_valid_csrf_token_never_reaches_stripe(
    attack, owner, make_user, organization, stripe_standin
):
    client, token = _csrf_client(owner)
    data: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if attack == "empty-token":
        data = {"csrfmiddlewaretoken": ""}
    elif attack == "another-sessions-token":
        _, other_token = _csrf_client(make_user(role="owner", organization=organization))
        data = {"csrfmiddlewaretoken": other_token}
    elif attack == "header-token-without-cookie":
        client.cookies.pop("csrftoken")
        extra = {"HTTP_X_CSRFTOKEN": token}
    elif attack == "cross-origin":
        data = {"csrfmiddlewaretoken": token}
        extra = {"HTTP_ORIGIN": "https://evil.example.com"}
    response = client.post(PORTAL_FORM, data, **extra)
    assert response.status_code == 403, response.content[:500]
    assert "text/html" in response["Content-Type"]
    assert portal_calls(stripe_standin) == []
    assert PortalSession.objects.count() == 0
    figures.count("browser", "forged portal form posts refused")


@pytest.mark.django_db
def test_the_portal_form_from_a_logged_out_browser_never_reaches_stripe(owner, stripe_standin):
    client, token = _csrf_client(owner)
    logout = client.post("/accounts/logout/", {"csrfmiddlewaretoken": token})
    assert logout.status_code == 302
    for attempt in (client, Client()):  # the logged-out session, and no session at all
        attempt.cookies["csrftoken"] = token
        response = attempt.post(PORTAL_FORM, {"csrfmiddlewaretoken": token})
        assert response.status_code in (302, 403), response.content[:500]
        if response.status_code == 302:
            assert response["Location"].startswith("/accounts/login/")
    assert portal_calls(stripe_standin) == []
    assert PortalSession.objects.count() == 0


@pytest.mark.django_db
def test_a_stolen_session_cookie_stops_working_at_logout(owner, stripe_standin):
    thief = Client()
    victim, token = _csrf_client(owner)
    thief.cookies["sessionid"] = victim.cookies["sessionid"].value
    victim.post("/accounts/logout/", {"csrfmiddlewaretoken": token})
    response = thief.post(PORTAL_FORM)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert portal_calls(stripe_standin) == []


@pytest.mark.django_db
def test_opening_the_form_url_does_not_reach_stripe(owner, stripe_standin):
    client = Client()
    client.force_login(owner)
    response = client.get(PORTAL_FORM)
    assert response.status_code == 405
    assert stripe_standin.requests_to("POST", "/v1/billing_portal/sessions") == []


@pytest.mark.django_db
def test_a_member_through_the_form_never_reaches_stripe(member, stripe_standin):
    client, token = _csrf_client(member)
    response = client.post(PORTAL_FORM, {"csrfmiddlewaretoken": token})
    assert response.status_code == 403, response.content[:500]
    assert portal_calls(stripe_standin) == []


# --- the admin -------------------------------------------------------------------------------


ADMIN_PAGES = [
    "/admin/",
    "/admin/accounts/user/",
    "/admin/organizations/organization/",
    "/admin/billing/portalsession/",
    "/admin/accounts/user/add/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_admin_pages_refuse_a_logged_in_non_staff_user(page, owner):
    client = Client()
    client.force_login(owner)
    response = client.get(page)
    assert response.status_code == 302, (page, response.status_code)
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_admin_login_refuses_a_non_staff_user_with_the_right_password(owner):
    client = Client()
    response = client.post("/admin/login/", {"username": owner.email, "password": PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_admin_login_refuses_an_inactive_staff_user(make_user):
    staff = make_user(is_staff=True, is_superuser=True, is_active=False)
    client = Client()
    client.post("/admin/login/", {"username": staff.email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_admin_post_without_staff_changes_nothing(owner, organization):
    client, token = _csrf_client(owner)
    response = client.post(
        f"/admin/organizations/organization/{organization.pk}/change/",
        {"csrfmiddlewaretoken": token, "name": "Hijacked", "stripe_customer_id": "cus_attacker"},
    )
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    organization.refresh_from_db()
    assert organization.name == "Acme Inc" and organization.stripe_customer_id is None
