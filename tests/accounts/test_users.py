import pytest
from django.db import IntegrityError

from accounts.models import User


@pytest.mark.django_db
def test_create_user_logs_in_by_email_case_insensitively(client):
    user = User.objects.create_user(email="Alice@Example.com", password="s3cret-pass-word")
    assert user.email == "alice@example.com"
    assert not user.is_staff and user.is_active
    assert client.login(username="ALICE@example.com", password="s3cret-pass-word")


@pytest.mark.django_db
def test_create_superuser_is_staff():
    admin = User.objects.create_superuser(email="root@example.com", password="pw-12345678")
    assert admin.is_staff and admin.is_superuser


@pytest.mark.django_db
def test_email_is_unique():
    User.objects.create_user(email="a@example.com", password="x")
    with pytest.raises(IntegrityError):
        User.objects.create_user(email="a@example.com", password="y")


@pytest.mark.django_db
def test_user_without_email_is_refused():
    with pytest.raises(ValueError):
        User.objects.create_user(email="", password="x")


@pytest.mark.django_db
def test_login_page_logs_in_and_redirects_to_billing(client, owner):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert b"Log in" in page.content
    response = client.post(
        "/accounts/login/", {"username": "owner@acme.example.com", "password": "correct-horse-battery-staple"}
    )
    assert response.status_code == 302, response.content
    assert response["Location"] == "/billing/"
    assert client.get("/billing/").status_code == 200


@pytest.mark.django_db
def test_wrong_password_stays_on_login_page(client, owner):
    response = client.post("/accounts/login/", {"username": owner.email, "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct" in response.content
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_logout_is_a_post(client, owner):
    client.force_login(owner)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
