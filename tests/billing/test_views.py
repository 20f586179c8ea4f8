"""The billing page and its "Manage billing" button, through Django's test client.

Every page state and every billing error: the message a person reads, the status code, and
never a JSON body. Stripe is the local stand-in, reached over real HTTP.
"""

from __future__ import annotations

import html as htmllib
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from billing.models import PortalSession
from billing.presenters import page_message
from tests.assertions import assert_not_logged
from tests.conftest import PASSWORD
from tests.factories import SubscriptionFactory

PAGE = "/billing/"
PORTAL = "/billing/portal/"
SESSIONS = "/v1/billing_portal/sessions"


def html(response) -> str:
    """The response as a page a person sees: HTML, never the API's JSON envelope."""
    assert response["Content-Type"].startswith("text/html"), (response["Content-Type"], response.content)
    body = response.content.decode()
    assert '"success"' not in body and '"error_code"' not in body, body
    assert body.lstrip().lower().startswith("<!doctype html>"), body[:200]
    return body


def text(body: str) -> str:
    """The page's visible text, tags stripped and spaces collapsed, for matching sentences."""
    visible = htmllib.unescape(re.sub(r"<[^>]+>", " ", body))
    return re.sub(r"\s+", " ", visible).replace(" .", ".").strip()


def button(body: str) -> str:
    match = re.search(r'<button[^>]*id="manage-billing"[^>]*>', body)
    assert match, body
    return match.group(0)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- who may see the page ------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_is_sent_to_the_login_page_and_back(client, stripe_standin):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/billing/"


@pytest.mark.django_db
def test_anonymous_post_to_the_button_goes_to_login_then_to_the_page(client, stripe_standin):
    response = client.post(PORTAL)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/billing/"
    assert stripe_standin.requests == []


@pytest.mark.django_db
def test_login_page_has_the_apps_look(client):
    response = client.get("/accounts/login/?next=/billing/")
    assert response.status_code == 200
    body = html(response)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in body
    assert 'href="/static/css/app.css"' in body
    assert 'name="csrfmiddlewaretoken"' in body
    assert 'name="next" value="/billing/"' in body


@pytest.mark.django_db
def test_logging_in_with_the_form_returns_to_the_billing_page(client, owner):
    response = client.post(
        "/accounts/login/", {"username": "OWNER@acme.example.com", "password": PASSWORD, "next": PAGE}
    )
    assert response.status_code == 302, response.content
    assert response["Location"] == PAGE
    assert "Acme Inc" in html(client.get(PAGE))


@pytest.mark.django_db
def test_wrong_password_is_a_message_on_the_login_page(client, owner):
    response = client.post("/accounts/login/", {"username": owner.email, "password": "wrong", "next": PAGE})
    assert response.status_code == 200
    body = html(response)
    assert 'id="login-error"' in body
    assert "Please enter a correct email and password" in text(body)


@pytest.mark.django_db
def test_log_out_is_a_post_and_returns_to_login(owner):
    client = logged_in(owner)
    assert 'action="/accounts/logout/"' in html(client.get(PAGE))
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert client.get(PAGE).status_code == 302


@pytest.mark.django_db
def test_stylesheet_is_served_by_the_app():
    response = Client().get("/static/css/app.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")


# --- page states ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_owner_without_subscription(owner, organization):
    response = logged_in(owner).get(PAGE)
    assert response.status_code == 200
    body = html(response)
    page = text(body)
    assert "<h1" in body and "Acme Inc" in page
    assert 'id="role">Owner<' in body
    assert "No subscription yet" in page
    assert "disabled" not in button(body)
    assert f'action="{PORTAL}"' in body and 'name="csrfmiddlewaretoken"' in body
    assert "billing@acme.example.com" in page
    assert response["Cache-Control"].startswith("max-age=0")
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_page_loads_no_asset_from_elsewhere_and_needs_no_javascript(owner):
    body = html(logged_in(owner).get(PAGE))
    assert "<script" not in body
    assert not re.search(r'(src|href)="(https?:)?//', body), body
    assert '<meta name="viewport"' in body


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["owner", "admin", "billing"])
def test_roles_that_may_manage_billing_get_the_button(make_user, organization, role):
    user = make_user(role=role, organization=organization)
    body = html(logged_in(user).get(PAGE))
    assert f'id="role">{role.title()}<' in body
    assert "disabled" not in button(body)


@pytest.mark.django_db
def test_member_sees_the_button_disabled_and_why(member):
    response = logged_in(member).get(PAGE)
    assert response.status_code == 200
    body = html(response)
    assert 'id="role">Member<' in body
    assert "disabled" in button(body)
    assert 'aria-describedby="manage-billing-reason"' in button(body)
    assert "Only your organization's owner, admins and billing managers can manage billing" in text(body)
    assert "No subscription yet" in text(body)  # members may still see the plan


