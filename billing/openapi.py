"""The OpenAPI description of the billing endpoints (drf-spectacular), kept apart from the views.

Each constant decorates one view method in `billing.apis`: its operation id, summary,
description, examples, and every status and error code it can answer. The shape of each
success body is the output serializer (`billing.serializers`) that the view builds it with.
"""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers

from billing.serializers import (
    BuySubscriptionResponseSerializer,
    CancelPendingPaymentResponseSerializer,
    CancelSubscriptionResponseSerializer,
    CheckoutSessionStatusResponseSerializer,
    MySubscriptionResponseSerializer,
    PaymentsResponseSerializer,
    PendingPaymentResponseSerializer,
    PlanListResponseSerializer,
    PortalUrlResponseSerializer,
    StripeWebhookResponseSerializer,
)
from core.openapi import CALLER_ERRORS, error_response

# Every endpoint that calls Stripe, and reads the database: either may be down for a while.
_UNAVAILABLE = error_response(
    "Stripe is unreachable or overloaded, or the database is not answering; see `Retry-After`.",
    "BILLING_UNAVAILABLE",
    "SERVICE_UNAVAILABLE",
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
            response=PortalUrlResponseSerializer,
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
        503: _UNAVAILABLE,
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
            response=MySubscriptionResponseSerializer,
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
                            "name": "Pro",
                            "description": "For growing teams: 5 TB of storage.",
                            "periodId": "price_1PqrStUvWxYz",
                            "periodType": "MONTHLY",
                            "price": 4900,
                            "currency": "usd",
                            "dateFrom": "2026-12-01T00:00:00Z",
                            "dateTo": "2026-12-31T00:00:00Z",
                            "autoRenew": True,
                            "cancelAt": None,
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
        "`.updated`, `.deleted`, `.paused`, `.resumed`, `customer.deleted`, "
        "`checkout.session.completed` and `.expired`, `invoice.paid`, `invoice.payment_failed`, "
        "`product.*`, `price.*` and `entitlements.active_entitlement_summary.updated` (the "
        "capabilities); other types are "
        "acknowledged and ignored, and an event id already received is acknowledged again. "
        "A handled event is recorded and answered at once; the background worker applies it. "
        "`outcome`: `queued` (recorded, to be applied), `duplicate` (received before) or "
        "`ignored`; `processed`, `unchanged` and `unknown_customer` are what applying it came to, "
        "kept for clients of the in-request processing this endpoint once did."
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
            response=StripeWebhookResponseSerializer,
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
            "Stripe was needed and could not be reached, or the database is not answering (Stripe retries).",
            "BILLING_UNAVAILABLE",
            "SERVICE_UNAVAILABLE",
        ),
    },
)


# The reads that call Stripe (payment history, Checkout session status) have their own limit.
_READ_RATE_LIMITED = error_response(
    "Per-user rate of reads that call Stripe exceeded (`BILLING_READ_RATE`, shared by the payment "
    "history and the Checkout session status); see `Retry-After`.",
    "RATE_LIMITED",
)


# The answers every billing-role endpoint that calls Stripe shares (its own come beside them).
_BILLING_ROLE_ERRORS = {
    **CALLER_ERRORS,
    403: error_response("The user's role may not manage billing.", "BILLING_PERMISSION_DENIED"),
    429: error_response(
        "Per-user rate exceeded (shared by the portal, buying and cancelling); see `Retry-After`.",
        "RATE_LIMITED",
    ),
    500: error_response(
        "Billing is not configured, or an unexpected failure.", "BILLING_NOT_CONFIGURED", "INTERNAL_ERROR"
    ),
    503: _UNAVAILABLE,
}
_BILLING_WRITE_ERRORS = {
    **_BILLING_ROLE_ERRORS,
    405: error_response("Any method but POST.", "METHOD_NOT_ALLOWED"),
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
        200: OpenApiResponse(response=PortalUrlResponseSerializer),
        **_BILLING_WRITE_ERRORS,
    },
)

