from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


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

    # Owners and admins manage members; only an owner grants or takes away `owner`.
    MEMBER_ROLES = frozenset({Role.OWNER, Role.ADMIN})

    # A user may belong to several organizations, once each; one of them is their default.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    # The organization a request acts for when it names none (the page's first choice too).
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("organization", "user")
        constraints = [
            models.UniqueConstraint(
                fields=("user", "organization"), name="membership_user_organization_unique"
            ),
            models.UniqueConstraint(
                fields=("user",), condition=models.Q(is_default=True), name="membership_one_default_per_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.organization}"

    def save(self, *args: object, **kwargs: object) -> None:
        # Every way a membership is made (the services, the admin, the demo seed, factories)
        # must keep "one default per user": a user's first membership becomes the default.
        # Racing first memberships of one user meet the partial unique constraint.
        if self._state.adding and not self.is_default:
            self.is_default = not Membership.objects.filter(user_id=self.user_id, is_default=True).exists()
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    @property
    def can_manage_billing(self) -> bool:
        return self.role in self.BILLING_ROLES

    @property
    def can_manage_members(self) -> bool:
        return self.role in self.MEMBER_ROLES


INVITATION_DAYS = 7


def invitation_token_hash(token: str) -> str:
    """What the database keeps of an invitation's token: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_expiry() -> object:
    return timezone.now() + timedelta(days=INVITATION_DAYS)


class Invitation(models.Model):
    """An e-mail invited to join an organization with a role. Pending until accepted, revoked or
    expired; the link's token is kept only as a hash (a fresh one replaces it on each sending)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Membership.Role.choices, default=Membership.Role.MEMBER)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(default=invitation_expiry)
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=("organization", "email"), name="invitation_org_email_idx")]

    def __str__(self) -> str:
        return f"{self.email} ({self.role}) to {self.organization}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()


class MemberAuditEntry(models.Model):
    """Who did what to whom, and when: invitations, joins, role changes, removals."""

    class Action(models.TextChoices):
        INVITED = "invited", "Invited"
        INVITATION_RESENT = "invitation_resent", "Invitation re-sent"
        INVITATION_REVOKED = "invitation_revoked", "Invitation revoked"
        JOINED = "joined", "Joined"
        ROLE_CHANGED = "role_changed", "Role changed"
        REMOVED = "removed", "Removed"
        LEFT = "left", "Left"
        CREATED = "created", "Created the organization"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="member_audit")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Whom it was done to: an e-mail, so the row outlives the user and names an invitee too.
    subject_email = models.EmailField(blank=True)
    action = models.CharField(max_length=32, choices=Action.choices)
    detail = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name_plural = "member audit entries"

    def __str__(self) -> str:
        return f"{self.action} {self.subject_email} in {self.organization}"
