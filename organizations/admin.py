"""Organizations and memberships in the admin; billing adds its own parts in `billing.admin`."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import admin
from django.contrib.admin.options import InlineModelAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin import UserAdmin
from accounts.models import User
from organizations.models import Membership, Organization
from organizations.selectors import membership_for_user


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)
    fields = ("user", "role", "created_at")
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
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role", "organization__is_active", "user__is_active")
    search_fields = ("user__email", "organization__name")
    autocomplete_fields = ("user", "organization")
    list_select_related = ("user", "organization")


class UserMembershipInline(admin.StackedInline):
    """The user's one organization and role (a user belongs to at most one)."""

    model = Membership
    extra = 0
    max_num = 1
    autocomplete_fields = ("organization",)
    fields = ("organization", "role")


# The user admin of accounts, with the user's organization and role: accounts knows nothing
# of organizations, so they are added here.
admin.site.unregister(User)


@admin.register(User)
class OrganizationUserAdmin(UserAdmin):
    list_display = ("email", "full_name", "organization", "role", "is_active", "is_staff", "date_joined")
    list_filter = (*UserAdmin.list_filter, "membership__role")
    search_fields = (*UserAdmin.search_fields, "membership__organization__name")
    list_select_related = ("membership__organization",)
    inlines = (UserMembershipInline,)

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> list[InlineModelAdmin[Any, Any]]:
        # The add form stays Django's two-password form; the organization is set once the user exists.
        return super().get_inline_instances(request, obj) if obj is not None else []

    @admin.display(description="Organization", ordering="membership__organization__name")
    def organization(self, obj: User) -> str:
        membership = membership_for_user(user=obj)
        return membership.organization.name if membership else "—"

    @admin.display(description="Role", ordering="membership__role")
    def role(self, obj: User) -> str:
        membership = membership_for_user(user=obj)
        return membership.get_role_display() if membership else "—"
