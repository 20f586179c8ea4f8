"""Forged, stale and misused tokens: each answers its documented code and nothing else, and none
reaches Stripe. tests/billing/test_portal_api.py has the basic rows; this adds the forgeries it
lacks, the refresh endpoint, and refresh tokens raced against their own rotation."""

from __future__ import annotations

import threading
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from billing.models import PortalSession
from tests import figures
from tests.accounts.tokens import bad_authorization_headers

PORTAL = "/subscriptions/portal"
REFRESH = "/auth/token/refresh/"


def assert_envelope(response, status: int, error_code: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json", response.content
    body = response.json()
    assert body["success"] is False and body["error_code"] == error_code and body["message"], body


# --- the portal --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(bad_authorization_headers(1)))
def test_bad_authorization_headers_get_their_code_only(name, owner, stripe_standin):
    header, status, code = bad_authorization_headers(owner.pk)[name]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_envelope(client.post(PORTAL), status, code)
    assert stripe_standin.requests == []
    assert PortalSession.objects.count() == 0
    figures.count("tokens", "forged or misused tokens refused")


@pytest.mark.django_db
def test_a_token_without_user_claim_or_expiry_is_invalid(owner, stripe_standin):
    token = AccessToken.for_user(owner)
    for claim in ("user_id", "exp", "token_type", "jti"):
        payload = {k: v for k, v in token.payload.items() if k != claim}
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Bearer " + jwt.encode(payload, settings.SECRET_KEY, "HS256"))
        assert_envelope(client.post(PORTAL), 401, "INVALID_TOKEN")
    assert stripe_standin.requests == []


# --- the refresh endpoint ----------------------------------------------------------------------


def _refresh(token: str):
    return APIClient().post(REFRESH, {"refresh": token}, format="json")


def _refresh_claims(user) -> dict:
    return dict(RefreshToken.for_user(user).payload)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda u: jwt.encode(_refresh_claims(u), key="", algorithm="none"), id="alg-none"),  # type: ignore[arg-type]
        pytest.param(
            lambda u: jwt.encode(_refresh_claims(u), "another-signing-key-" * 3, "HS256"), id="other-key"
        ),
        pytest.param(
            lambda u: jwt.encode({**_refresh_claims(u), "exp": 1}, settings.SECRET_KEY, "HS256"), id="expired"
        ),
        pytest.param(lambda u: str(AccessToken.for_user(u)), id="access-as-refresh"),
        pytest.param(lambda u: "not.a.jwt", id="garbage"),
        pytest.param(lambda u: f"{RefreshToken.for_user(u)} {RefreshToken.for_user(u)}", id="two-tokens"),
    ],
)
def test_refresh_refuses_bad_tokens(make, owner):
    assert_envelope(_refresh(make(owner)), 401, "INVALID_TOKEN")
    figures.count("tokens", "bad refresh tokens refused")


@pytest.mark.django_db
def test_refresh_of_an_expired_lifetime_is_invalid(owner):
    token = RefreshToken.for_user(owner)
    token.set_exp(lifetime=-timedelta(seconds=1))
    assert_envelope(_refresh(str(token)), 401, "INVALID_TOKEN")


@pytest.mark.django_db
def test_a_blacklisted_refresh_is_refused_and_mints_nothing(owner):
    first = RefreshToken.for_user(owner)
    rotated = _refresh(str(first))
    assert rotated.status_code == 200, rotated.content
    assert_envelope(_refresh(str(first)), 401, "INVALID_TOKEN")
    # The rotated one still works, once.
    second = _refresh(rotated.json()["refresh"])
    assert second.status_code == 200, second.content
    assert_envelope(_refresh(rotated.json()["refresh"]), 401, "INVALID_TOKEN")


@pytest.mark.django_db
def test_refresh_for_a_deleted_user_is_user_not_found(owner):
    token = str(RefreshToken.for_user(owner))
    owner.delete()
    assert_envelope(_refresh(token), 404, "USER_NOT_FOUND")


@pytest.mark.django_db
def test_refresh_for_an_inactive_user_is_user_inactive(owner):
    token = str(RefreshToken.for_user(owner))
    owner.is_active = False
    owner.save()
    assert_envelope(_refresh(token), 401, "USER_INACTIVE")


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"refresh": ""}, {"refresh": ["a", "b"]}])
def test_refresh_without_a_token_is_a_validation_error(body):
    response = APIClient().post(REFRESH, body, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR")


@pytest.mark.django_db
def test_refresh_with_a_malformed_body_is_json(owner):
    response = APIClient().generic("POST", REFRESH, "{not json", content_type="application/json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["success"] is False


RACERS = 12


@pytest.mark.django_db(transaction=True)
def test_one_refresh_token_raced_against_itself_rotates_once(owner):
    """A stolen refresh token replayed at the same moment as the real one: rotation must let
    exactly one of them through, or the thief gets a token family of their own."""
    token = str(RefreshToken.for_user(owner))
    barrier = threading.Barrier(RACERS)
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def race() -> None:
        try:
            barrier.wait()
            response = _refresh(token)
            with lock:
                answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=race) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = sorted(status for status, _ in answers)
    figures.record(
        "tokens",
        refresh_race=f"{RACERS} concurrent refreshes of one token -> {statuses.count(200)} rotated",
    )
    assert len(answers) == RACERS
    assert statuses.count(200) == 1, answers
    assert all(body["error_code"] == "INVALID_TOKEN" for status, body in answers if status != 200), answers
    assert BlacklistedToken.objects.count() == 1
