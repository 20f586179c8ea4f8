"""The four endpoints, written the way the libraries' documentation shows.

No rate limit, no audit row, no race guard on the customer, no bulkhead or circuit breaker:
what the app adds around the same work is what the benchmark weighs against this.
"""

from datetime import UTC, datetime
from typing import Any

import stripe
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.handwritten.models import CheckoutSession, Subscription
from organizations.models import Membership, Organization

stripe.api_key = settings.STRIPE_SECRET_KEY
stripe.api_base = settings.STRIPE_API_BASE

NO_STORE = {"Cache-Control": "no-store"}
BILLING_ROLES = {"owner", "admin", "billing"}
PERIOD_TYPES = {"day": "DAILY", "week": "WEEKLY", "month": "MONTHLY", "year": "YEARLY"}


def error(status: int, code: str, message: str) -> Response:
    return Response({"success": False, "error_code": code, "message": message}, status=status)


def default_membership(user: Any) -> Membership | None:
    return Membership.objects.select_related("organization").filter(user=user, is_default=True).first()


# --- The plan list: Stripe's catalogue, kept in Django's cache ---------------------------------


def period_type(recurring: Any) -> str:
    interval, count = recurring["interval"], recurring["interval_count"]
    if count == 1:
        return PERIOD_TYPES[interval]
    return f"EVERY_{count}_{interval.upper()}S"


def fetch_plans() -> list[dict[str, Any]]:
    prices = stripe.Price.list(active=True, type="recurring", limit=100).auto_paging_iter()
    by_product: dict[str, list[Any]] = {}
    for price in prices:
        by_product.setdefault(str(price.product), []).append(price)
    plans: list[dict[str, Any]] = []
    for product in stripe.Product.list(active=True, limit=100).auto_paging_iter():
        periods = sorted(by_product.get(product.id, []), key=lambda p: (p.unit_amount, p.id))
        if not periods:
            continue
        features = stripe.Product.list_features(product.id, limit=100).auto_paging_iter()
        plans.append(
            {
                "id": product.id,
                "name": product.name,
                "description": product.description or "",
                "periods": [
                    {
                        "id": price.id,
                        "subscriptionId": product.id,
                        "periodType": period_type(price.recurring),
                        "price": price.unit_amount,
                        "currency": price.currency,
                        "perSeat": price.metadata.to_dict().get("per_seat") == "true",
                    }
                    for price in periods
                ],
                # Stripe lists a product's features newest first.
                "capabilities": [
                    {
                        "id": feature["id"],
                        "code": feature["metadata"].get("code") or feature["lookup_key"] or feature["id"],
                        "description": feature["name"],
                        "type": (feature["metadata"].get("type") or "BOOLEAN").upper(),
                        "value": int(feature["metadata"].get("value", 1)),
                    }
                    for feature in reversed([f.to_dict()["entitlement_feature"] for f in features])
                    if feature["active"]
                ],
            }
        )
    plans.sort(key=lambda plan: (plan["periods"][0]["price"], plan["name"], plan["id"]))
    return plans


def get_plans() -> list[dict[str, Any]]:
    plans = cache.get("plans")
    if plans is None:
        plans = fetch_plans()
        cache.set("plans", plans, settings.BILLING_PLANS_CACHE_SECONDS)
    return plans


def find_price(price_id: str) -> tuple[dict[str, Any], dict[str, Any]] | tuple[None, None]:
    for plan in get_plans():
        for period in plan["periods"]:
            if period["id"] == price_id:
                return plan, period
    return None, None


