"""Who may manage an organization's billing, and how often they may ask Stripe."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from accounts.models import User
from billing.errors import BillingPermissionDenied, BillingUnavailable, RateLimited
from core import ratelimit
from organizations.models import Membership
from organizations.selectors import organization_membership_get

logger = logging.getLogger(__name__)


def billing_membership_get(*, user: User) -> Membership:
    """The membership through which `user` may manage billing, or the error why not."""
    membership = organization_membership_get(user=user)
    if not membership.can_manage_billing:
        raise BillingPermissionDenied()
    return membership


@contextmanager
def billing_rate_counted(*, user: User, action: str) -> Iterator[None]:
    """Count one request of `user` toward BILLING_PORTAL_RATE, the one per-user limit of the
    billing writes (portal sessions, buying, cancelling), API and page together.

    Runs after the access checks (a refused request does not count) and before Stripe. A
    request that Stripe failed (503) is taken back: a client that waited out an outage as
    told must not find itself limited after it.
    """
    with _rate_counted(
        key=f"portal:user:{user.pk}", rate=settings.BILLING_PORTAL_RATE, user=user, action=action
    ):
        yield


@contextmanager
def billing_read_counted(*, user: User, action: str) -> Iterator[None]:
    """Count one read of `user` that may call Stripe (the payment history, a Checkout session's
    status) toward BILLING_READ_RATE: a counter of its own, so that reading never uses up the
    writes' BILLING_PORTAL_RATE, and one person cannot spend the process's Stripe capacity and
    the account's Stripe rate, which every organization shares.

    Same order and rules as `billing_rate_counted`: after the access checks, before Stripe
    (and before the cache, so that the limit does not depend on what happens to be cached),
    and a read that Stripe failed (503) is taken back.
    """
    with _rate_counted(
        key=f"read:user:{user.pk}",
        rate=settings.BILLING_READ_RATE,
        user=user,
        action=action,
        message="Too many billing requests; try again in a moment",
    ):
        yield


@contextmanager
def _rate_counted(
    *, key: str, rate: str, user: User, action: str, message: str | None = None
) -> Iterator[None]:
    retry_after, stamp = ratelimit.hit_stamped(key=key, rate=rate)
    if stamp is None:
        logger.info("billing.rate_limited", extra={"user_id": user.pk, "action": action})
        raise RateLimited(message, retry_after=retry_after)
    try:
        yield
    except BillingUnavailable:
        ratelimit.forget(key=key, stamp=stamp, rate=rate)
        raise
