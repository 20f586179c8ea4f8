"""JWTs for users of an app server's database, minted in the test process.

The servers sign with the test settings' key, so a token minted here is valid there; none of
this touches the test process's database (no OutstandingToken rows).
"""

from __future__ import annotations

from datetime import timedelta

import jwt
from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken


def access_token(user_id: int, *, minutes: int = 30) -> str:
    token = AccessToken()
    token["user_id"] = str(user_id)
    token.set_exp(lifetime=timedelta(minutes=minutes))
    return str(token)


def _claims(user_id: int, **extra: object) -> dict[str, object]:
    token = AccessToken()
    token["user_id"] = str(user_id)
    return {**token.payload, **extra}


def refresh_token(user_id: int) -> str:
    token = RefreshToken()
    token["user_id"] = str(user_id)
    return str(token)


def bad_authorization_headers(user_id: int) -> dict[str, tuple[str, int, str]]:
    """Authorization headers that must be refused: name -> (header, status, error_code).

    `user_id` is a real user: only the token's flaw makes it invalid.
    """
    good = access_token(user_id)
    return {
        "alg-none": (
            "Bearer " + jwt.encode(_claims(user_id), key="", algorithm="none"),  # type: ignore[arg-type]
            401,
            "INVALID_TOKEN",
        ),
        "other-key": (
            "Bearer " + jwt.encode(_claims(user_id), "another-signing-key-" * 4, "HS256"),
            401,
            "INVALID_TOKEN",
        ),
        "hs512": (
            "Bearer " + jwt.encode(_claims(user_id), settings.SECRET_KEY * 2, "HS512"),
            401,
            "INVALID_TOKEN",
        ),
        "expired": (
            "Bearer " + jwt.encode(_claims(user_id, exp=1), settings.SECRET_KEY, "HS256"),
            401,
            "INVALID_TOKEN",
        ),
        "refresh-as-access": ("Bearer " + refresh_token(user_id), 401, "INVALID_TOKEN"),
        "tampered-claims": ("Bearer " + _tamper(good, user_id + 1), 401, "INVALID_TOKEN"),
        "garbage": ("Bearer not.a.jwt", 401, "INVALID_TOKEN"),
        "two-tokens": (f"Bearer {good} {good}", 401, "INVALID_TOKEN"),
        "bearer-only": ("Bearer", 401, "INVALID_TOKEN"),
        "other-scheme": (f"Token {good}", 401, "UNAUTHORIZED"),
        "deleted-user": (f"Bearer {access_token(10**9)}", 404, "USER_NOT_FOUND"),
    }


def _tamper(token: str, other_user_id: int) -> str:
    """The token with its payload swapped for another user's, signature kept."""
    header, _, signature = token.split(".")
    forged = jwt.encode(_claims(other_user_id), "irrelevant-signing-key-" * 3, "HS256").split(".")[1]
    return f"{header}.{forged}.{signature}"
