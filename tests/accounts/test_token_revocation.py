"""A password change or a deactivation revokes every token issued before it; a refresh family
ends a fixed time after its login, however often it rotates; logout blacklists a refresh."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.settings import api_settings

from accounts.models import User
from tests.accounts.clock import shifted
from tests.assertions import assert_error
from tests.conftest import PASSWORD

ME = "/subscriptions/my"


def login(user: User) -> dict[str, str]:
    response = APIClient().post("/auth/token/", {"email": user.email, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    return response.json()


def me(access: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get(ME)


def refresh(token: str):
    return APIClient().post("/auth/token/refresh/", {"refresh": token}, format="json")


@pytest.mark.django_db
def test_a_password_change_revokes_access_and_refresh_tokens(owner):
    old = login(owner)
    assert me(old["access"]).status_code == 200
    owner.set_password("a-new-password-entirely")
    owner.save()
    assert_error(me(old["access"]), 401, "INVALID_TOKEN")
    assert_error(refresh(old["refresh"]), 401, "INVALID_TOKEN")
    # New logins work with the new password.
    response = APIClient().post(
        "/auth/token/", {"email": owner.email, "password": "a-new-password-entirely"}, format="json"
    )
    assert response.status_code == 200
    assert me(response.json()["access"]).status_code == 200


@pytest.mark.django_db
def test_a_password_change_revokes_tokens_minted_by_the_test_helper_too(auth_client, owner):
    client = auth_client(owner)
    assert client.get(ME).status_code == 200
    owner.set_password("another-password-1")
    owner.save(update_fields=["password"])
    assert_error(client.get(ME), 401, "INVALID_TOKEN")


@pytest.mark.django_db
def test_deactivation_revokes_tokens_even_after_reactivation(owner):
    old = login(owner)
    owner.is_active = False
    owner.save()
    assert_error(me(old["access"]), 401, "USER_INACTIVE")
    assert_error(refresh(old["refresh"]), 401, "USER_INACTIVE")
    owner.is_active = True
    owner.save()
    assert_error(me(old["access"]), 401, "INVALID_TOKEN")
    assert_error(refresh(old["refresh"]), 401, "INVALID_TOKEN")
    assert me(login(owner)["access"]).status_code == 200


@pytest.mark.django_db
def test_a_rehash_on_login_does_not_revoke(owner, settings):
    tokens = login(owner)
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    assert owner.check_password(PASSWORD)  # re-hashed with PBKDF2 and saved
    owner.refresh_from_db()
    assert owner.password.startswith("pbkdf2_")
    assert me(tokens["access"]).status_code == 200


@pytest.mark.django_db
def test_a_refresh_family_ends_a_fixed_time_after_login_however_often_it_rotates(owner):
    lifetime = api_settings.REFRESH_TOKEN_LIFETIME
    token = login(owner)["refresh"]
    for hours in (6, 12, 18, 23):  # rotating well within each token's own lifetime
        with shifted(timedelta(hours=hours) * lifetime.total_seconds() / 86400):
            response = refresh(token)
            assert response.status_code == 200, (hours, response.content)
            token = response.json()["refresh"]
    with shifted(lifetime + timedelta(minutes=1)):
        assert_error(refresh(token), 401, "INVALID_TOKEN")


@pytest.mark.django_db
def test_a_rotated_token_expires_with_its_family(owner):
    import jwt

    first = jwt.decode(login(owner)["refresh"], options={"verify_signature": False})
    with shifted(timedelta(hours=1)):
        rotated = refresh(jwt.encode(first, settings.SECRET_KEY, "HS256")).json()["refresh"]
    claims = jwt.decode(rotated, options={"verify_signature": False})
    assert claims["auth_time"] == first["auth_time"] == first["iat"]
    assert claims["exp"] == first["exp"]


@pytest.mark.django_db
def test_blacklist_logs_out_a_refresh_token(owner):
    tokens = login(owner)
    for path in ("/auth/token/blacklist/", "/auth/token/blacklist"):
        fresh = login(owner)["refresh"] if path.endswith("t") else tokens["refresh"]
        response = APIClient().post(path, {"refresh": fresh}, format="json")
        assert response.status_code == 200, response.content
        assert response["Cache-Control"] == "no-store"
        assert_error(refresh(fresh), 401, "INVALID_TOKEN")
        assert_error(APIClient().post(path, {"refresh": fresh}, format="json"), 401, "INVALID_TOKEN")


@pytest.mark.django_db
def test_token_errors_are_no_store_too(owner):
    response = APIClient().post("/auth/token/", {"email": owner.email, "password": "x"}, format="json")
    assert_error(response, 401, "INVALID_CREDENTIALS")
    assert response["Cache-Control"] == "no-store"
    rotated = refresh(login(owner)["refresh"])
    assert rotated["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_lower_case_bearer_is_accepted(owner):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"bearer {login(owner)['access']}")
    assert client.get(ME).status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"BEARER {login(owner)['access']}")
    assert client.get(ME).status_code == 200
