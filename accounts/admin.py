from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.options import InlineModelAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.http import HttpRequest

from accounts.models import User
from organizations.models import Membership


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserChangeFormForEmail(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class MembershipInline(admin.StackedInline):
    """The user's one organization and role (a user belongs to at most one)."""

    model = Membership
    extra = 0
    max_num = 1
    autocomplete_fields = ("organization",)
    fields = ("organization", "role")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeFormForEmail
    add_form = UserCreationForm
    ordering = ("email",)
    list_display = ("email", "full_name", "organization", "role", "is_active", "is_staff", "date_joined")
    list_filter = ("is_active", "is_staff", "is_superuser", "membership__role")
    search_fields = ("email", "full_name", "membership__organization__name")
    list_select_related = ("membership__organization",)
    inlines = (MembershipInline,)
    readonly_fields = ("last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> list[InlineModelAdmin[Any, Any]]:
        # The add form stays Django's two-password form; the organization is set once the user exists.
        return super().get_inline_instances(request, obj) if obj is not None else []

    @admin.display(description="Organization", ordering="membership__organization__name")
    def organization(self, obj: User) -> str:
        membership = _membership(obj)
        return membership.organization.name if membership else "—"

    @admin.display(description="Role", ordering="membership__role")
    def role(self, obj: User) -> str:
        membership = _membership(obj)
        return membership.get_role_display() if membership else "—"


def _membership(user: User) -> Membership | None:
    try:
        return user.membership
    except Membership.DoesNotExist:
        return None
