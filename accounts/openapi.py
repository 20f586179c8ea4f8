"""The OpenAPI description of the token endpoints (drf-spectacular)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers

from core.openapi import BODY_ERRORS, NOT_ACCEPTABLE, error_response

_Pair = inline_serializer(
    name="TokenPair",
    fields={"access": serializers.CharField(), "refresh": serializers.CharField()},
)

_BAD_BODY = error_response("The body is not JSON, or misses a field.", "VALIDATION_ERROR")
_METHOD = error_response("Any method but POST.", "METHOD_NOT_ALLOWED")
_NO_STORE = "Answered with `Cache-Control: no-store`."

TOKEN_OBTAIN = extend_schema(
    summary="Log in: an access and a refresh token for an email and password",
    description="Failed password checks are rate limited per email and client address, per email and "
    "per client address; a successful login never counts. " + _NO_STORE,
    auth=[],
    responses={
        200: OpenApiResponse(_Pair, description="The token pair. " + _NO_STORE),
        400: _BAD_BODY,
        401: error_response("Wrong email or password, or an inactive user.", "INVALID_CREDENTIALS"),
        405: _METHOD,
        406: NOT_ACCEPTABLE,
        **BODY_ERRORS,
        429: error_response("Too many failed logins; `Retry-After` says when to try again.", "RATE_LIMITED"),
    },
)

TOKEN_REFRESH = extend_schema(
    summary="Rotate a refresh token: a new pair, the old refresh token blacklisted",
    description="A refresh family ends a fixed time after the login that started it, however often it "
    "rotates. A password change or a deactivation revokes every token issued before it. " + _NO_STORE,
    auth=[],
    responses={
        200: OpenApiResponse(_Pair, description="The new token pair. " + _NO_STORE),
        400: _BAD_BODY,
        401: error_response(
            "Invalid, expired, blacklisted or revoked refresh token, or an inactive user.",
            "INVALID_TOKEN",
            "USER_INACTIVE",
        ),
        404: error_response("The token's user no longer exists.", "USER_NOT_FOUND"),
        405: _METHOD,
        406: NOT_ACCEPTABLE,
        **BODY_ERRORS,
    },
)

TOKEN_BLACKLIST = extend_schema(
    summary="Log out: blacklist a refresh token",
    description="That refresh token can no longer rotate (access tokens already issued live out their "
    "short lifetime). " + _NO_STORE,
    auth=[],
    responses={
        200: OpenApiResponse(inline_serializer(name="Empty", fields={}), description="Blacklisted."),
        400: _BAD_BODY,
        401: error_response("Invalid, expired or already blacklisted refresh token.", "INVALID_TOKEN"),
        405: _METHOD,
        406: NOT_ACCEPTABLE,
        **BODY_ERRORS,
    },
)
