"""Organizations and memberships in the admin; billing adds its own parts in `billing.admin`."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import admin
from django.contrib.admin.options import InlineModelAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin import UserAdmin
from accounts.models import User
from organizations.models import Invitation, MemberAuditEntry, Membership, Organization


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)
    fields = ("user", "role", "is_default", "created_at")
    readonly_fields = ("created_at",)


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
    list_display: tuple[str, ...] = ("name", "billing_email", "stripe_customer_id", "is_active", "created_at")
    list_filter = ("is_active", HasStripeCustomerFilter)
    search_fields = ("name", "billing_email", "stripe_customer_id", "memberships__user__email")
    fields: ClassVar[tuple[str, ...]] = (
        "name",
        "billing_email",
        "is_active",
        "stripe_customer_id",
        "created_at",
    )
    # The customer id is written only by the billing services (and cleared by Stripe's
    # customer.deleted): editing it here would point the organization at someone else's billing.
    readonly_fields: ClassVar[tuple[str, ...]] = ("stripe_customer_id", "created_at")
    inlines: tuple[type[InlineModelAdmin[Any, Any]], ...] = (MembershipInline,)  # type: ignore[misc]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "organization", "role", "is_default", "created_at")
    list_filter = ("role", "is_default", "organization__is_active", "user__is_active")
    search_fields = ("user__email", "organization__name")
    autocomplete_fields = ("user", "organization")
    list_select_related = ("user", "organization")


class UserMembershipInline(admin.TabularInline):
    """The user's organizations and their role in each (one of them the default)."""

    model = Membership
    extra = 0
    autocomplete_fields = ("organization",)
    fields = ("organization", "role", "is_default")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Invitations as sent; the link's token is not here (only its hash is stored)."""

    list_display = (
        "email",
        "organization",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "revoked_at",
    )
    list_filter = ("role",)
    search_fields = ("email", "organization__name")
    list_select_related = ("organization", "invited_by")
    fields = (
        "organization",
        "email",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "revoked_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # invitations are sent from the members page or the API, which e-mail the link


@admin.register(MemberAuditEntry)
class MemberAuditEntryAdmin(admin.ModelAdmin):
    """Who did what to whom in which organization, and when. Read-only: it is the record."""

    list_display = ("created_at", "organization", "actor", "action", "subject_email", "detail")
    list_filter = ("action",)
    search_fields = ("organization__name", "actor__email", "subject_email")
    list_select_related = ("organization", "actor")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# The user admin of accounts, with the user's organizations and roles: accounts knows nothing
# of organizations, so they are added here.
admin.site.unregister(User)


@admin.register(User)
class OrganizationUserAdmin(UserAdmin):
    list_display = ("email", "full_name", "organization", "role", "is_active", "is_staff", "date_joined")
    list_filter = (*UserAdmin.list_filter, "memberships__role")
    search_fields = (*UserAdmin.search_fields, "memberships__organization__name")
    inlines = (UserMembershipInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).prefetch_related("memberships__organization")

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> list[InlineModelAdmin[Any, Any]]:
        # The add form stays Django's two-password form; organizations are added once the user exists.
        return super().get_inline_instances(request, obj) if obj is not None else []

    def _memberships(self, obj: User) -> list[Membership]:
        # The default first, then by when they joined (prefetched with the changelist).
        return sorted(obj.memberships.all(), key=lambda m: (not m.is_default, m.created_at))  # type: ignore[attr-defined]

    @admin.display(description="Organization")
    def organization(self, obj: User) -> str:
        return ", ".join(m.organization.name for m in self._memberships(obj)) or "—"

    @admin.display(description="Role")
    def role(self, obj: User) -> str:
        return ", ".join(m.get_role_display() for m in self._memberships(obj)) or "—"