# Cancel and resume: nothing to act on.
_NO_LIVE_SUBSCRIPTION = error_response(
    "The user or organization no longer exists, or there is no live subscription (for resume: none "
    "set to cancel).",
    "USER_NOT_FOUND",
    "ORG_NOT_FOUND",
    "NO_SUBSCRIPTION",
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
            response=CancelSubscriptionResponseSerializer,
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
        404: _NO_LIVE_SUBSCRIPTION,
    },
)

SUBSCRIPTION_RESUME = extend_schema(
    operation_id="resumeSubscription",
    summary="Resume Subscription",
    description=(
        "Withdraw a cancellation set for the end of the period: the subscription renews as usual. "
        "The new state is stored at once. Nothing set to cancel: 404 `NO_SUBSCRIPTION`, except right "
        "after a resume made here, when asking again answers the same without a Stripe write. Counts "
        "toward the per-user rate shared with the portal. No body."
    ),
    request=None,
    responses={
        200: OpenApiResponse(
            response=CancelSubscriptionResponseSerializer,
            examples=[
                OpenApiExample(
                    "Renews again",
                    value={
                        "success": True,
                        "data": {
                            "subscriptionId": "sub_1PqrStUvWxYz",
                            "status": "active",
                            "cancelAt": None,
                            "canceledAt": None,
                        },
                    },
                )
            ],
        ),
        **_BILLING_WRITE_ERRORS,
        404: _NO_LIVE_SUBSCRIPTION,
    },
)

PAYMENTS_LIST = extend_schema(
    operation_id="getPayments",
    summary="Get Payments",
    description=(
        "The organization's payment history: its Stripe invoices created between `startDate` and "
        "`endDate` (ISO 8601 dates or date-times, inclusive, UTC; a date covers its whole day), "
        "newest first, at most 100 (`hasMore` says when there are more). `status`: `COMPLETED` "
        "(paid), `PENDING` (draft or open), `FAILED` (uncollectible), `CANCELLED` (void); "
        "`amount` (minor units) is what was paid, or what is due, tax included; `tax` is the tax in it "
        "and `discount` what a promotion code took off. No customer yet: an empty list."
    ),
    parameters=[
        OpenApiParameter("startDate", str, description="ISO 8601 date or date-time (inclusive)"),
        OpenApiParameter("endDate", str, description="ISO 8601 date or date-time (inclusive)"),
    ],
    responses={
        200: OpenApiResponse(response=PaymentsResponseSerializer),
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
        429: _READ_RATE_LIMITED,
        500: error_response(
            "Billing is not configured, or an unexpected failure.", "BILLING_NOT_CONFIGURED", "INTERNAL_ERROR"
        ),
        503: _UNAVAILABLE,
    },
)


# --- Plans and buying -------------------------------------------------------------------------

_DEMO_PLAN = {
    "id": "prod_demo_starter",
    "name": "Starter",
    "description": "For small teams: 1 TB of storage.",
    "periods": [
        {
            "id": "price_demo_starter_monthly",
            "subscriptionId": "prod_demo_starter",
            "periodType": "MONTHLY",
            "price": 1900,
            "currency": "usd",
            "perSeat": False,
        },
        {
            "id": "price_demo_starter_yearly",
            "subscriptionId": "prod_demo_starter",
            "periodType": "YEARLY",
            "price": 19000,
            "currency": "usd",
            "perSeat": False,
        },
    ],
    "capabilities": [
        {
            "id": "feat_demo_projects",
            "code": "PROJECTS",
            "description": "Projects",
            "type": "BOOLEAN",
            "value": 1,
        },
        {
            "id": "feat_demo_storage_1tb",
            "code": "STORAGE_TB",
            "description": "1 TB of storage",
            "type": "QUOTA",
            "value": 1,
        },
    ],
}


