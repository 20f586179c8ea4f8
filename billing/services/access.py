"""Who may manage an organization's billing, and how often."""

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
    key = f"portal:user:{user.pk}"
    retry_after, stamp = ratelimit.hit_stamped(key=key, rate=settings.BILLING_PORTAL_RATE)
    if stamp is None:
        logger.info("billing.rate_limited", extra={"user_id": user.pk, "action": action})
        raise RateLimited(retry_after=retry_after)
    try:
        yield
    except BillingUnavailable:
        ratelimit.forget(key=key, stamp=stamp, rate=settings.BILLING_PORTAL_RATE)
        raise
