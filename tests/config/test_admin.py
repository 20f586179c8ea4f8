"""Every admin page loads for a superuser (cookiecutter-django's smoke test, for every model)."""

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from billing.models import CheckoutSession, PortalSession, Subscription, WebhookEvent
from organizations.models import Membership, Organization

REGISTERED = sorted((model._meta.app_label, model._meta.model_name) for model in admin.site._registry)


@pytest.fixture
def populated(owner, member, organization):
    organization.stripe_customer_id = "cus_admin_smoke"
    organization.save()
    PortalSession.objects.create(
        organization=organization,
        user=owner,
        stripe_session_id="bps_1",
        stripe_customer_id="cus_admin_smoke",
        source="api",
    )
    now = timezone.now()
    Subscription.objects.create(
        organization=organization,
        stripe_subscription_id="sub_admin_smoke",
        status="active",
        price_id="price_pro",
        product="prod_pro",
        quantity=1,
        current_period_end=now + timedelta(days=30),
        stripe_created=now,
        state_at=now,
        synced_at=now,
    )
    WebhookEvent.objects.create(stripe_event_id="evt_admin_smoke", type="customer.subscription.created")
    CheckoutSession.objects.create(
        organization=organization,
        user=owner,
        price_id="price_pro",
        product_id="prod_pro",
        stripe_session_id="cs_test_admin_smoke",
        status="open",
        amount=4900,
        currency="usd",
        expires_at=now + timedelta(hours=23),
    )


def test_every_model_is_registered():
    assert {
        ("accounts", "user"),
        ("organizations", "organization"),
        ("organizations", "membership"),
        ("billing", "portalsession"),
        ("billing", "subscription"),
        ("billing", "webhookevent"),
        ("billing", "checkoutsession"),
    } <= set(REGISTERED)


@pytest.mark.django_db
@pytest.mark.parametrize(("app_label", "model_name"), REGISTERED)
def test_changelist_add_and_change_pages_load(admin_client, populated, app_label, model_name):
    model = next(
        m for m in admin.site._registry if (m._meta.app_label, m._meta.model_name) == (app_label, model_name)
    )
    changelist = admin_client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    assert changelist.status_code == 200, changelist.content[:500]
    search = admin_client.get(reverse(f"admin:{app_label}_{model_name}_changelist"), {"q": "acme"})
    assert search.status_code == 200
    model_admin = admin.site._registry[model]
    add = admin_client.get(reverse(f"admin:{app_label}_{model_name}_add"))
    expected_add = 200 if model_admin.has_add_permission(add.wsgi_request) else 403
    assert add.status_code == expected_add
    obj = model._default_manager.first()
    if obj is not None:
        change = admin_client.get(reverse(f"admin:{app_label}_{model_name}_change", args=[obj.pk]))
        assert change.status_code == 200, change.content[:500]


@pytest.mark.django_db
def test_admin_creates_a_user_by_email(admin_client):
    from accounts.models import User

    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "new@example.com",
            "password1": "a-Long-pass-1234",
            "password2": "a-Long-pass-1234",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert User.objects.get(email="new@example.com").check_password("a-Long-pass-1234")


@pytest.mark.django_db
def test_admin_refuses_non_staff(client, owner):
    client.force_login(owner)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


# --- billing in the admin ------------------------------------------------------------------


