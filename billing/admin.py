"""Billing in the admin: read-only views of what the services and Stripe's webhooks write.

Nothing here edits billing state. Subscriptions mirror Stripe (changed in the portal or
Stripe's dashboard, synced by webhooks); portal sessions and webhook events are audit trails.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Case, OuterRef, QuerySet, Subquery, Value, When
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from billing import stripe_gateway
from billing.errors import BillingError
from billing.models import (
    CapabilitySet,
    CheckoutSession,
    PortalSession,
    SeatChange,
    StripeWrite,
    Subscription,
    WebhookEvent,
)
from billing.services.plans import plan_find, plan_period_find, plans_cached, plans_list
from billing.tasks import subscriptions_sync, webhook_events_retry
from organizations.admin import OrganizationAdmin
from organizations.models import Organization


def stripe_customer_link(customer_id: str | None) -> str:
    """The customer id, linked to Stripe's dashboard (test or live by the key's mode); not
    linked while Stripe is a local stand-in, whose customers the dashboard has never seen."""
    if not customer_id:
        return "—"
    if settings.STRIPE_API_BASE:
        return customer_id
    return format_html(
        '<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>',
        stripe_gateway.customer_dashboard_url(customer_id),
        customer_id,
    )


def plan_name(product: str, price_id: str = "") -> str:
    """A subscription's plan as people know it: the product's name and the period ("Pro,
    yearly"), from the plan list (cached; fetched once when it is not); the id otherwise."""
    plans = plans_cached()
    if plans is None:
        try:
            plans = plans_list()
        except BillingError:
            plans = []
    found = plan_period_find(plans, price_id=price_id) if price_id else None
    if found is not None:
        period = str(found[1]["periodType"]).lower().replace("_", " ")
        return f"{found[0]['name']}, {period}"
    plan = plan_find(plans, product_id=product)
    return str(plan["name"]) if plan else (product or "—")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PortalSession)
class PortalSessionAdmin(ReadOnlyAdmin):
    """The audit trail of portal sessions (never the URL: it is a credential)."""

    list_display = ("created_at", "organization", "user", "source", "stripe_session_id", "stripe_customer")
    list_filter = ("source", "organization__is_active")
    search_fields = ("organization__name", "user__email", "stripe_session_id", "stripe_customer_id")
    list_select_related = ("organization", "user")
    date_hierarchy = "created_at"

    @admin.display(description="Stripe customer", ordering="stripe_customer_id")
    def stripe_customer(self, obj: PortalSession) -> str:
        return stripe_customer_link(obj.stripe_customer_id)


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    """Subscriptions as last synced from Stripe. Change them in Stripe, not here."""

    list_display = (
        "stripe_subscription_id",
        "organization",
        "status",
        "plan",
        "quantity",
        "current_period_end",
        "cancel_at_period_end",
        "synced_at",
    )
    list_filter = ("status", "cancel_at_period_end", "product", "organization__is_active")
    search_fields = (
        "stripe_subscription_id",
        "organization__name",
        "organization__stripe_customer_id",
        "product",
        "price_id",
    )
    list_select_related = ("organization",)
    date_hierarchy = "stripe_created"
    readonly_fields = ("stripe_customer",)

    @admin.display(description="Stripe customer")
    def stripe_customer(self, obj: Subscription) -> str:
        return stripe_customer_link(obj.organization.stripe_customer_id)

    @admin.display(description="Plan", ordering="product")
    def plan(self, obj: Subscription) -> str:
        return plan_name(obj.product, obj.price_id)


@admin.register(CapabilitySet)
class CapabilitySetAdmin(ReadOnlyAdmin):
    """What each organization's plan grants, as last synced from Stripe's entitlements."""

    list_display = ("organization", "codes", "state_at", "synced_at")
    search_fields = ("organization__name",)
    list_select_related = ("organization",)

    @admin.display(description="Capabilities")
    def codes(self, obj: CapabilitySet) -> str:
        return ", ".join(f"{item.get('code')}={item.get('value')}" for item in obj.items) or "—"


