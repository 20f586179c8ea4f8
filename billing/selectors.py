from __future__ import annotations

from django.db.models import Case, Q, Value, When

from accounts.models import User
from billing.models import Subscription
from organizations.models import Membership, Organization


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


def subscription_current_get(*, organization: Organization) -> Subscription | None:
    """The organization's current subscription as last synced (CONTRACT section 5).

    The most recently created one that has not ended (`canceled`, `incomplete_expired`),
    else the most recently created of all, else None. One query.
    """
    subscriptions = Subscription.objects.filter(organization=organization)
    ended = Q(status__in=Subscription.ENDED_STATUSES)
    return (
        subscriptions.annotate(_ended=Case(When(ended, then=Value(1)), default=Value(0)))
        .order_by("_ended", "-stripe_created", "-pk")
        .first()
    )
