from __future__ import annotations

from django.conf import settings
from django.db import models


class Organization(models.Model):
    """A customer of ours: one Stripe customer, many members. Inactive means gone."""

    name = models.CharField(max_length=200)
    billing_email = models.EmailField(blank=True)
    # NULL (not "") while there is no customer yet, so the unique constraint holds.
    stripe_customer_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    # The Stripe account that holds the customer: a key of another account (or mode) does not
    # find the customer, and must not be taken for proof that it was deleted.
    stripe_account_id = models.CharField(max_length=255, blank=True, default="")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        BILLING = "billing", "Billing"
        MEMBER = "member", "Member"

    # The roles that may open the billing portal.
    BILLING_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.BILLING})

    # One-to-one: a user belongs to at most one organization.
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("organization", "user")

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.organization}"

    @property
    def can_manage_billing(self) -> bool:
        return self.role in self.BILLING_ROLES
