from __future__ import annotations

from django.db.models import Case, Q, Value, When

from billing.models import Subscription
from organizations.models import Organization


def subscription_current_get(*, organization: Organization) -> Subscription | None:
    """The organization's current subscription as last synced.

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
