"""The billing JSON API: thin views over the services; errors are raised, never caught here.

Every success body comes from an output serializer of `billing.serializers`; the OpenAPI
description of each view lives in `billing.openapi` and points at those same serializers.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest, QueryDict
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from billing import openapi, selectors, webhooks
from billing import serializers as out
from billing.capabilities import subscription_current_with_capabilities
from billing.errors import BillingNotConfigured, BuyRequestInvalid, WebhookPayloadTooLarge
from billing.models import PortalSession
from billing.services.access import billing_membership_get
from billing.services.cancel import subscription_cancel, subscription_resume
from billing.services.checkout import (
    checkout_session_status_get,
    pending_payment_cancel,
    pending_payment_for_user,
    subscription_buy,
)
from billing.services.payments import payments_list
from billing.services.plans import plans_list, plans_local_generation
from billing.services.portal import PAYMENT_METHOD_UPDATE, portal_session_create
from core.api import BaseApi
from organizations.selectors import organization_membership_get

NO_STORE = {"Cache-Control": "no-store"}


class PortalSessionCreateApi(BaseApi):
    """POST /subscriptions/portal: a Stripe billing portal URL for the caller's organization."""

    http_method_names = ["post"]
    internal_error_message = "Failed to create billing portal session"

    @openapi.PORTAL_SESSION_CREATE
    def post(self, request: Request) -> Response:
        url = portal_session_create(user=request.user, source=PortalSession.Source.API)  # type: ignore[arg-type]
        return Response(out.portal_url_body(url), headers=NO_STORE)


class SubscriptionCurrentApi(BaseApi):
    """GET /subscriptions/my: the organization's current subscription, as last synced.

    Any member may read it, `member` role included: unlike the portal (whose URL lets its
    holder change payment methods and cancel), this is read-only and tells a member no more
    than the product already shows them (whether the plan is active, until when). Being in
    an active organization is required, with the portal's codes for it.
    """

    http_method_names = ["get"]
    internal_error_message = "Failed to fetch subscription"

    @openapi.SUBSCRIPTION_CURRENT
    def get(self, request: Request) -> Response:
        membership = organization_membership_get(user=request.user)  # type: ignore[arg-type]
        # `selectors.subscription_current_get`, with the capabilities it grants, in one query.
        subscription, capabilities = subscription_current_with_capabilities(membership.organization)
        context: dict[str, object] = {"capabilities": capabilities}
        if subscription is not None:
            # The plan by name, from the cached plan list: no Stripe call on this read.
            found = selectors.plan_period_for_price(price_id=subscription.price_id)
            context["plan"], context["period"] = found or (None, None)
        body = out.MySubscriptionResponseSerializer({"data": subscription}, context=context).data
        return Response(body, headers=NO_STORE)


# Stripe's own limit on a webhook payload is far below this; anything larger is not Stripe.
WEBHOOK_MAX_BYTES = 1024 * 1024


def _webhook_body(request: HttpRequest) -> bytes:
    """The raw body, refused (413) past the cap: by its Content-Length, then by what is read."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > WEBHOOK_MAX_BYTES:
        raise WebhookPayloadTooLarge()
    # Read straight from the stream (never `request.body`, which buffers whatever is sent).
    body = request.read(WEBHOOK_MAX_BYTES + 1)
    if len(body) > WEBHOOK_MAX_BYTES:
        raise WebhookPayloadTooLarge()
    return body


class StripeWebhookApi(BaseApi):
    """POST /subscriptions/webhook: Stripe's events, verified over the raw body.

    No JWT (Stripe signs instead), no CSRF (DRF views are exempt; Stripe has no cookie), no
    parser (the signature covers the exact bytes). Answers fast: the event is recorded and
    queued, and the background worker applies it (billing/tasks.py): no handler and no Stripe
    call in the request.
    """

    http_method_names = ["post"]
    authentication_classes = ()
    permission_classes = (AllowAny,)
    parser_classes = ()
    internal_error_message = "Failed to process the webhook event"

    @openapi.STRIPE_WEBHOOK
    def post(self, request: Request) -> Response:
        if not settings.STRIPE_WEBHOOK_SECRET:
            raise BillingNotConfigured("Billing is not configured: no webhook secret is set")
        payload = _webhook_body(request._request)
        signature = request.META.get("HTTP_STRIPE_SIGNATURE", "")
        outcome = webhooks.webhook_event_receive(payload=payload, signature=signature)
        return Response(out.StripeWebhookResponseSerializer(outcome).data)


class PaymentMethodPortalCreateApi(BaseApi):
    """POST /subscriptions/portal/payment-method: the portal opened on "update payment method"."""

    http_method_names = ["post"]
    internal_error_message = "Failed to create billing portal session"

    @openapi.PAYMENT_METHOD_PORTAL_CREATE
    def post(self, request: Request) -> Response:
        url = portal_session_create(
            user=request.user,  # type: ignore[arg-type]
            source=PortalSession.Source.API,
            flow=PAYMENT_METHOD_UPDATE,
        )
        return Response(out.portal_url_body(url), headers=NO_STORE)


class SubscriptionCancelApi(BaseApi):
    """POST /subscriptions/cancel: cancel the organization's subscription (BILLING_CANCEL_MODE)."""

    http_method_names = ["post"]
    internal_error_message = "Failed to cancel the subscription"

    @openapi.SUBSCRIPTION_CANCEL
    def post(self, request: Request) -> Response:
        subscription = subscription_cancel(user=request.user, source=PortalSession.Source.API)  # type: ignore[arg-type]
        return Response(out.CancelSubscriptionResponseSerializer(subscription).data, headers=NO_STORE)


