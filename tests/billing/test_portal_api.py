"""POST /subscriptions/portal: every success and error case of the portal API, through the real stripe SDK
against the local stand-in."""

from __future__ import annotations

import logging
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from billing.models import PortalSession, StripeWrite
from organizations.models import Organization
from tests.assertions import assert_error, assert_not_logged
from tests.billing.keys import sent

URL = "/subscriptions/portal"


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


# --- success -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_reference_clients_exact_request_gets_a_portal_url(owner, organization, stripe_standin):
    """The TypeScript client: POST, no body, no Content-Type, Accept: application/json."""
    token = str(RefreshToken.for_user(owner).access_token)
    response = APIClient().generic(
        "POST", URL, HTTP_ACCEPT="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"success", "url"}
    assert body["success"] is True
    assert body["url"].startswith(f"{stripe_standin.url}/p/session/")

    organization.refresh_from_db()
    assert organization.stripe_customer_id and organization.stripe_customer_id.startswith("cus_")
    customers = stripe_standin.requests_to("POST", "/v1/customers")
    assert len(customers) == 1
    assert customers[0].params == {
        "name": "Acme Inc",
        "email": "billing@acme.example.com",
        "metadata": {"organization_id": str(organization.pk)},
    }
    (write,) = StripeWrite.objects.filter(organization=organization, subject="customer")
    assert customers[0].headers["idempotency-key"] == sent(write.idempotency_key)
    sessions = stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")
    assert len(sessions) == 1
    assert sessions[0].params == {
        "customer": organization.stripe_customer_id,
        "return_url": "http://127.0.0.1:8000/billing/",
    }
    assert sessions[0].headers["authorization"] == f"Bearer {settings.STRIPE_SECRET_KEY}"
    assert sessions[0].headers["stripe-version"] == "2026-10-28.endive"

    audit = PortalSession.objects.get()
    assert (audit.organization, audit.user, audit.source) == (organization, owner, "api")
    assert audit.stripe_session_id.startswith("bps_")
    assert body["url"] not in str(vars(audit))  # the URL is a credential: never stored


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["owner", "admin", "billing"])
def test_billing_roles_may_open_the_portal(make_user, organization, auth_client, role):
    user = make_user(role=role, organization=organization)
    response = auth_client(user).post(URL)
    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_trailing_slash_is_served_too(owner, auth_client):
    response = auth_client(owner).post(URL + "/")
    assert response.status_code == 200, response.content
    assert response.json()["success"] is True


@pytest.mark.django_db
def test_body_and_query_are_ignored(owner, organization, auth_client, make_organization, stripe_standin):
    other = make_organization(name="Other", stripe_customer_id="cus_other_org")
    response = auth_client(owner).post(
        f"{URL}?customer={other.stripe_customer_id}&organization_id={other.pk}&return_url=https://evil.example",
        {
            "customer": other.stripe_customer_id,
            "organization_id": other.pk,
            "return_url": "https://evil.example",
        },
        format="json",
        HTTP_X_ORGANIZATION_ID=str(other.pk),
    )
    assert response.status_code == 200, response.content
    organization.refresh_from_db()
    (session,) = stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")
    assert session.params["customer"] == organization.stripe_customer_id != other.stripe_customer_id
    assert session.params["return_url"] == settings.BILLING_PORTAL_RETURN_URL


@pytest.mark.django_db
def test_malformed_json_body_is_ignored_too(owner, auth_client):
    response = auth_client(owner).generic("POST", URL, "{not json", content_type="application/json")
    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_one_stripe_call_per_request_once_the_customer_exists(
    owner, organization, auth_client, stripe_standin
):
    client = auth_client(owner)
    assert client.post(URL).status_code == 200
    stripe_standin.reset_requests() if hasattr(stripe_standin, "reset_requests") else None
    before = len(stripe_standin.requests)
    response = client.post(URL)
    assert response.status_code == 200, response.content
    new = stripe_standin.requests[before:]
    assert [(r.method, r.path) for r in new] == [("POST", "/v1/billing_portal/sessions")]
    assert PortalSession.objects.count() == 2


