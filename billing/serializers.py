"""Output serializers of the billing API: each success body comes from one of these, and so does
its OpenAPI schema.

`billing.apis` builds every body as `XSerializer(obj, context=...).data` and `billing.openapi`
points drf-spectacular at the same classes, so the document describes what is sent. Each
envelope (`{"success": true, "data": ...}` and its siblings) is a serializer too; its fields
are declared in the order the keys are sent. Errors are not here: they are the one envelope
of `core.api_errors`.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from billing.models import CheckoutSession, Subscription
from billing.services.payments import PAYMENT_STATUS
from billing.webhooks import Outcome
from core.serializers import SuccessField, UtcDateTimeField

# An envelope's field named `data` shadows `Serializer.data` for the type checker only: DRF's
# metaclass takes declared fields off the class, so `.data` stays the serialized body.

# --- Fields -----------------------------------------------------------------------------------


class _Fixed(serializers.CharField):
    """A string the shape always carries, whatever the instance (a message, a fixed status)."""

    def __init__(self, value: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.value = value

    def get_attribute(self, instance: Any) -> str:
        return self.value


class _BlankAsNull(serializers.CharField):
    """Stripe's `""` for "none" is sent as null."""

    def to_representation(self, value: Any) -> Any:
        return str(value) or None


# --- The portal -------------------------------------------------------------------------------


# The instance is the URL itself. Both portal endpoints answer this shape.
@extend_schema_serializer(component_name="CreateBillingPortalResponse")
class PortalUrlResponseSerializer(serializers.Serializer):
    """A billing portal session's URL: a bearer credential, to use at once and never store."""

    success = SuccessField()
    url = serializers.URLField(source="*")


# Built once: the portal is the hot endpoint, and a bound serializer's `to_representation`
# skips the per-request copy of its fields (see `portal_url_body`).
_PORTAL_URL_RESPONSE = PortalUrlResponseSerializer()
_PORTAL_URL_RESPONSE.fields  # noqa: B018  # binds its fields now, not in a first request's thread


def portal_url_body(url: str) -> dict[str, Any]:
    """`PortalUrlResponseSerializer(url).data`, without building a serializer per request.

    A fresh serializer deep-copies its declared fields on every `.data`; this one was bound
    once at import and holds no per-call state, so threads can share it.
    """
    return _PORTAL_URL_RESPONSE.to_representation(url)  # type: ignore[no-any-return]


# --- The current subscription -----------------------------------------------------------------


class CapabilitySerializer(serializers.Serializer):
    """One capability of the plan (billing.capabilities.Capability)."""

    code = serializers.CharField()
    type = serializers.CharField(help_text="`BOOLEAN`, or e.g. `QUOTA`: the feature's metadata `type`.")
    value = serializers.IntegerField(help_text="1 for a boolean; the quota for a quota.")
    description = serializers.CharField()