class SubscriptionResumeApi(BaseApi):
    """POST /subscriptions/resume: withdraw a cancellation set for the end of the period."""

    http_method_names = ["post"]
    internal_error_message = "Failed to resume the subscription"

    @openapi.SUBSCRIPTION_RESUME
    def post(self, request: Request) -> Response:
        subscription = subscription_resume(user=request.user, source=PortalSession.Source.API)  # type: ignore[arg-type]
        return Response(out.CancelSubscriptionResponseSerializer(subscription).data, headers=NO_STORE)


class PaymentsListApi(BaseApi):
    """GET /subscriptions/payments: the organization's payment history (Stripe's invoices)."""

    http_method_names = ["get"]
    internal_error_message = "Failed to fetch payments"

    @openapi.PAYMENTS_LIST
    def get(self, request: Request) -> Response:
        payments, has_more = payments_list(
            user=request.user,  # type: ignore[arg-type]
            start=request.query_params.get("startDate"),
            end=request.query_params.get("endDate"),
        )
        body = out.PaymentsResponseSerializer({"payments": payments, "has_more": has_more}).data
        return Response(body, headers=NO_STORE)


class PlanListApi(BaseApi):
    """GET /subscriptions: the plans on offer, from Stripe's catalogue (cached). No login."""

    http_method_names = ["get"]
    authentication_classes = ()
    permission_classes = (AllowAny,)
    internal_error_message = "Failed to fetch subscriptions"

    @openapi.PLAN_LIST
    def get(self, request: Request) -> Response:
        return Response(_plans_answer())


# The plan list's answer is the same for everyone and changes only with Stripe's catalogue
# (kept 5 minutes in the shared cache already). Read from the cache and serialized, it cost
# twice the CPU of the same bytes from a view that hands the cached list to the renderer: a
# nested serializer copies its declared fields for every plan, period and capability. So a
# process builds it at most once a second; a catalogue change seen by this process
# (`plans_invalidate`) drops it at once, one seen by another process within the second.
_PLANS_ANSWER_SECONDS = 1.0
_plans_answer_kept: tuple[float, int, Any] | None = None


def _plans_answer() -> Any:
    global _plans_answer_kept
    now, generation = time.monotonic(), plans_local_generation()
    kept = _plans_answer_kept
    keep = min(_PLANS_ANSWER_SECONDS, settings.BILLING_PLANS_CACHE_SECONDS)  # never past the cache's own
    if kept is not None and kept[1] == generation and now - kept[0] < keep:
        return kept[2]
    data = out.PlanListResponseSerializer(plans_list()).data
    _plans_answer_kept = (now, generation, data)
    return data


class SubscriptionBuyApi(BaseApi):
    """POST /subscriptions/buy: Checkout for a paid period, a free one at once, or a change."""

    http_method_names = ["post"]
    internal_error_message = "Failed to buy subscription"

    @openapi.SUBSCRIPTION_BUY
    def post(self, request: Request) -> Response:
        user: User = request.user  # type: ignore[assignment]
        billing_membership_get(user=user)  # who may buy comes before what they sent
        if request._request.body and "json" not in (request.content_type or "").lower():
            raise BuyRequestInvalid("The request body must be JSON")  # not 415: the documented 400
        data = request.data  # a body that is not JSON raises here: 400 VALIDATION_ERROR
        if not isinstance(data, dict) or isinstance(data, QueryDict):
            raise BuyRequestInvalid()
        result = subscription_buy(user=user, price_id=data.get("subscriptionPeriodId"))
        return Response(out.BuySubscriptionResponseSerializer(result).data, headers=NO_STORE)


class CheckoutSessionStatusApi(BaseApi):
    """GET /subscriptions/checkout-session/{id}: one of the organization's Checkout sessions."""

    http_method_names = ["get"]
    internal_error_message = "Failed to fetch checkout session"

    @openapi.CHECKOUT_SESSION_STATUS
    def get(self, request: Request, session_id: str) -> Response:
        session = checkout_session_status_get(user=request.user, session_id=session_id)  # type: ignore[arg-type]
        return Response(out.CheckoutSessionStatusResponseSerializer(session).data, headers=NO_STORE)


class PendingPaymentApi(BaseApi):
    """GET/DELETE /subscriptions/pending-payment: the organization's open Checkout session."""

    http_method_names = ["get", "delete"]
    internal_error_message = "Failed to process pending payment"

    @openapi.PENDING_PAYMENT_GET
    def get(self, request: Request) -> Response:
        row = pending_payment_for_user(user=request.user)  # type: ignore[arg-type]
        # The plan by name, from the cached plan list: no Stripe call on this read.
        plan, period = selectors.plan_period_for_price(price_id=row.price_id) or (None, None)
        body = out.PendingPaymentResponseSerializer(row, context={"plan": plan, "period": period}).data
        return Response(body, headers=NO_STORE)

    @openapi.PENDING_PAYMENT_CANCEL
    def delete(self, request: Request) -> Response:
        row, cancelled_at = pending_payment_cancel(user=request.user)  # type: ignore[arg-type]
        body = out.CancelPendingPaymentResponseSerializer({"payment": row, "cancelled_at": cancelled_at}).data
        return Response(body, headers=NO_STORE)