@pytest.mark.django_db
def test_a_warm_request_makes_three_queries(
    owner, organization, auth_client, django_assert_num_queries, monkeypatch
):
    from core import ratelimit

    monkeypatch.setattr(ratelimit, "PRUNE_EVERY", 10**9)  # not the odd hit that also prunes
    client = auth_client(owner)
    assert client.post(URL).status_code == 200  # creates the customer
    # 1: user + membership + organization (one join); 2: the rate counter's upsert (the
    # embedded limiter keeps its counters in the database); 3: the audit row.
    with django_assert_num_queries(3):
        response = client.post(URL)
    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_portal_configuration_is_sent_when_set(owner, auth_client, stripe_standin, settings):
    settings.STRIPE_PORTAL_CONFIGURATION = "bpc_123"
    assert auth_client(owner).post(URL).status_code == 200
    (session,) = stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")
    assert session.params["configuration"] == "bpc_123"


@pytest.mark.django_db
def test_customer_email_falls_back_to_the_owner(make_organization, make_user, auth_client, stripe_standin):
    org = make_organization(name="No Billing Email")
    owner = make_user(email="boss@example.com", role="owner", organization=org)
    admin = make_user(role="admin", organization=org)
    assert auth_client(admin).post(URL).status_code == 200
    (customer,) = stripe_standin.requests_to("POST", "/v1/customers")
    assert customer.params["email"] == owner.email


@pytest.mark.django_db
def test_customer_deleted_in_stripe_is_recreated_once(owner, organization, auth_client, stripe_standin):
    organization.stripe_customer_id = "cus_deleted_in_stripe"
    organization.stripe_account_id = stripe_standin.account_id  # created in this very account
    organization.save()
    response = auth_client(owner).post(URL)
    assert response.status_code == 200, response.content
    organization.refresh_from_db()
    assert organization.stripe_customer_id != "cus_deleted_in_stripe"
    (created,) = stripe_standin.requests_to("POST", "/v1/customers")
    (write,) = StripeWrite.objects.filter(organization=organization, action="replace-cus_deleted_in_stripe")
    assert created.headers["idempotency-key"] == sent(write.idempotency_key)
    sessions = stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")
    assert [s.params["customer"] for s in sessions] == [
        "cus_deleted_in_stripe",
        organization.stripe_customer_id,
    ]


@pytest.mark.django_db
def test_customer_missing_again_after_recreation_is_an_internal_error(
    owner, organization, auth_client, stripe_standin
):
    organization.stripe_customer_id = "cus_gone"
    organization.stripe_account_id = stripe_standin.account_id
    organization.save()
    stripe_standin.add_fault("no_such_customer", method="POST", path_prefix="/v1/billing_portal/sessions")
    body = assert_error(auth_client(owner).post(URL), 500, "INTERNAL_ERROR")
    assert body["message"] == "Failed to create billing portal session"
    assert len(stripe_standin.requests_to("POST", "/v1/customers")) == 1  # re-created once, not in a loop


# --- authentication ------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_authorization_header(owner):
    response = APIClient().post(URL)
    assert_error(response, 401, "UNAUTHORIZED")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Basic b3duZXI6cGFzcw==", "Token abc", ""])
def test_other_schemes_count_as_absent(owner, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_error(client.post(URL), 401, "UNAUTHORIZED")


def _claims(user, **extra):
    token = AccessToken.for_user(user)
    return {**token.payload, **extra}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "make_header",
    [
        pytest.param(lambda u: "Bearer", id="no-token"),
        pytest.param(
            lambda u: f"Bearer {AccessToken.for_user(u)} {AccessToken.for_user(u)}", id="two-tokens"
        ),
        pytest.param(lambda u: "Bearer not.a.jwt", id="garbage"),
        pytest.param(
            lambda u: "Bearer " + jwt.encode(_claims(u), key="", algorithm="none"),  # type: ignore[arg-type]
            id="alg-none",
        ),
        pytest.param(
            lambda u: "Bearer " + jwt.encode(_claims(u), "another-key-" * 4, "HS256"), id="other-key"
        ),
        pytest.param(
            lambda u: "Bearer " + jwt.encode(_claims(u, exp=1), settings.SECRET_KEY, "HS256"), id="expired"
        ),
        pytest.param(lambda u: f"Bearer {RefreshToken.for_user(u)}", id="refresh-as-access"),
    ],
)
def test_invalid_tokens(owner, make_header, stripe_standin):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=make_header(owner))
    assert_error(client.post(URL), 401, "INVALID_TOKEN")
    assert stripe_standin.requests == []