class SubscriptionSerializer(serializers.ModelSerializer):
    """The subscription as last synced, with its plan as `GET /subscriptions` names it.

    `status` is Stripe's (a status Stripe adds later is passed through as it is). `name`,
    `description`, `periodType`, `price` and `currency` come from the cached plan list: null
    when the price is not, or no longer, among the plans on offer.
    """

    # context: `capabilities` (empty without access), `plan` and `period` (the dicts of the
    # cached plan list, None when the price is not on offer).
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: UtcDateTimeField,
    }

    capabilities = serializers.SerializerMethodField(
        help_text="What the plan grants, as last synced from Stripe's entitlements, one per `code`; "
        "empty while `status` is not in `BILLING_ACCESS_STATUSES`."
    )
    name = serializers.SerializerMethodField(help_text="The plan's (the Stripe product's) name.")
    description = serializers.SerializerMethodField(help_text="The plan's description.")
    periodId = serializers.CharField(source="price_id", help_text="The period's `price_...`, as `price_id`.")
    periodType = serializers.SerializerMethodField(help_text="`MONTHLY`, `YEARLY`, ... as in the plans.")
    price = serializers.SerializerMethodField(help_text="The period's price, in the currency's minor unit.")
    currency = serializers.SerializerMethodField()
    dateFrom = UtcDateTimeField(
        source="current_period_start", allow_null=True, help_text="Current period start."
    )
    dateTo = UtcDateTimeField(source="current_period_end", allow_null=True, help_text="Current period end.")
    autoRenew = serializers.BooleanField(
        source="auto_renew",
        help_text="False once a cancellation is scheduled, or the subscription ended.",
    )
    cancelAt = UtcDateTimeField(
        source="cancel_at",
        allow_null=True,
        help_text="When it ends for good: the period's end once a cancellation is scheduled, the "
        "moment it was canceled once it is; null while it renews.",
    )

    @extend_schema_field(CapabilitySerializer(many=True))
    def get_capabilities(self, obj: Subscription) -> list[dict[str, Any]]:
        capabilities = CapabilitySerializer(self.context.get("capabilities", []), many=True)
        return capabilities.data  # type: ignore[return-value]

    def _plan(self, key: str) -> Any:
        plan = self.context.get("plan")
        return None if plan is None else plan.get(key)

    def _period(self, key: str) -> Any:
        period = self.context.get("period")
        return None if period is None else period.get(key)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_name(self, obj: Subscription) -> str | None:
        return self._plan("name")  # type: ignore[no-any-return]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_description(self, obj: Subscription) -> str | None:
        return self._plan("description")  # type: ignore[no-any-return]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_periodType(self, obj: Subscription) -> Any:
        return self._period("periodType")

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_price(self, obj: Subscription) -> Any:
        return self._period("price")

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_currency(self, obj: Subscription) -> Any:
        return self._period("currency")

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
            "name",
            "description",
            "periodId",
            "periodType",
            "price",
            "currency",
            "dateFrom",
            "dateTo",
            "autoRenew",
            "cancelAt",
            "capabilities",
        )
        extra_kwargs = {
            "stripe_subscription_id": {"help_text": "`sub_...`"},
            "price_id": {"help_text": 'The first item\'s price (`price_...`); `""` if unknown.'},
            "product": {"help_text": 'The first item\'s product (`prod_...`); `""` if unknown.'},
            "quantity": {"help_text": "The first item's quantity (seats, on a per-seat price)."},
            "current_period_end": {"help_text": "End of the current period."},
            "cancel_at_period_end": {"help_text": "A cancellation is scheduled at the period's end."},
        }


NO_SUBSCRIPTION_MESSAGE = "No subscription found"


# The instance: `{"data": <Subscription or None>}`; the context as `SubscriptionSerializer`'s.
class MySubscriptionResponseSerializer(serializers.Serializer):
    success = SuccessField()
    data = SubscriptionSerializer(allow_null=True)  # type: ignore[assignment]
    message = serializers.CharField(
        required=False, help_text=f"`{NO_SUBSCRIPTION_MESSAGE}` when `data` is null."
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        body: dict[str, Any] = super().to_representation(instance)
        if body["data"] is None:
            body["message"] = NO_SUBSCRIPTION_MESSAGE
        return body


# --- Cancel -----------------------------------------------------------------------------------


# The instance: the `Subscription` row.
class CanceledSubscriptionSerializer(serializers.Serializer):
    subscriptionId = serializers.CharField(source="stripe_subscription_id")
    status = serializers.CharField()
    cancelAt = UtcDateTimeField(
        source="cancel_at",
        allow_null=True,
        help_text="When it ends: the period's end, or the moment it was canceled.",
    )
    canceledAt = UtcDateTimeField(
        source="canceled_at", allow_null=True, help_text="When the cancellation was made."
    )


class CancelSubscriptionResponseSerializer(serializers.Serializer):
    success = SuccessField()
    data = CanceledSubscriptionSerializer(source="*")  # type: ignore[assignment]


# --- Payments ---------------------------------------------------------------------------------

# One enum for the payment list's statuses (named `PaymentStatusEnum` in settings).
PAYMENT_STATUSES = list(dict.fromkeys(PAYMENT_STATUS.values()))


# The instance: a `billing.services.payments.Payment`.
class PaymentSerializer(serializers.Serializer):
    id = serializers.CharField()
    amount = serializers.IntegerField()
    tax = serializers.IntegerField(
        help_text="The invoice's tax, in the currency's minor unit (part of `amount`)."
    )
    discount = serializers.IntegerField(
        help_text="What the invoice's discounts (a promotion code) took off, in the minor unit."
    )
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=PAYMENT_STATUSES)
    timestamp = UtcDateTimeField()
    invoiceUrl = serializers.URLField(source="invoice_url", allow_null=True)
    invoicePdf = serializers.URLField(source="invoice_pdf", allow_null=True)


