from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from billing import stripe_gateway
from billing.models import PortalSession, Subscription
from organizations.models import Membership, Organization


def stripe_customer_link(customer_id: str | None) -> str:
    """The customer id, linked to Stripe's dashboard (test or live by the key's mode)."""
    if not customer_id:
        return "—"
    return format_html(
        '<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>',
        stripe_gateway.customer_dashboard_url(customer_id),
        customer_id,
    )


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)


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
    fields = (
        "stripe_subscription_id",
        "status",
        "product",
        "price_id",
        "quantity",
        "current_period_end",
        "cancel_at_period_end",
        "trial_end",
        "synced_at",
    )
    readonly_fields = fields
    ordering = ("-stripe_created", "-pk")


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


class HasStripeCustomerFilter(admin.SimpleListFilter):
    title = "Stripe customer"
    parameter_name = "has_customer"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Has a customer"), ("no", "No customer yet")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(stripe_customer_id__isnull=False)
        if self.value() == "no":
            return queryset.filter(stripe_customer_id__isnull=True)
        return queryset


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "billing_email", "stripe_customer", "is_active", "created_at")
    list_filter = ("is_active", HasStripeCustomerFilter)
    search_fields = ("name", "billing_email", "stripe_customer_id", "memberships__user__email")
    fields = ("name", "billing_email", "is_active", "stripe_customer", "portal_sessions", "created_at")
    # The customer id is written only by the billing services (and cleared by Stripe's
    # customer.deleted): editing it here would point the organization at someone else's billing.
    readonly_fields = ("stripe_customer", "portal_sessions", "created_at")
    inlines = (MembershipInline, SubscriptionInline, PortalSessionInline)

    @admin.display(description="Stripe customer", ordering="stripe_customer_id")
    def stripe_customer(self, obj: Organization) -> str:
        return stripe_customer_link(obj.stripe_customer_id)

    @admin.display(description="Portal sessions")
    def portal_sessions(self, obj: Organization) -> str:
        if obj.pk is None:
            return "—"
        url = reverse("admin:billing_portalsession_changelist") + f"?organization__id__exact={obj.pk}"
        return format_html('<a href="{}">All portal sessions of this organization</a>', url)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role", "organization__is_active", "user__is_active")
    search_fields = ("user__email", "organization__name")
    autocomplete_fields = ("user", "organization")
    list_select_related = ("user", "organization")
