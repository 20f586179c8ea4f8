"""The plans on offer, read from Stripe's catalogue and kept in the shared cache.

Stripe is the catalogue: a plan is a product, its billing periods are the product's active
recurring prices, its capabilities the product's Entitlements features. Fetching all that
costs a call per product, so the list is kept in the shared cache as plain dicts: fresh for
`BILLING_PLANS_CACHE_SECONDS` (dropped sooner by `product.*`/`price.*` webhooks), and a stale
copy without expiry beside it, served while Stripe cannot be reached.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings
from django.core.cache import cache

from billing import stripe_gateway
from billing.errors import BillingUnavailable
from billing.features import capability_from_feature
from core.db import connection_release_if_pooled

logger = logging.getLogger(__name__)

PLANS_KEY = "billing:plans:fresh"
STALE_PLANS_KEY = "billing:plans:stale"
# Bumped by every invalidation: a fetch that started before it does not store what it read
# (it may predate the change the webhook announced).
GENERATION_KEY = "billing:plans:generation"
STALE_GENERATION_KEY = "billing:plans:stale-generation"  # the generation the stale copy was read in

Plan = dict[str, Any]

_UNITS = {"day": "DAY", "week": "WEEK", "month": "MONTH", "year": "YEAR"}
_SINGLE = {"day": "DAILY", "week": "WEEKLY", "month": "MONTHLY", "year": "YEARLY"}


def period_type(*, interval: str, interval_count: int) -> str:
    """`MONTHLY` for every month, `EVERY_3_MONTHS` for every three."""
    if interval_count == 1 and interval in _SINGLE:
        return _SINGLE[interval]
    return f"EVERY_{interval_count}_{_UNITS.get(interval, interval.upper())}S"


def _plans_fetch() -> list[Plan]:
    """The plan list as Stripe has it now (a call for products, one for prices, one per plan)."""
    offered = list(settings.BILLING_PRODUCTS)
    products = stripe_gateway.product_list(ids=offered or None)
    prices = stripe_gateway.price_list()
    by_product: dict[str, list[stripe_gateway.StripePrice]] = {}
    for price in prices:
        if price.active and price.recurring:
            by_product.setdefault(price.product, []).append(price)
    plans: list[Plan] = []
    for product in products:
        periods = sorted(by_product.get(product.id, []), key=lambda p: (p.unit_amount, p.id))
        if not product.active or not periods:
            continue
        # Stripe lists them newest first: shown in the order they were attached.
        features = list(reversed(stripe_gateway.product_feature_list(product_id=product.id)))
        plans.append(
            {
                "id": product.id,
                "name": product.name,
                "description": product.description,
                "periods": [
                    {
                        "id": price.id,
                        "subscriptionId": product.id,
                        "periodType": period_type(
                            interval=price.interval, interval_count=price.interval_count
                        ),
                        "price": price.unit_amount,
                        "currency": price.currency,
                        "perSeat": price.per_seat,
                    }
                    for price in periods
                ],
                "capabilities": [capability_from_feature(f).offered() for f in features if f.active],
            }
        )
    if offered:
        position = {product_id: n for n, product_id in enumerate(offered)}
        plans.sort(key=lambda plan: position.get(plan["id"], len(position)))
    else:
        plans.sort(key=lambda plan: (plan["periods"][0]["price"], plan["name"], plan["id"]))
    return plans


def plans_list() -> list[Plan]:
    """The plans on offer, from the cache or else from Stripe.

    While Stripe is unreachable the last list fetched is served, however old; without one,
    `BillingUnavailable`. Other billing errors (no key, say) are raised as they are.
    """
    plans: list[Plan] | None = cache.get(PLANS_KEY)
    if plans is not None:
        return plans
    # One fetch at a time in this process: when the list expires under load, the requests
    # that find it gone do not each call Stripe. While one thread fetches, the others serve
    # the last list fetched if the catalogue has not changed since (it merely expired); else,
    # or with none yet, they wait for the fetch and read what it stored.
    if not _fetching.acquire(blocking=False):
        kept = cache.get_many([STALE_PLANS_KEY, STALE_GENERATION_KEY, GENERATION_KEY])
        stale: list[Plan] | None = kept.get(STALE_PLANS_KEY)
        if stale is not None and kept.get(STALE_GENERATION_KEY, 0) == kept.get(GENERATION_KEY, 0):
            return stale
        connection_release_if_pooled()  # a wait on Stripe, as the fetch's own calls are
        _fetching.acquire()
    try:
        return _plans_fetched_or_cached()
    finally:
        _fetching.release()


_fetching = threading.Lock()


def _plans_fetched_or_cached() -> list[Plan]:
    plans: list[Plan] | None = cache.get(PLANS_KEY)  # stored by the fetch this thread waited for
    if plans is not None:
        return plans
    generation = cache.get(GENERATION_KEY, 0)
    try:
        plans = _plans_fetch()
    except BillingUnavailable:
        stale: list[Plan] | None = cache.get(STALE_PLANS_KEY)
        if stale is None:
            raise
        logger.warning("billing.plans_served_stale", extra={"plans": len(stale)})
        return stale
    if cache.get(GENERATION_KEY, 0) == generation:
        cache.set(PLANS_KEY, plans, timeout=settings.BILLING_PLANS_CACHE_SECONDS)
        cache.set(STALE_PLANS_KEY, plans, timeout=None)
        cache.set(STALE_GENERATION_KEY, generation, timeout=None)
    logger.info("billing.plans_fetched", extra={"plans": len(plans)})
    return plans


def plans_cached() -> list[Plan] | None:
    """The plans as last fetched (fresh or stale), without calling Stripe; None if never."""
    plans: list[Plan] | None = cache.get(PLANS_KEY)
    if plans is None:
        plans = cache.get(STALE_PLANS_KEY)
    return plans


# Bumped by `plans_invalidate` in this process: what was built here from the plan list (the
# API's answer, kept a second: billing/apis.py) is built afresh.
_local_generation = 0


def plans_local_generation() -> int:
    return _local_generation


def plans_invalidate() -> None:
    """Stripe's catalogue changed: the next read fetches it afresh (the stale copy stays, for
    an outage)."""
    global _local_generation
    _local_generation += 1
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:  # no generation yet
        cache.set(GENERATION_KEY, 1, timeout=None)
    cache.delete(PLANS_KEY)
    logger.info("billing.plans_invalidated")


def plan_period_find(plans: list[Plan], *, price_id: str) -> tuple[Plan, dict[str, Any]] | None:
    """The plan and period of `price_id` in `plans`, or None."""
    for plan in plans:
        for period in plan["periods"]:
            if period["id"] == price_id:
                return plan, period
    return None


def plan_find(plans: list[Plan], *, product_id: str) -> Plan | None:
    return next((plan for plan in plans if plan["id"] == product_id), None)
