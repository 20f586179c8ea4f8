from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from billing.models import PortalSession


@admin.register(PortalSession)
class PortalSessionAdmin(admin.ModelAdmin):
    """The audit trail of portal sessions: read-only, written only by the billing services."""

    list_display = ("created_at", "organization", "user", "source", "stripe_session_id")
    list_filter = ("source",)
    search_fields = ("organization__name", "user__email", "stripe_session_id", "stripe_customer_id")
    list_select_related = ("organization", "user")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