@pytest.mark.django_db
def test_expired_token_by_lifetime(owner):
    token = AccessToken.for_user(owner)
    token.set_exp(lifetime=-timedelta(seconds=5))
    assert_error(bearer(str(token)).post(URL), 401, "INVALID_TOKEN")


@pytest.mark.django_db
def test_user_no_longer_exists(owner):
    token = str(AccessToken.for_user(owner))
    owner.delete()
    assert_error(bearer(token).post(URL), 404, "USER_NOT_FOUND")


@pytest.mark.django_db
def test_user_inactive(owner):
    token = str(AccessToken.for_user(owner))
    owner.is_active = False
    owner.save()
    assert_error(bearer(token).post(URL), 401, "USER_INACTIVE")


# --- organization, role ------------------------------------------------------------------


@pytest.mark.django_db
def test_user_without_organization(make_user, auth_client, stripe_standin):
    body = assert_error(auth_client(make_user()).post(URL), 400, "NO_ORGANIZATION")
    assert body["message"] == "User must belong to an organization"
    assert stripe_standin.requests == []


@pytest.mark.django_db
def test_inactive_organization_is_gone(owner, organization, auth_client, stripe_standin):
    Organization.objects.filter(pk=organization.pk).update(is_active=False)
    assert_error(auth_client(owner).post(URL), 404, "ORG_NOT_FOUND")
    assert stripe_standin.requests == []


@pytest.mark.django_db
def test_member_role_may_not_manage_billing(member, auth_client, stripe_standin):
    assert_error(auth_client(member).post(URL), 403, "BILLING_PERMISSION_DENIED")
    assert stripe_standin.requests == []
    assert PortalSession.objects.count() == 0


# --- method ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
def test_any_method_but_post_is_405_even_before_authentication(owner, auth_client, method):
    for client in (APIClient(), auth_client(owner)):
        response = client.generic(method, URL)
        assert response.status_code == 405, response.content
        if method != "HEAD":
            assert_error(response, 405, "METHOD_NOT_ALLOWED")


# --- rate -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rate_limit_per_user(owner, organization, make_user, auth_client, settings, ratelimit_clock):
    settings.BILLING_PORTAL_RATE = "3/min"
    client = auth_client(owner)
    for _ in range(3):
        assert client.post(URL).status_code == 200
    response = client.post(URL)
    assert_error(response, 429, "RATE_LIMITED")
    assert response["Retry-After"] == "60"  # the whole window: the first hit was just now
    ratelimit_clock.advance(20.5)
    assert client.post(URL)["Retry-After"] == "40"  # 39.5 s left, rounded up
    ratelimit_clock.advance(39.5)
    assert client.post(URL).status_code == 200  # the first hit has left the window
    other = make_user(role="admin", organization=organization)
    assert auth_client(other).post(URL).status_code == 200  # per user, not per organization
    assert PortalSession.objects.count() == 5


@pytest.mark.django_db
def test_refused_requests_do_not_count_toward_the_rate(member, auth_client, settings):
    settings.BILLING_PORTAL_RATE = "2/min"
    client = auth_client(member)
    for _ in range(5):
        assert client.post(URL).status_code == 403
    member.memberships.update(role="billing")
    assert client.post(URL).status_code == 200
    assert client.post(URL).status_code == 200
    assert client.post(URL).status_code == 429


