from __future__ import annotations

from typing import Any

from rest_framework_simplejwt import tokens as jwt_tokens
from rest_framework_simplejwt.authentication import JWTAuthentication as _JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token

from accounts.selectors import user_with_membership_get
from accounts.tokens import token_version

# Access tokens whose signature and claims were checked, by their bytes: a client sends the same
# token on every request of its few minutes, and checking the signature again would answer the
# same. Only the expiry moves with the clock, so it is checked again on every use. Bounded: the
# whole map is dropped when it fills (a few KiB per token).
_VERIFIED: dict[bytes, Token] = {}
VERIFIED_TOKENS_MAX = 4096


class JWTAuthentication(_JWTAuthentication):
    """simplejwt's authentication, with

    - the scheme matched case-insensitively (`bearer` is `Bearer`; another scheme is no
      credentials at all, `Bearer` without exactly one token is an invalid token);
    - tokens issued before the user's last password change or deactivation refused;
    - the user loaded with membership and organization in one query (every billing request
      needs all three, so this saves two queries per request);
    - a token's signature checked once per process, its expiry on every request (`_VERIFIED`).
      Revocation is the token version, read with the user on every request.
    """

    def get_raw_token(self, header: bytes) -> bytes | None:
        parts = header.split()
        if not parts:
            return None
        schemes = {t.lower().encode() for t in api_settings.AUTH_HEADER_TYPES}
        if parts[0].lower() not in schemes:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(
                "Authorization header must contain two space-delimited values",
                code="bad_authorization_header",
            )
        return parts[1]

    def get_validated_token(self, raw_token: bytes) -> Token:
        token = _VERIFIED.get(raw_token)
        if token is not None:
            try:
                token.check_exp(current_time=jwt_tokens.aware_utcnow())
            except TokenError:
                _VERIFIED.pop(raw_token, None)
            else:
                return token
        token = super().get_validated_token(raw_token)  # raises for an expired one, as before
        if len(_VERIFIED) >= VERIFIED_TOKENS_MAX:
            _VERIFIED.clear()
        _VERIFIED[raw_token] = token
        return token

    def get_user(self, validated_token: Token) -> Any:
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as e:
            raise InvalidToken("Token contained no recognizable user identification") from e
        try:
            user = user_with_membership_get(user_id=user_id)
        except (ValueError, TypeError) as e:
            raise AuthenticationFailed("User not found", code="user_not_found") from e
        if user is None:
            raise AuthenticationFailed("User not found", code="user_not_found")
        if not user.is_active:
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        try:
            version = token_version(validated_token)
        except TokenError as e:
            raise InvalidToken("Token is invalid") from e
        if version != user.token_version:
            raise InvalidToken("Token was revoked")
        return user
