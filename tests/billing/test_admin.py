"""The billing admin: read-only records, and what billing adds to the organization page (the
Stripe dashboard link, the subscriptions inline, the portal sessions inline and link)."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from billing.models import PortalSession, Subscription
from organizations.models import Membership, Organization
from tests.admin_pages import assert_admin_pages_load, form_data, registered


def org_change_url(organization: Organization) -> str:
    return reverse("admin:organizations_organization_change", args=[organization.pk])


def test_billing_models_are_registered():
    assert registered("billing") == [
        "capabilityset",
        "checkoutsession",
        "portalsession",
        "seatchange",
        "stripewrite",
        "subscription",
        "webhookevent",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("model_name", registered("billing"))
def test_changelist_add_and_change_pages_load(admin_client, populated, model_name):
    assert_admin_pages_load(admin_client, "billing", model_name)


STRIPE_LINK = (
    '<a href="https://dashboard.stripe.com/test/customers/cus_admin_smoke" target="_blank"'
    ' rel="noopener noreferrer">cus_admin_smoke</a>'
)


@pytest.mark.django_db
def test_organization_links_its_stripe_customer_to_the_test_dashboard(
    admin_client, populated, organization, settings
):
    settings.STRIPE_API_BASE = ""  # Stripe itself, not the stand-in
    assertContains(admin_client.get(org_change_url(organization)), STRIPE_LINK, html=True)
    changelist = admin_client.get(reverse("admin:organizations_organization_changelist"))
    assertContains(changelist, STRIPE_LINK, html=True)


@pytest.mark.django_db
def test_organization_links_to_all_its_portal_sessions(admin_client, populated, organization):
    url = reverse("admin:billing_portalsession_changelist") + f"?organization__id__exact={organization.pk}"
    assertContains(
        admin_client.get(org_change_url(organization)),
        f'<a href="{url}">All portal sessions of this organization</a>',
        html=True,
    )


@pytest.mark.django_db
def test_live_key_links_to_the_live_dashboard(admin_client, populated, organization, settings):
    settings.STRIPE_API_BASE = ""
    settings.STRIPE_SECRET_KEY = "sk_live_0000"
    assertContains(
        admin_client.get(org_change_url(organization)),
        '<a href="https://dashboard.stripe.com/customers/cus_admin_smoke" target="_blank"'
        ' rel="noopener noreferrer">cus_admin_smoke</a>',
        html=True,
    )


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
@pytest.mark.parametrize(
    "model_name",
    [
        "subscription",
        "portalsession",
        "webhookevent",
        "checkoutsession",
        "capabilityset",
        "stripewrite",
        "seatchange",
    ],
)
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


def test_no_dashboard_link_for_the_stand_ins_customers(admin_client, populated, organization):
    page = admin_client.get(org_change_url(organization))
    assertNotContains(page, "dashboard.stripe.com")
    assertContains(page, "cus_admin_smoke")


def test_organization_list_shows_plan_status_and_renewal_with_filters(admin_client, populated, organization):
    changelist = reverse("admin:organizations_organization_changelist")
    page = admin_client.get(changelist)
    row = Subscription.objects.get(organization=organization)
    end = row.current_period_end
    assert end is not None
    assertContains(page, '<td class="field-subscription_status">Active</td>', html=True)
    assertContains(page, f'<td class="field-renewal">Renews {end:%b} {end.day}, {end.year}</td>', html=True)
    assertContains(page, "subscription status")
    assertContains(admin_client.get(changelist + "?subscription_status=active"), "Acme Inc")
    assertNotContains(admin_client.get(changelist + "?subscription_status=past_due"), ">Acme Inc<")
    assertContains(admin_client.get(changelist + "?plan=" + row.product), "Acme Inc")


def test_plan_names_instead_of_product_ids(admin_client, populated, organization, stripe_standin):
    stripe_standin.seed_demo_catalogue()
    Subscription.objects.filter(organization=organization).update(
        product="prod_demo_pro", price_id="price_demo_pro_yearly"
    )
    page = admin_client.get(reverse("admin:organizations_organization_changelist"))
    assertContains(page, '<td class="field-plan">Pro, yearly</td>', html=True)
    assertContains(admin_client.get(org_change_url(organization)), "<p>Pro, yearly</p>", html=True)