class _FormFields(HTMLParser):
    """What a browser would submit from the admin's change form (inputs, selects, textareas)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "checkbox", "file"):
            self.data[name] = a.get("value", "")
        elif tag == "input" and name and a.get("type") == "checkbox" and "checked" in a:
            self.data[name] = a.get("value", "on")
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea] += data


def form_data(response) -> dict[str, str]:
    parser = _FormFields()
    parser.feed(response.content.decode())
    return parser.data


def org_change_url(organization: Organization) -> str:
    return reverse("admin:organizations_organization_change", args=[organization.pk])


@pytest.mark.django_db
def test_organization_links_its_stripe_customer_to_the_test_dashboard(admin_client, populated, organization):
    body = admin_client.get(org_change_url(organization)).content.decode()
    assert 'href="https://dashboard.stripe.com/test/customers/cus_admin_smoke"' in body
    assert 'rel="noopener noreferrer"' in body
    changelist = admin_client.get(reverse("admin:organizations_organization_changelist")).content.decode()
    assert "https://dashboard.stripe.com/test/customers/cus_admin_smoke" in changelist


@pytest.mark.django_db
def test_live_key_links_to_the_live_dashboard(admin_client, populated, organization, settings):
    settings.STRIPE_SECRET_KEY = "sk_live_0000"
    body = admin_client.get(org_change_url(organization)).content.decode()
    assert 'href="https://dashboard.stripe.com/customers/cus_admin_smoke"' in body


@pytest.mark.django_db
def test_organization_without_customer_yet(admin_client, make_organization):
    organization = make_organization(name="Fresh")
    response = admin_client.get(org_change_url(organization))
    assert response.status_code == 200
    assert "dashboard.stripe.com" not in response.content.decode()


@pytest.mark.django_db
def test_organization_shows_its_subscriptions_and_portal_sessions_read_only(
    admin_client, populated, organization
):
    body = admin_client.get(org_change_url(organization)).content.decode()
    assert "sub_admin_smoke" in body and "prod_pro" in body
    assert "bps_1" in body
    # Read-only: no input carries their values, and there is no way to add one.
    assert 'value="sub_admin_smoke"' not in body and 'value="bps_1"' not in body
    assert 'name="subscriptions-0-stripe_subscription_id"' not in body
    assert 'id="memberships-empty"' in body  # memberships stay editable here...
    assert 'id="subscriptions-empty"' not in body and 'id="portal_sessions-empty"' not in body  # ...these not
    # The full audit trail is one link away.
    assert f"?organization__id__exact={organization.pk}" in body


@pytest.mark.django_db
def test_portal_session_inline_shows_only_the_most_recent(
    admin_client, owner, organization, django_assert_max_num_queries
):
    PortalSession.objects.bulk_create(
        PortalSession(
            organization=organization,
            user=owner,
            stripe_session_id=f"bps_many_{i:03}",
            stripe_customer_id="cus_x",
            source="web",
        )
        for i in range(60)
    )
    with django_assert_max_num_queries(40):
        response = admin_client.get(org_change_url(organization))
    assert response.status_code == 200
    body = response.content.decode()
    assert len(set(re.findall(r"bps_many_\d+", body))) == 20
    assert "bps_many_059" in body and "bps_many_039" not in body  # the newest ones
    full = admin_client.get(
        reverse("admin:billing_portalsession_changelist"), {"organization__id__exact": organization.pk}
    )
    assert full.status_code == 200
    assert "60 portal sessions" in full.content.decode()


@pytest.mark.django_db
def test_organization_can_still_be_saved_with_its_inlines(admin_client, populated, organization, owner):
    data = form_data(admin_client.get(org_change_url(organization)))
    data["name"] = "Acme Renamed"
    response = admin_client.post(org_change_url(organization), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    organization.refresh_from_db()
    assert organization.name == "Acme Renamed"
    assert organization.stripe_customer_id == "cus_admin_smoke"  # not editable here
    assert Subscription.objects.filter(organization=organization).count() == 1
    assert PortalSession.objects.filter(organization=organization).count() == 1
    assert Membership.objects.filter(organization=organization).count() == 2


@pytest.mark.django_db
def test_stripe_customer_id_cannot_be_changed_in_the_admin(admin_client, populated, organization):
    data = form_data(admin_client.get(org_change_url(organization)))
    data["stripe_customer_id"] = "cus_someone_else"
    admin_client.post(org_change_url(organization), data)
    organization.refresh_from_db()
    assert organization.stripe_customer_id == "cus_admin_smoke"


@pytest.mark.django_db
@pytest.mark.parametrize("model_name", ["subscription", "portalsession", "webhookevent", "checkoutsession"])
def test_billing_records_are_read_only(admin_client, populated, model_name):
    model = next(m for m in admin.site._registry if m._meta.model_name == model_name)
    obj = model._default_manager.get()
    url = reverse(f"admin:billing_{model_name}_change", args=[obj.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert admin_client.post(url, {}).status_code == 403
    assert admin_client.get(reverse(f"admin:billing_{model_name}_add")).status_code == 403
    delete = admin_client.get(reverse(f"admin:billing_{model_name}_delete", args=[obj.pk]))
    assert delete.status_code == 403
    assert model._default_manager.count() == 1


@pytest.mark.django_db
def test_subscriptions_filter_by_status_and_search(admin_client, populated):
    url = reverse("admin:billing_subscription_changelist")
    assert "sub_admin_smoke" in admin_client.get(url, {"status__exact": "active"}).content.decode()
    assert "sub_admin_smoke" not in admin_client.get(url, {"status__exact": "canceled"}).content.decode()
    assert "sub_admin_smoke" in admin_client.get(url, {"q": "cus_admin_smoke"}).content.decode()


@pytest.mark.django_db
def test_memberships_filter_by_role_and_active(admin_client, populated, make_organization, make_user):
    gone = make_organization(name="Gone Ltd", is_active=False)
    make_user(email="ghost@gone.example.com", role="owner", organization=gone)
    url = reverse("admin:organizations_membership_changelist")
    owners = admin_client.get(url, {"role__exact": "owner"}).content.decode()
    assert "owner@acme.example.com" in owners and "member@acme.example.com" not in owners
    inactive = admin_client.get(url, {"organization__is_active__exact": "0"}).content.decode()
    assert "ghost@gone.example.com" in inactive and "owner@acme.example.com" not in inactive
    search = admin_client.get(url, {"q": "member@acme"}).content.decode()
    assert "member@acme.example.com" in search and "owner@acme.example.com" not in search


@pytest.mark.django_db
def test_organizations_searchable_by_a_members_email(admin_client, populated):
    url = reverse("admin:organizations_organization_changelist")
    assert "Acme Inc" in admin_client.get(url, {"q": "member@acme.example.com"}).content.decode()
    assert "Acme Inc" in admin_client.get(url, {"has_customer": "yes"}).content.decode()
    assert "Acme Inc" not in admin_client.get(url, {"has_customer": "no"}).content.decode()


@pytest.mark.django_db
def test_user_shows_its_organization_and_role(admin_client, populated, owner):
    changelist = admin_client.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert "Acme Inc" in changelist
    change = admin_client.get(reverse("admin:accounts_user_change", args=[owner.pk]))
    assert change.status_code == 200
    assert 'name="membership-0-role"' in change.content.decode()