@pytest.mark.django_db
def test_user_without_an_organization(make_user):
    response = logged_in(make_user()).get(PAGE)
    assert response.status_code == 200
    body = html(response)
    assert "No organization" in text(body)
    assert "doesn't belong to an organization" in text(body)
    assert "disabled" in button(body)
    assert "Subscription" not in text(body)


@pytest.mark.django_db
def test_inactive_organization(owner, organization):
    organization.is_active = False
    organization.save()
    response = logged_in(owner).get(PAGE)
    assert response.status_code == 200
    body = html(response)
    assert "no longer active" in text(body)
    assert "disabled" in button(body)
    assert "Subscription" not in text(body)


@pytest.mark.django_db
def test_offline_demo_notice_only_with_the_stand_in(owner, settings):
    assert "Offline demo: Stripe is a local stand-in" in text(html(logged_in(owner).get(PAGE)))
    settings.STRIPE_API_BASE = ""
    assert "Offline demo" not in text(html(logged_in(owner).get(PAGE)))


@pytest.mark.django_db
def test_active_subscription_renews(owner, organization):
    end = timezone.now() + timedelta(days=20)
    SubscriptionFactory.create(organization=organization, quantity=3, current_period_end=end)
    body = html(logged_in(owner).get(PAGE))
    page = text(body)
    assert "prod_pro" in page and "price_pro_monthly" in page and "\N{MULTIPLICATION SIGN} 3" in page
    assert 'id="status">Active<' in body
    assert f"Renews on {end:%B} {end.day}, {end.year}" in page
    assert "No subscription yet" not in page
    assert "Cancels on" not in page


@pytest.mark.django_db
def test_subscription_set_to_cancel_at_period_end(owner, organization):
    end = timezone.now() + timedelta(days=20)
    SubscriptionFactory.create(organization=organization, cancel_at_period_end=True, current_period_end=end)
    page = text(html(logged_in(owner).get(PAGE)))
    assert f"Cancels on {end:%B} {end.day}, {end.year}" in page
    assert "Renews on" not in page


@pytest.mark.django_db
def test_canceled_subscription(owner, organization):
    canceled_at = timezone.now() - timedelta(days=2)
    SubscriptionFactory.create(organization=organization, status="canceled", canceled_at=canceled_at)
    body = html(logged_in(owner).get(PAGE))
    assert 'id="status">Canceled<' in body
    assert f"Canceled on {canceled_at:%B} {canceled_at.day}, " in text(body)
    assert "Renews on" not in text(body)


@pytest.mark.django_db
def test_trialing_subscription_shows_the_trial_end(owner, organization):
    trial_end = timezone.now() + timedelta(days=7)
    SubscriptionFactory.create(
        organization=organization, status="trialing", trial_end=trial_end, current_period_end=trial_end
    )
    body = html(logged_in(owner).get(PAGE))
    assert 'id="status">Trialing<' in body
    assert f"Trial ends on {trial_end:%B} {trial_end.day}, " in text(body)


@pytest.mark.django_db
def test_past_due_subscription(owner, organization):
    SubscriptionFactory.create(organization=organization, status="past_due")
    body = html(logged_in(owner).get(PAGE))
    assert 'id="status">Past due<' in body


@pytest.mark.django_db
def test_current_subscription_is_the_live_one(owner, organization):
    SubscriptionFactory.create(
        organization=organization, stripe_subscription_id="sub_old", status="canceled", product="prod_old"
    )
    SubscriptionFactory.create(
        organization=organization, stripe_subscription_id="sub_new", status="active", product="prod_new"
    )
    page = text(html(logged_in(owner).get(PAGE)))
    assert "prod_new" in page and "prod_old" not in page


@pytest.mark.django_db
def test_page_is_html_escaped(make_user, make_organization):
    organization = make_organization(name="<script>alert(1)</script> & Co")
    user = make_user(role="owner", organization=organization)
    body = html(logged_in(user).get(PAGE))
    assert "<script>alert(1)" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in body


# --- the button ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_manage_billing_redirects_to_the_portal_with_303(owner, organization, stripe_standin):
    response = logged_in(owner).post(PORTAL)
    assert response.status_code == 303, response.content
    assert response["Location"].startswith(f"{stripe_standin.url}/p/session/")
    assert "no-store" in response["Cache-Control"]
    audit = PortalSession.objects.get()
    assert (audit.organization, audit.user, audit.source) == (organization, owner, "web")
    (session,) = stripe_standin.requests_to("POST", SESSIONS)
    assert session.params["return_url"] == "http://127.0.0.1:8000/billing/"


