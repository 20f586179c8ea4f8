from __future__ import annotations

from typing import Any

from django.db.models import Case, Q, Value, When

from billing.models import Subscription
from billing.services import plans as plan_catalogue
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


def plan_period_for_price(*, price_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The plan and period (the dicts of `GET /subscriptions`) of a Stripe price, from the
    cached plan list: no Stripe call, so None also when the list was never fetched."""
    plans = plan_catalogue.plans_cached()
    return None if plans is None else plan_catalogue.plan_period_find(plans, price_id=price_id)


def plan_for_product(*, product_id: str) -> dict[str, Any] | None:
    """The plan of a Stripe product from the cached plan list (no Stripe call), or None."""
    plans = plan_catalogue.plans_cached()
    return None if plans is None else plan_catalogue.plan_find(plans, product_id=product_id)


def subscriptions_current_by_organization(*, organization_ids: list[int]) -> dict[int, Subscription]:
    """The current subscription (as `subscription_current_get` picks it) of each of the
    organizations, keyed by organization id, in one query."""
    ended = Q(status__in=Subscription.ENDED_STATUSES)
    current: dict[int, Subscription] = {}
    rows = (
        Subscription.objects.filter(organization_id__in=organization_ids)
        .annotate(_ended=Case(When(ended, then=Value(1)), default=Value(0)))
        .order_by("_ended", "-stripe_created", "-pk")
    )
    for subscription in rows:
        current.setdefault(subscription.organization_id, subscription)
    return current
