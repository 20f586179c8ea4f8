"""Who may manage an organization's billing."""

from __future__ import annotations

from accounts.models import User
from billing.errors import BillingPermissionDenied
from organizations.models import Membership
from organizations.selectors import organization_membership_get


def billing_membership_get(*, user: User) -> Membership:
    """The membership through which `user` may manage billing, or the error why not."""
    membership = organization_membership_get(user=user)
    if not membership.can_manage_billing:
        raise BillingPermissionDenied()
    return membership