class PlanList(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    def get(self, request: Any) -> Response:
        return Response({"success": True, "data": get_plans()})


# --- The current subscription ----------------------------------------------------------------


class SubscriptionSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()
    description = serializers.SerializerMethodField()
    periodId = serializers.CharField(source="price_id")
    periodType = serializers.SerializerMethodField()
    price = serializers.SerializerMethodField()
    currency = serializers.SerializerMethodField()
    dateFrom = serializers.DateTimeField(source="current_period_start")
    dateTo = serializers.DateTimeField(source="current_period_end")
    autoRenew = serializers.SerializerMethodField()
    cancelAt = serializers.SerializerMethodField()
    capabilities = serializers.SerializerMethodField()

    class Meta:
        model = Subscription
        fields = [
            "stripe_subscription_id", "status", "price_id", "product", "quantity", "current_period_end",
            "cancel_at_period_end", "canceled_at", "trial_end", "name", "description", "periodId",
            "periodType", "price", "currency", "dateFrom", "dateTo", "autoRenew", "cancelAt",
            "capabilities",
        ]  # fmt: skip

    def get_name(self, obj: Subscription) -> Any:
        return (self.context["plan"] or {}).get("name")

    def get_description(self, obj: Subscription) -> Any:
        return (self.context["plan"] or {}).get("description")

    def get_periodType(self, obj: Subscription) -> Any:
        return (self.context["period"] or {}).get("periodType")

    def get_price(self, obj: Subscription) -> Any:
        return (self.context["period"] or {}).get("price")

    def get_currency(self, obj: Subscription) -> Any:
        return (self.context["period"] or {}).get("currency")

    def get_autoRenew(self, obj: Subscription) -> bool:
        return obj.status not in ("canceled", "incomplete_expired") and not obj.cancel_at_period_end

    def get_cancelAt(self, obj: Subscription) -> Any:
        if obj.cancel_at_period_end and obj.status not in ("canceled", "incomplete_expired"):
            value = obj.current_period_end
        else:
            value = obj.canceled_at if obj.status == "canceled" else None
        return serializers.DateTimeField().to_representation(value) if value else None

    def get_capabilities(self, obj: Subscription) -> list[dict[str, Any]]:
        capability_set = getattr(obj.organization, "capability_set", None)
        if obj.status not in settings.BILLING_ACCESS_STATUSES or capability_set is None:
            return []
        keys = ("code", "type", "value", "description")
        return [{key: item[key] for key in keys} for item in capability_set.items]


class MySubscription(APIView):
    def get(self, request: Any) -> Response:
        membership = default_membership(request.user)
        if membership is None:
            return error(403, "NO_ORGANIZATION", "You are not a member of an organization")
        subscription = (
            Subscription.objects.select_related("organization__capability_set")
            .filter(organization_id=membership.organization_id)
            .exclude(status__in=["canceled", "incomplete_expired"])
            .order_by("-stripe_created", "-pk")
            .first()
        )
        if subscription is None:
            body = {"success": True, "data": None, "message": "No subscription found"}
            return Response(body, headers=NO_STORE)
        plan, period = find_price(subscription.price_id)
        data = SubscriptionSerializer(subscription, context={"plan": plan, "period": period}).data
        return Response({"success": True, "data": data}, headers=NO_STORE)


# --- The pending payment ---------------------------------------------------------------------


class PendingPayment(APIView):
    def get(self, request: Any) -> Response:
        membership = default_membership(request.user)
        if membership is None:
            return error(403, "NO_ORGANIZATION", "You are not a member of an organization")
        row = (
            CheckoutSession.objects.filter(
                organization_id=membership.organization_id, status="open", expires_at__gt=timezone.now()
            )
            .order_by("-created_at", "-pk")
            .first()
        )
        if row is None:
            return error(404, "NO_PENDING_PAYMENT", "No pending payment found")
        plan, period = find_price(row.price_id)
        data = {
            "id": row.pk,
            "stripePaymentId": row.stripe_session_id,
            "amount": row.amount,
            "currency": row.currency,
            "status": "PENDING",
            "createdAt": serializers.DateTimeField().to_representation(row.created_at),
            "subscription": {
                "id": row.product_id,
                "name": (plan or {}).get("name", row.product_id),
                "description": (plan or {}).get("description", ""),
            },
            "subscriptionPeriod": {
                "id": row.price_id,
                "periodType": (period or {}).get("periodType"),
                "price": (period or {}).get("price", row.amount),
            },
            "checkoutUrl": row.url,
            "sessionStatus": "open",
        }
        return Response({"success": True, "data": data}, headers=NO_STORE)


# --- The billing portal ----------------------------------------------------------------------


class Portal(APIView):
    def post(self, request: Any) -> Response:
        membership = default_membership(request.user)
        if membership is None or membership.role not in BILLING_ROLES:
            return error(403, "FORBIDDEN", "You may not manage this organization's billing")
        organization = membership.organization
        try:
            if not organization.stripe_customer_id:
                customer = stripe.Customer.create(
                    name=organization.name,
                    email=organization.billing_email,
                    metadata={"organization_id": str(organization.pk)},
                )
                organization.stripe_customer_id = customer.id
                organization.save(update_fields=["stripe_customer_id"])
            session = stripe.billing_portal.Session.create(
                customer=organization.stripe_customer_id, return_url=settings.BILLING_PORTAL_RETURN_URL
            )
        except stripe.StripeError as e:
            return error(502, "STRIPE_ERROR", str(e.user_message or "Stripe failed"))
        return Response({"success": True, "url": session.url}, headers=NO_STORE)


# --- Stripe's webhooks (Stripe's documentation's sample, in the request) ----------------------


def stripe_time(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    try:
        event = stripe.Webhook.construct_event(
            request.body, request.headers.get("Stripe-Signature", ""), settings.STRIPE_WEBHOOK_SECRET
        )
    except (ValueError, stripe.SignatureVerificationError):
        return HttpResponse(status=400)
    if event.type.startswith("customer.subscription."):
        subscription = event.data.object.to_dict()
        organization = Organization.objects.filter(stripe_customer_id=subscription["customer"]).first()
        if organization is not None:
            item = subscription["items"]["data"][0]
            Subscription.objects.update_or_create(
                stripe_subscription_id=subscription["id"],
                defaults={
                    "organization": organization,
                    "status": subscription["status"],
                    "price_id": item["price"]["id"],
                    "product": item["price"]["product"],
                    "quantity": item.get("quantity"),
                    "current_period_start": stripe_time(item.get("current_period_start")),
                    "current_period_end": stripe_time(item.get("current_period_end")),
                    "cancel_at_period_end": subscription.get("cancel_at_period_end", False),
                    "canceled_at": stripe_time(subscription.get("canceled_at")),
                    "trial_end": stripe_time(subscription.get("trial_end")),
                    "stripe_created": stripe_time(subscription["created"]),
                    "state_at": stripe_time(event.created),
                    "synced_at": timezone.now(),
                },
            )
    return HttpResponse(status=200)
