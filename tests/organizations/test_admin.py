"""The organization and membership admins, and the organization and role they add to the user page."""

from __future__ import annotations

import pytest
from django.urls import reverse
from pytest_django.asserts import assertContains

from organizations.models import Organization
from tests.admin_pages import assert_admin_pages_load, registered


def org_change_url(organization: Organization) -> str:
    return reverse("admin:organizations_organization_change", args=[organization.pk])


def test_organizations_and_memberships_are_registered():
    assert registered("organizations") == ["invitation", "memberauditentry", "membership", "organization"]


@pytest.mark.django_db
@pytest.mark.parametrize("model_name", registered("organizations"))
def test_changelist_add_and_change_pages_load(admin_client, populated, model_name):
    assert_admin_pages_load(admin_client, "organizations", model_name)


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
    changelist = admin_client.get(reverse("admin:accounts_user_changelist"))
    assertContains(changelist, '<td class="field-organization">Acme Inc</td>', html=True, count=2)
    assertContains(changelist, '<td class="field-role">Owner</td>', html=True, count=1)
    assertContains(changelist, '<td class="field-role">Member</td>', html=True, count=1)
    change = admin_client.get(reverse("admin:accounts_user_change", args=[owner.pk]))
    assert change.status_code == 200
    assertContains(change, '<option value="owner" selected>Owner</option>', html=True)