PLAN_LIST = extend_schema(
    operation_id="getSubscriptions",
    summary="List Plans",
    description=(
        "The plans on offer, read from Stripe's catalogue: a plan is a product, its periods the "
        "product's active recurring prices (by price ascending), its capabilities the product's "
        "Entitlements features. Plans come in the order of `BILLING_PRODUCTS`, else by their lowest "
        "price. No authentication. Cached a few minutes (dropped by `product.*`/`price.*` webhooks); "
        "while Stripe is unreachable the last list fetched is served."
    ),
    auth=[],
    request=None,
    responses={
        200: OpenApiResponse(
            response=PlanListResponseSerializer,
            examples=[OpenApiExample("Plans", value={"success": True, "data": [_DEMO_PLAN]})],
        ),
        405: error_response("Any method but GET.", "METHOD_NOT_ALLOWED"),
        500: error_response(
            "Billing is not configured, or an unexpected failure.", "BILLING_NOT_CONFIGURED", "INTERNAL_ERROR"
        ),
        503: error_response(
            "Stripe is unreachable and no plan list is cached; see `Retry-After`.", "BILLING_UNAVAILABLE"
        ),
    },
)

SUBSCRIPTION_BUY = extend_schema(
    operation_id="buySubscription",
    summary="Buy Subscription",
    description=(
        "Start (or change) the organization's subscription to one period (`price_...`). Without a "
        "live subscription: a Stripe Checkout session for a paid period (the same open session is "
        "answered again for the same period; an open one for another period is expired first), or "
        "the subscription at once for a free period. With a live subscription on another period: a "
        "portal session confirming the change (`isSubscriptionChange`). Billing roles only; counts "
        "toward the per-user rate shared with the portal."
    ),
    request=inline_serializer(
        name="BuySubscriptionRequest", fields={"subscriptionPeriodId": serializers.CharField()}
    ),
    responses={
        200: OpenApiResponse(
            response=BuySubscriptionResponseSerializer,
            examples=[
                OpenApiExample(
                    "Checkout",
                    value={
                        "success": True,
                        "checkoutUrl": "https://checkout.stripe.com/c/pay/cs_test_a1b2c3",
                        "sessionId": "cs_test_a1b2c3",
                        "isSubscriptionChange": False,
                        "previousSubscription": None,
                        "isFreeSubscription": False,
                    },
                ),
                OpenApiExample(
                    "Free period",
                    value={
                        "success": True,
                        "checkoutUrl": None,
                        "sessionId": None,
                        "subscriptionId": "sub_1PqrStUvWxYz",
                        "isSubscriptionChange": False,
                        "previousSubscription": None,
                        "isFreeSubscription": True,
                    },
                ),
                OpenApiExample(
                    "Change of period",
                    value={
                        "success": True,
                        "checkoutUrl": "https://billing.stripe.com/p/session/test_abc",
                        "sessionId": "bps_1PqrStUvWxYz",
                        "isSubscriptionChange": True,
                        "previousSubscription": {"id": "sub_1PqrStUvWxYz", "name": "Starter"},
                        "isFreeSubscription": False,
                    },
                ),
            ],
        ),
        **_BILLING_ROLE_ERRORS,
        400: error_response(
            "The user belongs to no organization; or the body is not JSON or names no "
            "`subscriptionPeriodId`.",
            "NO_ORGANIZATION",
            "VALIDATION_ERROR",
        ),
        404: error_response(
            "The user or the organization no longer exists, or the period is not an active recurring "
            "price of a plan on offer.",
            "USER_NOT_FOUND",
            "ORG_NOT_FOUND",
            "SUBSCRIPTION_PERIOD_NOT_FOUND",
        ),
        405: error_response("Any method but POST.", "METHOD_NOT_ALLOWED"),
        409: error_response(
            "Already subscribed to this period (or the open Checkout session was just paid), or the "
            "plan's member cap is below the organization's members.",
            "ALREADY_SUBSCRIBED",
            "TOO_MANY_MEMBERS",
        ),
    },
)

