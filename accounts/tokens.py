"""simplejwt's tokens with two claims of ours.

- `ver`: the user's `token_version` when the token was issued. A password change or a
  deactivation raises the version, and every token of an older one is refused (access tokens
  in `accounts.authentication`, refresh tokens in `accounts.serializers`). A token without the
  claim counts as version 0.
- `auth_time`: when the login that started the refresh family happened (epoch seconds). It is
  copied across rotations, and the family ends `REFRESH_TOKEN_LIFETIME` after it, however
  often it rotates. A token without the claim counts from its own `iat`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from rest_framework_simplejwt import tokens
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.utils import datetime_from_epoch

VERSION_CLAIM = "ver"
AUTH_TIME_CLAIM = "auth_time"


def token_version(token: tokens.Token) -> int:
    version = token.get(VERSION_CLAIM, 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise TokenError("Token is invalid")
    return version


def family_ends(token: tokens.Token) -> datetime:
    """When the token's refresh family ends: its login plus REFRESH_TOKEN_LIFETIME."""
    started = token.get(AUTH_TIME_CLAIM, token.get("iat"))
    if not isinstance(started, int | float) or isinstance(started, bool):
        raise TokenError("Token is invalid")
    return datetime_from_epoch(started) + api_settings.REFRESH_TOKEN_LIFETIME


class RefreshToken(tokens.RefreshToken):
    @classmethod
    def for_user(cls, user: Any) -> RefreshToken:
        token = cast(RefreshToken, super().for_user(user))
        token[VERSION_CLAIM] = user.token_version
        token[AUTH_TIME_CLAIM] = token["iat"]
        return token
