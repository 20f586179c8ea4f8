"""OpenAPI pieces every app's endpoints share: the error envelope and the caller errors."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, inline_serializer
from rest_framework import serializers

_ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "success": serializers.BooleanField(default=False),
        "error_code": serializers.CharField(),
        "message": serializers.CharField(),
    },
)


def error_response(description: str, *codes: str) -> OpenApiResponse:
    return OpenApiResponse(
        response=_ErrorSerializer,
        description=f"{description} `error_code`: " + ", ".join(f"`{c}`" for c in codes) + ".",
        examples=[
            OpenApiExample(code, value={"success": False, "error_code": code, "message": "..."})
            for code in codes
        ],
    )


# What any endpoint answers a request it cannot read, or whose `Accept` admits no JSON.
NOT_ACCEPTABLE = error_response("The `Accept` header admits no JSON.", "NOT_ACCEPTABLE")
BODY_ERRORS = {
    413: error_response("The body is over the size the server reads.", "PAYLOAD_TOO_LARGE"),
    415: error_response("The body is not `application/json`.", "UNSUPPORTED_MEDIA_TYPE"),
}

# Who is calling, and from which organization: the same answers on every JWT endpoint.
CALLER_ERRORS = {
    406: NOT_ACCEPTABLE,
    400: error_response("The user belongs to no organization.", "NO_ORGANIZATION"),
    401: error_response(
        "Missing, invalid or expired token, or inactive user.",
        "UNAUTHORIZED",
        "INVALID_TOKEN",
        "USER_INACTIVE",
    ),
    404: error_response("The user or the organization no longer exists.", "USER_NOT_FOUND", "ORG_NOT_FOUND"),
    503: error_response("The database is not answering; see `Retry-After`.", "SERVICE_UNAVAILABLE"),
}
