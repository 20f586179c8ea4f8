"""The OpenAPI description of the billing endpoints (drf-spectacular), kept apart from the views.

Each constant decorates one view method in `billing.apis`; every status and error code the
endpoint can answer is listed here.
"""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers

from billing.models import Subscription
from billing.webhooks import Outcome
from core.openapi import CALLER_ERRORS, error_response


class CapabilitySerializer(serializers.Serializer):
    """One capability of the plan (billing.capabilities.Capability)."""

    code = serializers.CharField()
    type = serializers.CharField(help_text="`BOOLEAN`, or e.g. `QUOTA`: the feature's metadata `type`.")
    value = serializers.IntegerField(help_text="1 for a boolean; the quota for a quota.")
    description = serializers.CharField()


class SubscriptionSerializer(serializers.ModelSerializer):
    # The plan's capabilities, passed in as `context["capabilities"]` (empty without access).
    capabilities = serializers.SerializerMethodField()

    @extend_schema_field(CapabilitySerializer(many=True))
    def get_capabilities(self, obj: Subscription) -> list[dict[str, object]]:
        return [c.as_dict() for c in self.context.get("capabilities", [])]

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
            "capabilities",
        )


PORTAL_SESSION_CREATE = extend_schema(
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
        **CALLER_ERRORS,
        403: error_response("The user's role may not manage billing.", "BILLING_PERMISSION_DENIED"),
        405: error_response("Any method but POST.", "METHOD_NOT_ALLOWED"),
        429: error_response("Per-user rate exceeded; see `Retry-After`.", "RATE_LIMITED"),
        500: error_response(
            "Billing is not configured, or an unexpected failure.",
            "BILLING_NOT_CONFIGURED",
            "INTERNAL_ERROR",
        ),
        503: error_response("Stripe is unreachable or overloaded; see `Retry-After`.", "BILLING_UNAVAILABLE"),
    },
)

SUBSCRIPTION_CURRENT = extend_schema(
    operation_id="getMySubscription",
    summary="Get My Subscription",
    description=(
        "The current subscription of the authenticated user's organization, as last synced "
        "from Stripe (webhooks, the sync command, the billing page after a portal visit). "
        "Where there are several: the most recently created one that is not `canceled` or "
        "`incomplete_expired`, else the most recent. Any member of the organization may read it. "
        "`capabilities` lists what the plan grants (its Stripe features: `code`, `type`, `value`, "
        "`description`), empty while the status grants no access (`BILLING_ACCESS_STATUSES`)."
    ),
    request=None,
    responses={
        200: OpenApiResponse(
            response=inline_serializer(
                name="MySubscriptionResponse",
                fields={
                    "success": serializers.BooleanField(),
                    "data": SubscriptionSerializer(allow_null=True),
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
                            "capabilities": [
                                {
                                    "code": "EXTENDED_SUPPORT",
                                    "type": "BOOLEAN",
                                    "value": 1,
                                    "description": "Extended support",
                                },
                                {
                                    "code": "STORAGE_TB",
                                    "type": "QUOTA",
                                    "value": 5,
                                    "description": "5 TB of storage",
                                },
                            ],
                        },
                    },
                ),
                OpenApiExample(
                    "No subscription",
                    value={"success": True, "data": None, "message": "No subscription found"},
                ),
            ],
        ),
        **CALLER_ERRORS,
        405: error_response("Any method but GET.", "METHOD_NOT_ALLOWED"),
        500: error_response("An unexpected failure.", "INTERNAL_ERROR"),
    },
)

STRIPE_WEBHOOK = extend_schema(
    operation_id="receiveStripeWebhook",
    summary="Receive Stripe Webhook",
    description=(
        "Stripe event delivery, verified with `STRIPE_WEBHOOK_SECRET` over the raw body "
        "(`Stripe-Signature`, 300 s tolerance). Handles `customer.subscription.created`, "
        "`.updated`, `.deleted`, `.paused`, `.resumed`, `customer.deleted` and "
        "`entitlements.active_entitlement_summary.updated` (the capabilities); other types are "
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
                    "outcome": serializers.ChoiceField(choices=[o.value for o in Outcome]),
                },
            ),
            examples=[OpenApiExample("Processed", value={"success": True, "outcome": "processed"})],
        ),
        400: error_response(
            "Missing, wrong or expired signature, or not a Stripe event.",
            "INVALID_SIGNATURE",
            "INVALID_PAYLOAD",
        ),
        405: error_response("Any method but POST.", "METHOD_NOT_ALLOWED"),
        413: error_response("The payload exceeds 1 MiB.", "PAYLOAD_TOO_LARGE"),
        500: error_response(
            "No webhook secret is configured, or processing failed (Stripe retries).",
            "BILLING_NOT_CONFIGURED",
            "INTERNAL_ERROR",
        ),
        503: error_response(
            "Stripe was needed and could not be reached (Stripe retries).", "BILLING_UNAVAILABLE"
        ),
    },
)