# The instance: `{"payments": [Payment, ...], "has_more": bool}`.
class PaymentsResponseSerializer(serializers.Serializer):
    success = SuccessField()
    data = PaymentSerializer(source="payments", many=True)  # type: ignore[assignment]
    hasMore = serializers.BooleanField(source="has_more")


# --- Plans ------------------------------------------------------------------------------------


class SubscriptionPeriodSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="`price_...`")
    subscriptionId = serializers.CharField(help_text="The plan's `prod_...`")
    periodType = serializers.CharField(
        help_text="`DAILY`, `WEEKLY`, `MONTHLY`, `YEARLY` or `EVERY_<n>_<UNIT>S`"
    )
    price = serializers.IntegerField(help_text="In the currency's minor unit (1999 is 19.99).")
    currency = serializers.CharField()
    perSeat = serializers.BooleanField(
        default=False,
        help_text="True when the price is per seat (its metadata `per_seat` is `true`): the "
        "subscription's quantity is the organization's member count.",
    )


class PlanCapabilitySerializer(serializers.Serializer):
    id = serializers.CharField(help_text="`feat_...`")
    code = serializers.CharField(help_text="The feature's metadata `code`, else its `lookup_key`.")
    description = serializers.CharField(help_text="The feature's name.")
    type = serializers.CharField(help_text="Metadata `type`; `BOOLEAN` by default.")
    value = serializers.IntegerField(help_text="Metadata `value`; 1 by default.")


# The instance: a plan of the cached plan list (`billing.services.plans`), a dict.
class PlanSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="`prod_...`")
    name = serializers.CharField()
    description = serializers.CharField()
    periods = SubscriptionPeriodSerializer(many=True)
    capabilities = PlanCapabilitySerializer(many=True)


# The instance: the plan list.
class PlanListResponseSerializer(serializers.Serializer):
    success = SuccessField()
    data = PlanSerializer(source="*", many=True)  # type: ignore[assignment]


# --- Buying -----------------------------------------------------------------------------------


class PreviousSubscriptionSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()


# The instance: a `billing.services.checkout.BuyResult`.
class BuySubscriptionResponseSerializer(serializers.Serializer):
    success = SuccessField()
    checkoutUrl = serializers.URLField(source="checkout_url", allow_null=True)
    sessionId = serializers.CharField(source="session_id", allow_null=True, help_text="`cs_...` or `bps_...`")
    subscriptionId = serializers.CharField(
        source="subscription_id", required=False, help_text="A free period only."
    )
    isSubscriptionChange = serializers.BooleanField(source="is_subscription_change")
    previousSubscription = PreviousSubscriptionSerializer(source="previous_subscription", allow_null=True)
    isFreeSubscription = serializers.BooleanField(source="is_free")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        body: dict[str, Any] = super().to_representation(instance)
        if not instance.is_free:
            del body["subscriptionId"]
        return body


