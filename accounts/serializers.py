"""simplejwt's refresh serializer, with a rotation that holds under concurrency
(SIMPLE_JWT's TOKEN_REFRESH_SERIALIZER). The login rate limit needs no serializer: the
authentication backend raises `LoginRateLimited`, which the API's exception handler answers."""

from __future__ import annotations

from typing import Any, cast

from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt.exceptions import AuthenticationFailed, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from accounts.models import User


class TokenRefreshSerializer(jwt_serializers.TokenRefreshSerializer):
    """Rotation with the old refresh token claimed atomically.

    simplejwt checks the blacklist when it reads the token and blacklists it later: two
    requests with the same token (a thief replaying it as its owner refreshes) both pass the
    check and both get a fresh token family. Here the blacklist row is the claim: only the
    request that creates it may mint. Also answers a deleted or inactive user with the portal's
    codes (simplejwt raises an unhandled DoesNotExist, a 500, for a deleted one).
    """

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        refresh = self.token_class(attrs["refresh"])  # signature, expiry, type, blacklist
        user_id = refresh.payload.get(api_settings.USER_ID_CLAIM)
        try:
            user = User.objects.get(**{api_settings.USER_ID_FIELD: user_id})
        except (User.DoesNotExist, ValueError, TypeError) as e:
            raise AuthenticationFailed("User not found", code="user_not_found") from e
        if not api_settings.USER_AUTHENTICATION_RULE(user):
            raise AuthenticationFailed("User is inactive", code="user_inactive")

        data = {"access": str(refresh.access_token)}
        if api_settings.ROTATE_REFRESH_TOKENS:
            if api_settings.BLACKLIST_AFTER_ROTATION:
                # blacklist() returns get_or_create's (row, created), whatever its annotation says.
                _, claimed = cast(tuple[BlacklistedToken, bool], refresh.blacklist())
                if not claimed:  # another request rotated this very token a moment ago
                    raise TokenError("Token is blacklisted")
            refresh.set_jti()
            refresh.set_exp()
            refresh.set_iat()
            refresh.outstand()
            data["refresh"] = str(refresh)
        return data