@pytest.mark.django_db
def test_portal_session_is_logged_without_its_url(owner, caplog):
    with caplog.at_level("INFO", logger="billing"):
        response = logged_in(owner).post(PORTAL)
    (event,) = [r for r in caplog.records if r.getMessage() == "billing.portal_session_created"]
    assert event.source == "web"
    assert_not_logged(caplog.records, response["Location"])  # the URL is a credential


@pytest.mark.django_db
def test_csrf_is_enforced_and_stripe_never_reached(owner, stripe_standin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(PORTAL)
    assert response.status_code == 403
    body = html(response)
    assert "Please try again" in text(body)
    assert stripe_standin.requests == []
    assert PortalSession.objects.count() == 0


@pytest.mark.django_db
def test_the_pages_own_form_passes_csrf(owner, stripe_standin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    body = html(client.get(PAGE))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    assert token, body
    response = client.post(PORTAL, {"csrfmiddlewaretoken": token.group(1)})
    assert response.status_code == 303, response.content


@pytest.mark.django_db
def test_opening_the_button_url_shows_the_page(owner, stripe_standin):
    response = logged_in(owner).get(PORTAL)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    body = html(response)
    assert "Acme Inc" in text(body)
    assert "use the “Manage billing” button" in text(body)
    assert stripe_standin.requests_to("POST", SESSIONS) == []


def assert_error_page(response, status: int, message: str) -> str:
    """The user stays on the billing page, which says what went wrong, under the error's status."""
    assert response.status_code == status, response.content
    body = html(response)
    assert message in text(body), text(body)
    assert 'id="manage-billing"' in body  # the page itself, with its button
    assert "Location" not in response
    return body


@pytest.mark.django_db
def test_no_organization_error(make_user, stripe_standin):
    response = logged_in(make_user()).post(PORTAL)
    assert_error_page(response, 400, "doesn't belong to an organization")
    assert stripe_standin.requests == []


@pytest.mark.django_db
def test_organization_gone_error(owner, organization, stripe_standin):
    organization.is_active = False
    organization.save()
    response = logged_in(owner).post(PORTAL)
    assert_error_page(response, 404, "no longer active")
    assert stripe_standin.requests == []


@pytest.mark.django_db
def test_member_error_keeps_the_button_disabled(member, stripe_standin):
    response = logged_in(member).post(PORTAL)
    body = assert_error_page(response, 403, "can manage billing")
    assert "disabled" in button(body)
    # Said once, next to the disabled button, not twice.
    assert text(body).count("Only your organization's owner") == 1
    assert stripe_standin.requests == []


@pytest.mark.django_db
def test_rate_limited_error(owner, settings, ratelimit_clock):
    settings.BILLING_PORTAL_RATE = "1/min"
    client = logged_in(owner)
    assert client.post(PORTAL).status_code == 303
    ratelimit_clock.advance(15.2)
    response = client.post(PORTAL)
    body = assert_error_page(response, 429, "many times in a short while")
    assert response["Retry-After"] == "45"  # 44.8 s left, rounded up
    assert "wait 45 second" in text(body)
    assert 'data-error-code="RATE_LIMITED"' in body


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["500", "429", "drop"])
def test_stripe_unavailable_error(owner, organization, stripe_standin, kind):
    organization.stripe_customer_id = stripe_standin.create_customer(name="Acme Inc")["id"]
    organization.save()
    stripe_standin.add_fault(kind, path_prefix=SESSIONS)
    response = logged_in(owner).post(PORTAL)
    body = assert_error_page(response, 503, "Please try again in a moment")
    assert response["Retry-After"] == "5"  # BillingUnavailable.retry_after
    assert 'data-error-code="BILLING_UNAVAILABLE"' in body
    assert 'role="alert"' in body
    assert "disabled" not in button(body)  # trying again is the point
    assert PortalSession.objects.count() == 0


@pytest.mark.django_db
def test_stripe_unreachable_error(owner, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # the discard port: nothing listens
    assert_error_page(logged_in(owner).post(PORTAL), 503, "try again in a moment")


@pytest.mark.django_db
def test_no_stripe_key_error(owner, settings, stripe_standin):
    settings.STRIPE_SECRET_KEY = ""
    response = logged_in(owner).post(PORTAL)
    body = assert_error_page(response, 500, "Billing isn't set up on this server yet")
    assert "Retry-After" not in response
    assert "no Stripe key" not in body  # operators' detail stays in the logs
    assert stripe_standin.requests == []


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["401", "portal_not_configured"])
def test_stripe_not_configured_error(owner, stripe_standin, kind):
    stripe_standin.add_fault(kind)
    assert_error_page(logged_in(owner).post(PORTAL), 500, "Billing isn't set up on this server yet")


@pytest.mark.django_db
def test_unexpected_billing_error(owner, organization, stripe_standin):
    organization.stripe_customer_id = "cus_gone"
    organization.stripe_account_id = stripe_standin.account_id
    organization.save()
    stripe_standin.add_fault("no_such_customer", method="POST", path_prefix=SESSIONS)
    body = assert_error_page(
        logged_in(owner).post(PORTAL), 500, "Something went wrong while opening the billing portal"
    )
    assert 'data-error-code="INTERNAL_ERROR"' in body


@pytest.mark.django_db
def test_error_page_still_shows_what_the_app_knows(owner, organization, stripe_standin):
    SubscriptionFactory.create(organization=organization)
    stripe_standin.add_fault("500", path_prefix="/v1/customers")
    body = assert_error_page(logged_in(owner).post(PORTAL), 503, "try again in a moment")
    assert "prod_pro" in text(body)


def test_every_billing_error_has_a_page_message():
    from billing import errors
    from organizations.errors import NoOrganization, OrganizationNotFound

    for cls in (
        NoOrganization,
        OrganizationNotFound,
        errors.BillingPermissionDenied,
        errors.RateLimited,
        errors.BillingUnavailable,
        errors.BillingNotConfigured,
        errors.BillingError,
    ):
        message = page_message(cls(retry_after=3))
        assert message and "{" not in message, (cls, message)
        assert "_" not in message, (cls, message)  # no error codes shown to people


# --- Django's own error pages are HTML on the site -----------------------------------------


@pytest.mark.django_db
def test_unknown_page_is_an_html_404(owner):
    response = logged_in(owner).get("/billing/nope/")
    assert response.status_code == 404
    assert "Page not found" in text(html(response))


def test_server_error_page_is_self_contained_html(rf):
    from core.api_errors import handler500

    response = handler500(rf.get("/billing/"))
    assert response.status_code == 500
    assert "Something went wrong" in text(html(response))


# --- back from the portal: the page shows what changed there -------------------------------


@pytest.mark.django_db
def test_page_refreshes_the_subscription_after_a_portal_visit(owner, organization, stripe_standin):
    client = logged_in(owner)
    assert client.post(PORTAL).status_code == 303
    organization.refresh_from_db()
    # In the portal, the customer subscribes (before any webhook could arrive).
    stripe_standin.create_subscription(customer=organization.stripe_customer_id, product="prod_team")
    page = text(html(client.get(PAGE)))
    assert "prod_team" in page and "Renews on" in page
    assert len(stripe_standin.requests_to("GET", "/v1/subscriptions")) == 1
    client.get(PAGE)
    assert len(stripe_standin.requests_to("GET", "/v1/subscriptions")) == 1  # once per portal visit


@pytest.mark.django_db
def test_page_still_renders_when_stripe_fails_during_the_refresh(owner, organization, stripe_standin):
    client = logged_in(owner)
    assert client.post(PORTAL).status_code == 303
    SubscriptionFactory.create(organization=organization)
    stripe_standin.add_fault("500")
    response = client.get(PAGE)
    assert response.status_code == 200
    assert "prod_pro" in text(html(response))  # what the app last knew


@pytest.mark.django_db
def test_page_makes_a_known_small_number_of_queries(owner, organization, django_assert_num_queries):
    organization.stripe_customer_id = "cus_known"
    organization.save()
    SubscriptionFactory.create(organization=organization)
    client = logged_in(owner)
    # session, user, the user's memberships with their organizations (one query, the header's
    # switcher reads them too), "portal visit to sync?", current subscription
    with django_assert_num_queries(5):
        assert client.get(PAGE).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "status", "sentence"),
    [
        ("/billing/cancel/", 500, "Something went wrong while canceling your subscription."),
        (PORTAL, 500, "so opening the billing portal isn't possible"),
        ("/billing/payment-method/", 500, "so opening the payment method page isn't possible"),
    ],
)
def test_a_failure_names_the_button_that_met_it(owner, organization, stripe_standin, url, status, sentence):
    organization.stripe_customer_id = "cus_gone"
    organization.save()
    SubscriptionFactory.create(organization=organization)
    stripe_standin.add_fault("no_such_customer", method="POST", path_prefix="/v1/")
    assert_error_page(logged_in(owner).post(url), status, sentence)
