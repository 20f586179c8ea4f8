"""simplejwt's serializers, on our tokens (`accounts.tokens`): the token version and the
family's login time are minted at login, checked at refresh, and the rotation holds under
concurrency. The login rate limit needs no serializer: the authentication backend raises
`LoginRateLimited`, which the API's exception handler answers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt.exceptions import AuthenticationFailed, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from accounts.models import User
from accounts.tokens import AUTH_TIME_CLAIM, RefreshToken, family_ends, token_version


class TokenObtainPairSerializer(jwt_serializers.TokenObtainPairSerializer):
    token_class = RefreshToken


class TokenBlacklistSerializer(jwt_serializers.TokenBlacklistSerializer):
    token_class = RefreshToken


class TokenRefreshSerializer(jwt_serializers.TokenRefreshSerializer):
    """Rotation with the old refresh token claimed atomically, within the family's lifetime,
    for the user's current token version.

    simplejwt checks the blacklist when it reads the token and blacklists it later: two
    requests with the same token (a thief replaying it as its owner refreshes) both pass the
    check and both get a fresh token family. Here the blacklist row is the claim: only the
    request that creates it may mint. A rotated token keeps the family's `auth_time` and
    expires when the family does, not a full lifetime after the rotation. Also answers a
    deleted or inactive user with the portal's codes (simplejwt raises an unhandled
    DoesNotExist, a 500, for a deleted one).
    """

    token_class = RefreshToken

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        refresh = self.token_class(attrs["refresh"])  # signature, expiry, type, blacklist
        ends = family_ends(refresh)
        if refresh.current_time >= ends:
            raise TokenError("Token has expired")
        user_id = refresh.payload.get(api_settings.USER_ID_CLAIM)
        try:
            user = User.objects.get(**{api_settings.USER_ID_FIELD: user_id})
        except (User.DoesNotExist, ValueError, TypeError) as e:
            raise AuthenticationFailed("User not found", code="user_not_found") from e
        if not api_settings.USER_AUTHENTICATION_RULE(user):
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        if token_version(refresh) != user.token_version:
            raise TokenError("Token was revoked")

        # Carried across rotations, also for a token issued before the claim existed.
        refresh[AUTH_TIME_CLAIM] = int(ends.timestamp() - api_settings.REFRESH_TOKEN_LIFETIME.total_seconds())
        access = refresh.access_token
        if access.current_time + api_settings.ACCESS_TOKEN_LIFETIME > ends:
            access.set_exp(from_time=ends, lifetime=timedelta(0))
        data = {"access": str(access)}
        if api_settings.ROTATE_REFRESH_TOKENS:
            if api_settings.BLACKLIST_AFTER_ROTATION:
                # blacklist() returns get_or_create's (row, created), whatever its annotation says.
                _, claimed = cast(tuple[BlacklistedToken, bool], refresh.blacklist())
                if not claimed:  # another request rotated this very token a moment ago
                    raise TokenError("Token is blacklisted")
            refresh.set_jti()
            refresh.set_exp(from_time=ends, lifetime=timedelta(0))
            refresh.set_iat()
            refresh.outstand()
            data["refresh"] = str(refresh)
        return data