CHECKOUT_SESSION_STATUS = extend_schema(
    operation_id="getCheckoutSessionStatus",
    summary="Get Checkout Session Status",
    description=(
        "One of the organization's Checkout sessions, as Stripe has it now. A `complete` session's "
        "subscription is recorded at once. Any member may ask."
    ),
    request=None,
    responses={
        200: OpenApiResponse(
            response=CheckoutSessionStatusResponseSerializer,
            examples=[
                OpenApiExample(
                    "Paid",
                    value={
                        "success": True,
                        "id": "cs_test_a1b2c3",
                        "status": "complete",
                        "payment_status": "paid",
                        "subscriptionId": "sub_1PqrStUvWxYz",
                    },
                )
            ],
        ),
        **CALLER_ERRORS,
        400: error_response(
            "The user belongs to no organization, or the id is not one of the organization's "
            "Checkout sessions.",
            "NO_ORGANIZATION",
            "INVALID_SESSION",
        ),
        405: error_response("Any method but GET.", "METHOD_NOT_ALLOWED"),
        429: _READ_RATE_LIMITED,
        500: error_response(
            "Billing is not configured, or an unexpected failure.", "BILLING_NOT_CONFIGURED", "INTERNAL_ERROR"
        ),
        503: _UNAVAILABLE,
    },
)

_PENDING_EXAMPLE = {
    "id": 12,
    "stripePaymentId": "cs_test_a1b2c3",
    "amount": 1900,
    "currency": "usd",
    "status": "PENDING",
    "createdAt": "2026-12-01T10:00:00Z",
    "subscription": {"id": "prod_demo_starter", "name": "Starter", "description": "For small teams."},
    "subscriptionPeriod": {"id": "price_demo_starter_monthly", "periodType": "MONTHLY", "price": 1900},
    "checkoutUrl": "https://checkout.stripe.com/c/pay/cs_test_a1b2c3",
    "sessionStatus": "open",
}

PENDING_PAYMENT_GET = extend_schema(
    operation_id="getPendingPayment",
    summary="Get Pending Payment",
    description=(
        "The organization's open Checkout session (one past its `expires_at` is not pending). "
        "Any member may ask."
    ),
    request=None,
    responses={
        200: OpenApiResponse(
            response=PendingPaymentResponseSerializer,
            examples=[OpenApiExample("Pending", value={"success": True, "data": _PENDING_EXAMPLE})],
        ),
        **CALLER_ERRORS,
        404: error_response(
            "The user or the organization no longer exists, or there is no pending payment.",
            "USER_NOT_FOUND",
            "ORG_NOT_FOUND",
            "NO_PENDING_PAYMENT",
        ),
        405: error_response("Any method but GET and DELETE.", "METHOD_NOT_ALLOWED"),
        500: error_response("An unexpected failure.", "INTERNAL_ERROR"),
    },
)

PENDING_PAYMENT_CANCEL = extend_schema(
    operation_id="cancelPendingPayment",
    summary="Cancel Pending Payment",
    description=(
        "Expire the organization's open Checkout session at Stripe. Billing roles only; counts "
        "toward the per-user rate shared with the portal. If Stripe says it was paid meanwhile, the "
        "subscription is recorded and the answer is 409."
    ),
    request=None,
    responses={
        200: OpenApiResponse(
            response=CancelPendingPaymentResponseSerializer,
            examples=[
                OpenApiExample(
                    "Cancelled",
                    value={
                        "success": True,
                        "message": "Pending payment cancelled successfully",
                        "data": {
                            "paymentId": 12,
                            "stripePaymentId": "cs_test_a1b2c3",
                            "cancelledAt": "2026-12-01T10:05:00Z",
                        },
                    },
                )
            ],
        ),
        **_BILLING_ROLE_ERRORS,
        404: error_response(
            "The user or the organization no longer exists, or there is no pending payment.",
            "USER_NOT_FOUND",
            "ORG_NOT_FOUND",
            "NO_PENDING_PAYMENT",
        ),
        405: error_response("Any method but GET and DELETE.", "METHOD_NOT_ALLOWED"),
        409: error_response("The session was paid meanwhile.", "ALREADY_SUBSCRIBED"),
    },
)
