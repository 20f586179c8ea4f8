from __future__ import annotations

from typing import NoReturn

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from billing import services
from billing.errors import BillingError
from billing.models import PortalSession
from config.api import BaseApi
from config.api_errors import ApiError, retry_after_header


def raise_api_error(error: BillingError) -> NoReturn:
    """A billing error as the API's JSON envelope."""
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = retry_after_header(error.retry_after)
    raise ApiError(
        status_code=error.status_code,
        error_code=error.error_code,
        message=error.message,
        headers=headers,
    ) from error


_ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "success": serializers.BooleanField(default=False),
        "error_code": serializers.CharField(),
        "message": serializers.CharField(),
    },
)


def _error(description: str, *codes: str) -> OpenApiResponse:
    return OpenApiResponse(
        response=_ErrorSerializer,
        description=f"{description} `error_code`: " + ", ".join(f"`{c}`" for c in codes) + ".",
        examples=[
            OpenApiExample(code, value={"success": False, "error_code": code, "message": "..."})
            for code in codes
        ],
    )


class PortalSessionCreateApi(BaseApi):
    """POST /subscriptions/portal: a Stripe billing portal URL for the caller's organization."""

    http_method_names = ["post"]
    internal_error_message = "Failed to create billing portal session"

    @extend_schema(
        operation_id="createBillingPortal",
        summary="Create Billing Portal Session",
        description=(
            "Create a Stripe billing portal session for the authenticated user's organization "
            "to manage their subscription, billing information, and payment methods. Takes no "
            "query parameters or request body. The URL is a bearer credential: use it at once."
        ),
        request=None,
        responses={
            200: OpenApiResponse(
                response=inline_serializer(
                    name="CreateBillingPortalResponse",
                    fields={"success": serializers.BooleanField(), "url": serializers.URLField()},
                ),
                examples=[
                    OpenApiExample(
                        "Portal session",
                        value={
                            "success": True,
                            "url": "https://billing.stripe.com/p/session_1234567890abcdef",
                        },
                    )
                ],
            ),
            400: _error("The user belongs to no organization.", "NO_ORGANIZATION"),
            401: _error(
                "Missing, invalid or expired token, or inactive user.",
                "UNAUTHORIZED",
                "INVALID_TOKEN",
                "USER_INACTIVE",
            ),
            403: _error("The user's role may not manage billing.", "BILLING_PERMISSION_DENIED"),
            404: _error("The user or the organization no longer exists.", "USER_NOT_FOUND", "ORG_NOT_FOUND"),
            405: _error("Any method but POST.", "METHOD_NOT_ALLOWED"),
            429: _error("Per-user rate exceeded; see `Retry-After`.", "RATE_LIMITED"),
            500: _error(
                "Billing is not configured, or an unexpected failure.",
                "BILLING_NOT_CONFIGURED",
                "INTERNAL_ERROR",
            ),
            503: _error("Stripe is unreachable or overloaded; see `Retry-After`.", "BILLING_UNAVAILABLE"),
        },
    )
    def post(self, request: Request) -> Response:
        try:
            url = services.portal_session_create(user=request.user, source=PortalSession.Source.API)  # type: ignore[arg-type]
        except BillingError as e:
            raise_api_error(e)
        return Response({"success": True, "url": url}, headers={"Cache-Control": "no-store"})