# The instance: a `stripe_gateway.StripeCheckoutSession`.
class CheckoutSessionStatusResponseSerializer(serializers.Serializer):
    success = SuccessField()
    id = serializers.CharField()
    status = serializers.ChoiceField(choices=["open", "complete", "expired"])
    payment_status = serializers.ChoiceField(choices=["unpaid", "paid", "no_payment_required"])
    subscriptionId = _BlankAsNull(source="subscription_id", allow_null=True)


# --- The pending payment ----------------------------------------------------------------------


# The instance: the `CheckoutSession` row; the context's `plan` names it.
class PendingPaymentPlanSerializer(serializers.Serializer):
    """The plan being paid for."""

    id = serializers.CharField(source="product_id", help_text="`prod_...`")
    name = serializers.SerializerMethodField(help_text="The plan's name; its `prod_...` when not on offer.")
    description = serializers.SerializerMethodField(
        help_text='The plan\'s description; `""` when not on offer.'
    )

    def get_name(self, row: CheckoutSession) -> str:
        return (self.context.get("plan") or {}).get("name", row.product_id)  # type: ignore[no-any-return]

    def get_description(self, row: CheckoutSession) -> str:
        return (self.context.get("plan") or {}).get("description", "")  # type: ignore[no-any-return]


# The instance: the `CheckoutSession` row; the context's `period` names it.
class PendingPaymentPeriodSerializer(serializers.Serializer):
    """The period being paid for."""

    id = serializers.CharField(source="price_id", help_text="`price_...`")
    periodType = serializers.SerializerMethodField(help_text="As in the plans; null when not on offer.")
    price = serializers.SerializerMethodField(
        help_text="As in the plans; the session's amount when not on offer."
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_periodType(self, row: CheckoutSession) -> str | None:
        return (self.context.get("period") or {}).get("periodType")  # type: ignore[no-any-return]

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_price(self, row: CheckoutSession) -> int | None:
        return (self.context.get("period") or {}).get("price", row.amount)  # type: ignore[no-any-return]


# The instance: the `CheckoutSession` row. Context: `plan` and `period`, the dicts of the
# cached plan list (None when its price is not on offer).
class PendingPaymentSerializer(serializers.Serializer):
    """The organization's open Checkout session."""

    id = serializers.IntegerField(source="pk")
    stripePaymentId = serializers.CharField(source="stripe_session_id", help_text="`cs_...`")
    amount = serializers.IntegerField(allow_null=True, help_text="In the currency's minor unit.")
    currency = serializers.CharField()
    status = _Fixed("PENDING", help_text="Always `PENDING`.")
    createdAt = UtcDateTimeField(source="created_at")
    subscription = PendingPaymentPlanSerializer(source="*")
    subscriptionPeriod = PendingPaymentPeriodSerializer(source="*")
    checkoutUrl = serializers.URLField(source="url")
    sessionStatus = _Fixed("open", help_text="Always `open`.")


class PendingPaymentResponseSerializer(serializers.Serializer):
    success = SuccessField()
    data = PendingPaymentSerializer(source="*")  # type: ignore[assignment]


PENDING_PAYMENT_CANCELLED_MESSAGE = "Pending payment cancelled successfully"


class CancelledPaymentSerializer(serializers.Serializer):
    paymentId = serializers.IntegerField(source="payment.pk")
    stripePaymentId = serializers.CharField(source="payment.stripe_session_id")
    cancelledAt = UtcDateTimeField(source="cancelled_at")


# The instance: `{"payment": <CheckoutSession row>, "cancelled_at": datetime}`.
class CancelPendingPaymentResponseSerializer(serializers.Serializer):
    success = SuccessField()
    message = _Fixed(PENDING_PAYMENT_CANCELLED_MESSAGE)
    data = CancelledPaymentSerializer(source="*")  # type: ignore[assignment]


# --- The webhook ------------------------------------------------------------------------------


# The instance: the event's `billing.webhooks.Outcome`.
class StripeWebhookResponseSerializer(serializers.Serializer):
    success = SuccessField()
    outcome = serializers.ChoiceField(choices=[o.value for o in Outcome], source="*")
