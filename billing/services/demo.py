"""The offline demo's "advance time": move the organization's Stripe test clock on a month.

Only while Stripe is the local stand-in (`STRIPE_API_BASE`) with test clocks on
(`STRIPE_TEST_CLOCKS`): Stripe then does what a month brings (a renewal paid or failed, a
subscription set to cancel ending) and sends its webhooks; the subscription is read back at
once so the page shows the outcome before the webhooks are applied.
"""

from __future__ import annotations

import calendar
import logging
from datetime import datetime

from django.conf import settings

from accounts.models import User
from billing import stripe_gateway
from billing.errors import BillingError
from billing.services.access import billing_membership_get, billing_rate_counted
from billing.services.sync import subscriptions_sync

logger = logging.getLogger(__name__)


class DemoClockUnavailable(BillingError):
    """No test clock to move: not the offline demo, or a customer made without one."""

    error_code = "DEMO_CLOCK_UNAVAILABLE"
    status_code = 404
    message = "Time can only be moved on in the offline demo, for a customer on a test clock"


def demo_clocks_enabled() -> bool:
    return bool(settings.STRIPE_API_BASE and settings.STRIPE_TEST_CLOCKS and stripe_gateway.is_test_mode())


def one_month_later(moment: datetime) -> datetime:
    """The same day and time next month (the month's last day when it has fewer days)."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def demo_clock_advance(*, user: User) -> datetime:
    """Move the organization's test clock on one month; the clock's new time. Billing roles;
    counted toward BILLING_PORTAL_RATE like the other billing writes."""
    membership = billing_membership_get(user=user)
    organization = membership.organization
    if not demo_clocks_enabled() or not organization.stripe_customer_id:
        raise DemoClockUnavailable()
    with billing_rate_counted(user=user, action="demo-clock"), stripe_gateway.request_deadline():
        clock = stripe_gateway.customer_test_clock(customer_id=organization.stripe_customer_id)
        if clock is None:
            raise DemoClockUnavailable()
        clock_id, now = clock
        later = one_month_later(now)
        # Keyed by the clock's time: a double click replays the same advance, not two months.
        stripe_gateway.test_clock_advance(
            clock_id=clock_id, frozen_time=later, idempotency_key=f"{clock_id}-to-{int(later.timestamp())}"
        )
    subscriptions_sync(organization=organization, check_customer=False, quick=True)
    logger.info(
        "billing.demo_clock_advanced", extra={"organization_id": organization.pk, "to": later.isoformat()}
    )
    return later
