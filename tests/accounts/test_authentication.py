"""The API's JWT authentication: a token's signature is checked once per process, its expiry and
its user's token version on every request."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.settings import api_settings

from accounts import authentication
from tests.accounts.clock import shifted
from tests.assertions import assert_error
from tests.conftest import access_token_for

ME = "/subscriptions/my"


@pytest.fixture(autouse=True)
def _empty_cache():
    authentication._VERIFIED.clear()
    yield
    authentication._VERIFIED.clear()


def me(access: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get(ME)


@pytest.mark.django_db
def test_a_token_is_decoded_once_for_many_requests(owner):
    access = access_token_for(owner)
    with mock.patch.object(TokenBackend, "decode", autospec=True, side_effect=TokenBackend.decode) as decode:
        assert [me(access).status_code for _ in range(3)] == [200, 200, 200]
    assert decode.call_count == 1


@pytest.mark.django_db
def test_a_checked_token_still_expires(owner):
    access = access_token_for(owner)
    assert me(access).status_code == 200
    with shifted(api_settings.ACCESS_TOKEN_LIFETIME + timedelta(seconds=1)):
        assert_error(me(access), 401, "INVALID_TOKEN")
    assert access.encode() not in authentication._VERIFIED


@pytest.mark.django_db
def test_a_checked_token_is_still_revoked_by_a_password_change(owner):
    access = access_token_for(owner)
    assert me(access).status_code == 200
    owner.set_password("another-long-passphrase-42")
    owner.save()
    assert_error(me(access), 401, "INVALID_TOKEN")


@pytest.mark.django_db
def test_a_tampered_token_is_not_taken_for_a_checked_one(owner):
    access = access_token_for(owner)
    assert me(access).status_code == 200
    header, payload, signature = access.split(".")
    assert_error(me(f"{header}.{payload}.{signature[:-2]}AA"), 401, "INVALID_TOKEN")


@pytest.mark.django_db
def test_the_cache_is_bounded(owner, make_user, monkeypatch):
    monkeypatch.setattr(authentication, "VERIFIED_TOKENS_MAX", 2)
    for _ in range(5):
        assert me(access_token_for(owner)).status_code == 200
        assert len(authentication._VERIFIED) <= 2
