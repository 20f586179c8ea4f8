from __future__ import annotations

from accounts.models import User
from organizations.errors import NoOrganization, OrganizationNotFound
from organizations.models import Membership


def membership_for_user(*, user: User) -> Membership | None:
    """The user's membership with its organization, or None.

    Uses what the authentication already loaded (`select_related`) when it did, so a
    request pays for it at most once.
    """
    try:
        membership: Membership = user.membership
    except Membership.DoesNotExist:
        return None
    return membership


def organization_membership_get(*, user: User) -> Membership:
    """The user's membership of an active organization, or the error why not."""
    membership = membership_for_user(user=user)
    if membership is None:
        raise NoOrganization()
    if not membership.organization.is_active:
        raise OrganizationNotFound()
    return membership
