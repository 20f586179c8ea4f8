"""Every admin page loads for a superuser (cookiecutter-django's smoke test, for every model)."""

import pytest
from django.contrib import admin
from django.urls import reverse

from billing.models import PortalSession

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


def test_every_model_is_registered():
    assert {
        ("accounts", "user"),
        ("organizations", "organization"),
        ("organizations", "membership"),
        ("billing", "portalsession"),
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