# --- Stripe failures ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "attempts_made"),
    [("500", 2), ("drop", 2), ("429", 1)],  # max_network_retries=1; the SDK does not retry a 429
)
def test_stripe_failing_after_retries_is_503(
    owner, organization, auth_client, stripe_standin, kind, attempts_made
):
    organization.stripe_customer_id = stripe_standin.create_customer(name="Acme Inc")["id"]
    organization.save()
    stripe_standin.add_fault(kind, path_prefix="/v1/billing_portal/sessions")
    response = auth_client(owner).post(URL)
    assert_error(response, 503, "BILLING_UNAVAILABLE")
    assert response["Retry-After"] == "5"  # BillingUnavailable.retry_after
    attempts = stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")
    assert len(attempts) == attempts_made, [(a.status, a.fault) for a in attempts]
    assert PortalSession.objects.count() == 0


@pytest.mark.django_db
def test_stripe_recovering_within_the_clients_retries_succeeds(owner, auth_client, stripe_standin):
    stripe_standin.add_fault("500", path_prefix="/v1/billing_portal/sessions", times=1)
    response = auth_client(owner).post(URL)
    assert response.status_code == 200, response.content
    assert len(stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")) == 2


@pytest.mark.django_db
def test_stripe_timing_out_is_503(owner, auth_client, stripe_standin, settings):
    settings.STRIPE_TIMEOUT_SECONDS = 0.3
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    stripe_standin.add_fault("latency", latency_ms=1500, path_prefix="/v1/customers")
    assert_error(auth_client(owner).post(URL), 503, "BILLING_UNAVAILABLE")


@pytest.mark.django_db
def test_stripe_unreachable_is_503(owner, auth_client, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # the discard port: nothing listens
    assert_error(auth_client(owner).post(URL), 503, "BILLING_UNAVAILABLE")


@pytest.mark.django_db
def test_no_stripe_key_is_not_configured(owner, auth_client, settings, stripe_standin):
    settings.STRIPE_SECRET_KEY = ""
    assert_error(auth_client(owner).post(URL), 500, "BILLING_NOT_CONFIGURED")
    assert stripe_standin.requests == []


@pytest.mark.django_db
def test_key_rejected_by_stripe_is_not_configured(owner, auth_client, stripe_standin):
    stripe_standin.add_fault("401")
    assert_error(auth_client(owner).post(URL), 500, "BILLING_NOT_CONFIGURED")


@pytest.mark.django_db
def test_malformed_key_rejected_by_stripe_is_not_configured(owner, auth_client, settings):
    settings.STRIPE_SECRET_KEY = "pk_test_publishable_key_by_mistake"
    assert_error(auth_client(owner).post(URL), 500, "BILLING_NOT_CONFIGURED")


@pytest.mark.django_db
def test_no_portal_configuration_saved_is_not_configured(owner, auth_client, stripe_standin):
    stripe_standin.set_portal_configured(False)
    body = assert_error(auth_client(owner).post(URL), 500, "BILLING_NOT_CONFIGURED")
    assert "portal" in body["message"]


@pytest.mark.django_db
def test_unexpected_failure_is_internal_error(owner, auth_client, monkeypatch):
    from billing import stripe_gateway

    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(stripe_gateway, "portal_session_create", explode)
    body = assert_error(auth_client(owner).post(URL), 500, "INTERNAL_ERROR")
    assert body["message"] == "Failed to create billing portal session"


# --- the rest of the path's errors are JSON too ---------------------------------------------


@pytest.mark.django_db
def test_unknown_subscription_paths_answer_json(api_client):
    response = api_client.post("/subscriptions/portalx")
    assert_error(response, 404, "NOT_FOUND")


# --- logs -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_logs_carry_events_but_no_token_or_url(owner, auth_client, caplog):
    caplog.set_level(logging.DEBUG)
    client = auth_client(owner)
    token = client._credentials["HTTP_AUTHORIZATION"].split()[1]
    response = client.post(URL)
    url = response.json()["url"]
    events = [r.getMessage() for r in caplog.records]
    assert "billing.customer_created" in events
    assert "billing.portal_session_created" in events
    assert_not_logged(caplog.records, token, url, settings.STRIPE_SECRET_KEY)
