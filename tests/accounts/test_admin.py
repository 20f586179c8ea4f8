"""The user admin: every page loads, users are created by email, only staff get in."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.admin_pages import assert_admin_pages_load, registered


def test_users_are_registered():
    assert registered("accounts") == ["user"]


@pytest.mark.django_db
@pytest.mark.parametrize("model_name", registered("accounts"))
def test_changelist_add_and_change_pages_load(admin_client, populated, model_name):
    assert_admin_pages_load(admin_client, "accounts", model_name)


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


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    ["email=%00", "q=a%00", "%00=1", "is_active__exact=1&email__startswith=x%00"],
)
def test_a_nul_byte_in_a_lists_filters_is_400_not_500(admin_client, populated, query):
    # PostgreSQL refuses a NUL byte in any string it is sent (run the suite on PostgreSQL).
    for model in ("accounts/user", "organizations/organization", "billing/checkoutsession"):
        response = admin_client.get(f"/admin/{model}/?{query}")
        assert response.status_code == 400, (model, response.status_code)
    assert admin_client.get("/admin/accounts/user/?q=a").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("door", ["/accounts/login/", "/admin/login/"])
def test_a_nul_byte_in_a_login_is_a_failed_form(door):
    from django.test import Client

    response = Client().post(door, {"username": "a\x00@example.com", "password": "x\x00"})
    assert response.status_code == 200, response.status_code  # the form again, with its errors