@admin.register(CheckoutSession)
class CheckoutSessionAdmin(ReadOnlyAdmin):
    """Checkout sessions the app started: which period, by whom, and how each ended."""

    list_display = (
        "created_at",
        "organization",
        "user",
        "status",
        "product_id",
        "price_id",
        "amount",
        "currency",
        "stripe_session_id",
        "expires_at",
    )
    list_filter = ("status", "organization__is_active")
    search_fields = ("organization__name", "user__email", "stripe_session_id", "price_id", "product_id")
    list_select_related = ("organization", "user")
    date_hierarchy = "created_at"
    exclude = ("url",)  # good only while open; nothing to do with it here


@admin.register(StripeWrite)
class StripeWriteAdmin(ReadOnlyAdmin):
    """Stripe writes the app made or began (customers, free subscriptions, cancellations and
    their undoing): one row per write, its token the idempotency key; unfinished means Stripe's
    answer never came, and a retry of the same write replays it."""

    list_display = ("created_at", "organization", "subject", "action", "finished_at")
    list_filter = ("subject",)
    search_fields = ("organization__name", "subject", "action")
    list_select_related = ("organization",)
    date_hierarchy = "created_at"


@admin.register(SeatChange)
class SeatChangeAdmin(ReadOnlyAdmin):
    """Member-count changes carried to per-seat subscriptions at Stripe: one row per update
    (the changes of one window share it). `failed` rows kept failing for a day: their error is
    shown; the next member change schedules a new update."""

    list_display = (
        "created_at",
        "organization",
        "stripe_subscription_id",
        "status",
        "quantity",
        "attempts",
        "applied_at",
    )
    list_filter = ("status",)
    search_fields = ("organization__name", "stripe_subscription_id")
    list_select_related = ("organization",)
    date_hierarchy = "created_at"


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    """Stripe events received: whether a given event arrived, whether the worker applied it,
    and, for one it gave up on, the error and a "retry" action."""

    list_display = (
        "stripe_event_id",
        "type",
        "status",
        "attempts",
        "received_at",
        "processed_at",
        "last_error",
    )
    list_filter = ("status", "type")
    search_fields = ("stripe_event_id", "type")
    date_hierarchy = "received_at"
    exclude = ("body",)  # the customer's data as Stripe sent it: kept for the worker, not shown
    actions = ("retry",)

    @admin.action(description="Retry the selected events given up")
    def retry(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        queued = webhook_events_retry(events=list(queryset.filter(status=WebhookEvent.Status.FAILED)))
        self.message_user(request, f"{queued} event(s) queued to be applied again.", messages.SUCCESS)


class _ReadOnlyInline(admin.TabularInline):
    """Rows written only by the billing services (or Stripe's webhooks): shown, never edited here."""

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SubscriptionInline(_ReadOnlyInline):
    model = Subscription
    # Few, short columns: the table fits the change page's box (the rest is one click away).
    fields = ("stripe_subscription_id", "plan", "status", "current_period_end", "cancel_at_period_end")
    readonly_fields = fields
    ordering = ("-stripe_created", "-pk")

    @admin.display(description="Plan")
    def plan(self, obj: Subscription) -> str:
        return plan_name(obj.product, obj.price_id)


class RecentFirstFormSet(BaseInlineFormSet):
    """Only the most recent rows: an organization's audit trail grows without bound, and the
    change page must load all the same. The full trail is one link away (`portal_sessions`)."""

    limit = 20

    def get_queryset(self) -> QuerySet[Any]:
        if not hasattr(self, "_recent"):
            self._recent = super().get_queryset()[: self.limit]
        return self._recent


class PortalSessionInline(_ReadOnlyInline):
    model = PortalSession
    formset = RecentFirstFormSet
    verbose_name_plural = f"portal sessions (the {RecentFirstFormSet.limit} most recent)"
    fields = ("created_at", "user", "source", "stripe_session_id", "stripe_customer_id")
    readonly_fields = fields
    ordering = ("-created_at", "-pk")

    def get_queryset(self, request: HttpRequest) -> QuerySet[PortalSession]:
        return super().get_queryset(request).select_related("user")


# The organization admin of organizations, with its billing: organizations knows nothing of
# billing, so the Stripe link, subscriptions and portal sessions are added here.
admin.site.unregister(Organization)


def _current_subscription(field: str) -> Subquery:
    """`field` of the organization's current subscription (as `subscription_current_get`
    picks it: the newest that has not ended, else the newest), for one query per list page."""
    ended = Case(When(status__in=Subscription.ENDED_STATUSES, then=Value(1)), default=Value(0))
    rows = (
        Subscription.objects.filter(organization=OuterRef("pk"))
        .annotate(_ended=ended)
        .order_by("_ended", "-stripe_created", "-pk")
    )
    return Subquery(rows.values(field)[:1])


class SubscriptionStatusFilter(admin.SimpleListFilter):
    title = "subscription status"
    parameter_name = "subscription_status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*Subscription.Status.choices, ("none", "No subscription")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "none":
            return queryset.filter(_status__isnull=True)
        if self.value() in Subscription.Status.values:
            return queryset.filter(_status=self.value())
        return queryset


class PlanFilter(admin.SimpleListFilter):
    title = "plan"
    parameter_name = "plan"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        products = Subscription.objects.order_by().values_list("product", flat=True).distinct()
        return [(p, plan_name(p)) for p in products if p]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(_product=self.value()) if self.value() else queryset


@admin.register(Organization)
class BillingOrganizationAdmin(OrganizationAdmin):
    list_display = (
        "name",
        "plan",
        "subscription_status",
        "renewal",
        "stripe_customer",
        "is_active",
    )
    list_filter = (SubscriptionStatusFilter, PlanFilter, *OrganizationAdmin.list_filter)  # type: ignore[assignment]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organization]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                _status=_current_subscription("status"),
                _product=_current_subscription("product"),
                _price=_current_subscription("price_id"),
                _period_end=_current_subscription("current_period_end"),
                _cancel=_current_subscription("cancel_at_period_end"),
            )
        )

    @admin.display(description="Plan", ordering="_product")
    def plan(self, obj: Any) -> str:
        return plan_name(obj._product, obj._price) if obj._product else "—"

    @admin.display(description="Status", ordering="_status")
    def subscription_status(self, obj: Any) -> str:
        return Subscription.Status(obj._status).label if obj._status else "No subscription"

    @admin.display(description="Renews / ends", ordering="_period_end")
    def renewal(self, obj: Any) -> str:
        if not obj._period_end or obj._status in Subscription.ENDED_STATUSES or obj._status == "past_due":
            return "—"
        when = f"{obj._period_end:%b} {obj._period_end.day}, {obj._period_end.year}"
        return f"Ends {when}" if obj._cancel else f"Renews {when}"

    fields = ("name", "billing_email", "is_active", "stripe_customer", "portal_sessions", "created_at")
    readonly_fields = ("stripe_customer", "portal_sessions", "created_at")
    inlines = (*OrganizationAdmin.inlines, SubscriptionInline, PortalSessionInline)  # type: ignore[misc]
    actions = ("sync_now",)  # the organizations' own admin has none

    @admin.action(description="Sync every organization's billing from Stripe now (in the background)")
    def sync_now(self, request: HttpRequest, queryset: QuerySet[Organization]) -> None:
        # The whole sync, whatever is selected: it reads Stripe in pages, not one organization
        # at a time (`sync_subscriptions`), with the same wrong-account guard.
        subscriptions_sync.enqueue()
        self.message_user(
            request,
            "The sync is queued: the background worker runs it (see Tasks, and the sync's log).",
            messages.SUCCESS,
        )

    @admin.display(description="Stripe customer", ordering="stripe_customer_id")
    def stripe_customer(self, obj: Organization) -> str:
        return stripe_customer_link(obj.stripe_customer_id)

    @admin.display(description="Portal sessions")
    def portal_sessions(self, obj: Organization) -> str:
        if obj.pk is None:
            return "—"
        url = reverse("admin:billing_portalsession_changelist") + f"?organization__id__exact={obj.pk}"
        return format_html('<a href="{}">All portal sessions of this organization</a>', url)
