from __future__ import annotations

from typing import NoReturn

from django.conf import settings
from django.http import HttpRequest
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from billing import selectors, services, webhooks
from billing.errors import BillingError, BillingNotConfigured
from billing.models import PortalSession, Subscription
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


# Who is calling, and from which organization: the same answers on every JWT endpoint.
_CALLER_ERRORS = {
    400: _error("The user belongs to no organization.", "NO_ORGANIZATION"),
    401: _error(
        "Missing, invalid or expired token, or inactive user.",
        "UNAUTHORIZED",
        "INVALID_TOKEN",
        "USER_INACTIVE",
    ),
    404: _error("The user or the organization no longer exists.", "USER_NOT_FOUND", "ORG_NOT_FOUND"),
}


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
            **_CALLER_ERRORS,
            403: _error("The user's role may not manage billing.", "BILLING_PERMISSION_DENIED"),
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


class SubscriptionCurrentApi(BaseApi):
    """GET /subscriptions/my: the organization's current subscription, as last synced.

    Any member may read it, `member` role included: unlike the portal (whose URL lets its
    holder change payment methods and cancel), this is read-only and tells a member no more
    than the product already shows them (whether the plan is active, until when). Being in
    an active organization is required, with the portal's codes for it.
    """

    http_method_names = ["get"]
    internal_error_message = "Failed to fetch subscription"

    class OutputSerializer(serializers.ModelSerializer):
        # Times are ISO 8601 in UTC ("2026-01-31T00:00:00Z"): TIME_ZONE is UTC.
        class Meta:
            model = Subscription
            fields = (
                "stripe_subscription_id",
                "status",
                "price_id",
                "product",
                "quantity",
                "current_period_end",
                "cancel_at_period_end",
                "canceled_at",
                "trial_end",
            )

    @extend_schema(
        operation_id="getMySubscription",
        summary="Get My Subscription",
        description=(
            "The current subscription of the authenticated user's organization, as last synced "
            "from Stripe (webhooks, the sync command, the billing page after a portal visit). "
            "Where there are several: the most recently created one that is not `canceled` or "
            "`incomplete_expired`, else the most recent. Any member of the organization may read it."
        ),
        request=None,
        responses={
            200: OpenApiResponse(
                response=inline_serializer(
                    name="MySubscriptionResponse",
                    fields={
                        "success": serializers.BooleanField(),
                        "data": OutputSerializer(allow_null=True),
                        "message": serializers.CharField(required=False),
                    },
                ),
                examples=[
                    OpenApiExample(
                        "Subscription",
                        value={
                            "success": True,
                            "data": {
                                "stripe_subscription_id": "sub_1PqrStUvWxYz",
                                "status": "active",
                                "price_id": "price_1PqrStUvWxYz",
                                "product": "prod_PqrStUvWxYz",
                                "quantity": 5,
                                "current_period_end": "2026-12-31T00:00:00Z",
                                "cancel_at_period_end": False,
                                "canceled_at": None,
                                "trial_end": None,
                            },
                        },
                    ),
                    OpenApiExample(
                        "No subscription",
                        value={"success": True, "data": None, "message": "No subscription found"},
                    ),
                ],
            ),
            **_CALLER_ERRORS,
            405: _error("Any method but GET.", "METHOD_NOT_ALLOWED"),
            500: _error("An unexpected failure.", "INTERNAL_ERROR"),
        },
    )
    def get(self, request: Request) -> Response:
        try:
            membership = services.organization_membership_get(user=request.user)  # type: ignore[arg-type]
        except BillingError as e:
            raise_api_error(e)
        subscription = selectors.subscription_current_get(organization=membership.organization)
        headers = {"Cache-Control": "no-store"}
        if subscription is None:
            return Response(
                {"success": True, "data": None, "message": "No subscription found"}, headers=headers
            )
        return Response({"success": True, "data": self.OutputSerializer(subscription).data}, headers=headers)


# Stripe's own limit on a webhook payload is far below this; anything larger is not Stripe.
WEBHOOK_MAX_BYTES = 1024 * 1024


def _webhook_body(request: HttpRequest) -> bytes:
    """The raw body, refused (413) past the cap: by its Content-Length, then by what is read."""
    too_large = ApiError(
        status_code=413, error_code="PAYLOAD_TOO_LARGE", message="Webhook payload exceeds 1 MiB"
    )
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > WEBHOOK_MAX_BYTES:
        raise too_large
    # Read straight from the stream (never `request.body`, which buffers whatever is sent).
    body = request.read(WEBHOOK_MAX_BYTES + 1)
    if len(body) > WEBHOOK_MAX_BYTES:
        raise too_large
    return body


class StripeWebhookApi(BaseApi):
    """POST /subscriptions/webhook: Stripe's events, verified over the raw body.

    No JWT (Stripe signs instead), no CSRF (DRF views are exempt; Stripe has no cookie), no
    parser (the signature covers the exact bytes). Answers fast: no Stripe call except to
    settle a tie between two states of the same second.
    """

    http_method_names = ["post"]
    authentication_classes = ()
    permission_classes = (AllowAny,)
    parser_classes = ()
    internal_error_message = "Failed to process the webhook event"

    @extend_schema(
        operation_id="receiveStripeWebhook",
        summary="Receive Stripe Webhook",
        description=(
            "Stripe event delivery, verified with `STRIPE_WEBHOOK_SECRET` over the raw body "
            "(`Stripe-Signature`, 300 s tolerance). Handles `customer.subscription.created`, "
            "`.updated`, `.deleted`, `.paused`, `.resumed` and `customer.deleted`; other types are "
            "acknowledged and ignored, and an event id already processed is acknowledged again. "
            "`outcome`: `processed`, `unchanged` (older than the state held), `unknown_customer`, "
            "`duplicate` or `ignored`."
        ),
        auth=[],
        parameters=[
            OpenApiParameter(
                "Stripe-Signature",
                location=OpenApiParameter.HEADER,
                required=True,
                description='`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`',
            )
        ],
        request={"application/json": {"type": "object", "description": "A Stripe event."}},
        responses={
            200: OpenApiResponse(
                response=inline_serializer(
                    name="StripeWebhookResponse",
                    fields={
                        "success": serializers.BooleanField(),
                        "outcome": serializers.ChoiceField(choices=[o.value for o in webhooks.Outcome]),
                    },
                ),
                examples=[OpenApiExample("Processed", value={"success": True, "outcome": "processed"})],
            ),
            400: _error(
                "Missing, wrong or expired signature, or not a Stripe event.",
                "INVALID_SIGNATURE",
                "INVALID_PAYLOAD",
            ),
            405: _error("Any method but POST.", "METHOD_NOT_ALLOWED"),
            413: _error("The payload exceeds 1 MiB.", "PAYLOAD_TOO_LARGE"),
            500: _error(
                "No webhook secret is configured, or processing failed (Stripe retries).",
                "BILLING_NOT_CONFIGURED",
                "INTERNAL_ERROR",
            ),
            503: _error(
                "Stripe was needed and could not be reached (Stripe retries).", "BILLING_UNAVAILABLE"
            ),
        },
    )
    def post(self, request: Request) -> Response:
        if not settings.STRIPE_WEBHOOK_SECRET:
            raise_api_error(BillingNotConfigured("Billing is not configured: no webhook secret is set"))
        payload = _webhook_body(request._request)
        signature = request.META.get("HTTP_STRIPE_SIGNATURE", "")
        try:
            outcome = webhooks.webhook_event_process(payload=payload, signature=signature)
        except BillingError as e:
            raise_api_error(e)
        return Response({"success": True, "outcome": str(outcome)})
