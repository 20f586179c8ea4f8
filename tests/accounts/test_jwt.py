import pytest
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from tests.conftest import PASSWORD


def obtain(api_client, email, password=PASSWORD):
    return api_client.post("/auth/token/", {"email": email, "password": password}, format="json")


@pytest.mark.django_db
def test_obtain_pair_by_email(api_client, owner):
    response = obtain(api_client, "owner@acme.example.com")
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"access", "refresh"}


@pytest.mark.django_db
def test_obtain_with_wrong_password_is_401_json(api_client, owner):
    response = obtain(api_client, owner.email, "nope")
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["success"] is False
    assert response.json()["error_code"] == "INVALID_CREDENTIALS"


@pytest.mark.django_db
def test_obtain_for_inactive_user_is_refused(api_client, make_user):
    user = make_user(is_active=False)
    assert obtain(api_client, user.email).status_code == 401


@pytest.mark.django_db
def test_obtain_without_fields_is_400_json(api_client):
    response = api_client.post("/auth/token/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["error_code"] == "VALIDATION_ERROR"


@pytest.mark.django_db
def test_refresh_rotates_and_blacklists_the_old_token(api_client, owner):
    first = obtain(api_client, owner.email).json()
    response = api_client.post("/auth/token/refresh/", {"refresh": first["refresh"]}, format="json")
    assert response.status_code == 200, response.content
    rotated = response.json()
    assert set(rotated) == {"access", "refresh"}
    assert rotated["refresh"] != first["refresh"]
    assert BlacklistedToken.objects.count() == 1

    again = api_client.post("/auth/token/refresh/", {"refresh": first["refresh"]}, format="json")
    assert again.status_code == 401, again.content
    assert again.json()["error_code"] == "INVALID_TOKEN"


@pytest.mark.django_db
def test_access_token_is_hs256_with_user_id_claim(api_client, owner):
    import jwt  # PyJWT, simplejwt's own dependency
    from django.conf import settings

    access = obtain(api_client, owner.email).json()["access"]
    assert jwt.get_unverified_header(access)["alg"] == "HS256"
    claims = jwt.decode(access, settings.SECRET_KEY, algorithms=["HS256"])
    assert claims["user_id"] == str(owner.pk) or claims["user_id"] == owner.pk
    assert claims["token_type"] == "access"


@pytest.mark.django_db
def test_deleted_users_token_is_refused(auth_client, owner):
    client = auth_client(owner)
    owner.delete()
    response = client.post("/subscriptions/portal")
    assert response.status_code == 404, response.content
    assert response.json()["error_code"] == "USER_NOT_FOUND"


@pytest.mark.django_db
def test_inactive_users_token_is_refused(auth_client, owner):
    client = auth_client(owner)
    owner.is_active = False
    owner.save()
    response = client.post("/subscriptions/portal")
    assert response.status_code == 401, response.content
    assert response.json()["error_code"] == "USER_INACTIVE"


@pytest.mark.django_db
def test_token_paths_answer_without_the_trailing_slash_too(api_client, owner):
    pair = api_client.post("/auth/token", {"email": owner.email, "password": PASSWORD}, format="json")
    assert pair.status_code == 200, pair.content
    rotated = api_client.post("/auth/token/refresh", {"refresh": pair.json()["refresh"]}, format="json")
    assert rotated.status_code == 200, rotated.content
