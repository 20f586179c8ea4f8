"""Billing in the admin: read-only views of what the services and Stripe's webhooks write.

Nothing here edits billing state. Subscriptions mirror Stripe (changed in the portal or
Stripe's dashboard, synced by webhooks); portal sessions and webhook events are audit trails.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from billing.models import PortalSession, Subscription, WebhookEvent
from organizations.admin import stripe_customer_link


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
        "product",
        "price_id",
        "quantity",
        "current_period_end",
        "cancel_at_period_end",
        "synced_at",
    )
    list_filter = ("status", "cancel_at_period_end", "organization__is_active")
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


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    """Stripe events received: whether a given event arrived, and when it was processed."""

    list_display = ("stripe_event_id", "type", "received_at", "processed_at")
    list_filter = ("type",)
    search_fields = ("stripe_event_id", "type")
    date_hierarchy = "received_at"