# The answers of every billing write that calls Stripe on the caller's behalf.
_BILLING_WRITE_ERRORS = {
    **CALLER_ERRORS,
    403: error_response("The user's role may not manage billing.", "BILLING_PERMISSION_DENIED"),
    405: error_response("Any method but POST.", "METHOD_NOT_ALLOWED"),
    429: error_response("Per-user rate exceeded; see `Retry-After`.", "RATE_LIMITED"),
    500: error_response(
        "Billing is not configured, or an unexpected failure.", "BILLING_NOT_CONFIGURED", "INTERNAL_ERROR"
    ),
    503: error_response("Stripe is unreachable or overloaded; see `Retry-After`.", "BILLING_UNAVAILABLE"),
}

PAYMENT_METHOD_PORTAL_CREATE = extend_schema(
    operation_id="createPaymentMethodPortal",
    summary="Create Billing Portal Session on Update Payment Method",
    description=(
        "As `POST /subscriptions/portal`, but the portal opens on updating the payment method "
        "(Stripe's `payment_method_update` flow) and sends the customer back to the app once "
        "the card is saved: the one click a past-due organization needs."
    ),
    request=None,
    responses={
        200: OpenApiResponse(
            response=inline_serializer(
                name="PaymentMethodPortalResponse",
                fields={"success": serializers.BooleanField(), "url": serializers.URLField()},
            )
        ),
        **_BILLING_WRITE_ERRORS,
    },
)

SUBSCRIPTION_CANCEL = extend_schema(
    operation_id="cancelSubscription",
    summary="Cancel Subscription",
    description=(
        "Cancel the organization's live subscription as `BILLING_CANCEL_MODE` says: at the end of "
        "the paid period (`at_period_end`, the default) or now (`immediately`). The new state is "
        "stored at once. Asked again while the cancellation stands, it answers the same without "
        "a new Stripe write. No body."
    ),
    request=None,
    responses={
        200: OpenApiResponse(
            response=inline_serializer(
                name="CancelSubscriptionResponse",
                fields={
                    "success": serializers.BooleanField(),
                    "data": inline_serializer(
                        name="CanceledSubscription",
                        fields={
                            "subscriptionId": serializers.CharField(),
                            "status": serializers.CharField(),
                            "cancelAt": serializers.DateTimeField(allow_null=True),
                            "canceledAt": serializers.DateTimeField(allow_null=True),
                        },
                    ),
                },
            ),
            examples=[
                OpenApiExample(
                    "At period end",
                    value={
                        "success": True,
                        "data": {
                            "subscriptionId": "sub_1PqrStUvWxYz",
                            "status": "active",
                            "cancelAt": "2026-12-31T00:00:00Z",
                            "canceledAt": "2026-12-01T10:00:00Z",
                        },
                    },
                )
            ],
        ),
        **_BILLING_WRITE_ERRORS,
        404: error_response(
            "The user or organization no longer exists, or there is no live subscription.",
            "USER_NOT_FOUND",
            "ORG_NOT_FOUND",
            "NO_SUBSCRIPTION",
        ),
    },
)

PAYMENT_STATUSES = ["COMPLETED", "PENDING", "FAILED", "CANCELLED"]

PAYMENTS_LIST = extend_schema(
    operation_id="getPayments",
    summary="Get Payments",
    description=(
        "The organization's payment history: its Stripe invoices created between `startDate` and "
        "`endDate` (ISO 8601 dates or date-times, inclusive, UTC; a date covers its whole day), "
        "newest first, at most 100 (`hasMore` says when there are more). `status`: `COMPLETED` "
        "(paid), `PENDING` (draft or open), `FAILED` (uncollectible), `CANCELLED` (void); "
        "`amount` (minor units) is what was paid, or what is due. No customer yet: an empty list."
    ),
    parameters=[
        OpenApiParameter("startDate", str, description="ISO 8601 date or date-time (inclusive)"),
        OpenApiParameter("endDate", str, description="ISO 8601 date or date-time (inclusive)"),
    ],
    responses={
        200: OpenApiResponse(
            response=inline_serializer(
                name="PaymentsResponse",
                fields={
                    "success": serializers.BooleanField(),
                    "data": inline_serializer(
                        name="Payment",
                        many=True,
                        fields={
                            "id": serializers.CharField(),
                            "amount": serializers.IntegerField(),
                            "currency": serializers.CharField(),
                            "status": serializers.ChoiceField(
                                choices=["COMPLETED", "PENDING", "FAILED", "CANCELLED"]
                            ),
                            "timestamp": serializers.DateTimeField(),
                            "invoiceUrl": serializers.URLField(allow_null=True),
                            "invoicePdf": serializers.URLField(allow_null=True),
                        },
                    ),
                    "hasMore": serializers.BooleanField(),
                },
            )
        ),
        **CALLER_ERRORS,
        400: error_response(
            "No organization, or a date that does not parse, or a start after the end.",
            "NO_ORGANIZATION",
            "INVALID_START_DATE",
            "INVALID_END_DATE",
            "INVALID_DATE_RANGE",
        ),
        403: error_response("The user's role may not manage billing.", "BILLING_PERMISSION_DENIED"),
        405: error_response("Any method but GET.", "METHOD_NOT_ALLOWED"),
        500: error_response(
            "Billing is not configured, or an unexpected failure.", "BILLING_NOT_CONFIGURED", "INTERNAL_ERROR"
        ),
        503: error_response("Stripe is unreachable or overloaded; see `Retry-After`.", "BILLING_UNAVAILABLE"),
    },
)
