"""The organization's payment history, from Stripe's invoices.

Each read costs a Stripe list call, and Stripe's rate is the whole account's: the list is
kept in the shared cache per organization and date range for a short while, and dropped by
the organization's invoice webhooks.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import uuid4

from django.conf import settings
from django.core.cache import cache
from django.utils.dateparse import parse_date, parse_datetime

from accounts.models import User
from billing import stripe_gateway
from billing.errors import InvalidDateRange, InvalidEndDate, InvalidStartDate
from billing.services.access import billing_membership_get, billing_read_counted
from organizations.models import Organization

MAX_PAYMENTS = 100

# The cached lists of an organization are keyed by its current generation: a new generation
# (`payments_cache_drop`) drops every date range at once. A reader takes the generation
# before it calls Stripe and stores under that one, so a list read before an invoice event
# and stored after it is never served. Random, not a counter: a generation that expired or
# was evicted is replaced by one that no earlier entry can carry.
_GENERATION_SECONDS = 24 * 3600
_CACHE_PREFIX = "billing:payments:v1"

# Stripe's invoice statuses, as the payment history names them.
PAYMENT_STATUS = {
    "paid": "COMPLETED",
    "draft": "PENDING",
    "open": "PENDING",
    "uncollectible": "FAILED",
    "void": "CANCELLED",
}


@dataclass(frozen=True)
class Payment:
    id: str
    amount: int  # minor units: what was paid, or what is due
    currency: str
    status: str
    timestamp: datetime
    invoice_url: str | None
    invoice_pdf: str | None
    tax: int = 0  # minor units: the invoice's tax (included in `amount`)
    discount: int = 0  # minor units: what its discounts took off (already off `amount`)


# The dates a payment history can be asked for. Stripe's `created` is a Unix time (nothing is
# before 1970), and a date past the year 2999 is a typo, not a question: either is a 400, as a
# date that is not one is (9999-12-31's end of day overflowed Python's dates: a 500).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC) - timedelta(microseconds=1)


def _moment(value: str | None, *, end: bool, error: type[Exception]) -> datetime | None:
    """An ISO 8601 date or date-time, in UTC; a date covers its whole day (inclusive bounds)."""
    if value is None or value == "":
        return None
    try:
        # A date first: parse_datetime would take "2026-06-01" for its midnight.
        day: date | None = parse_date(value)
        moment = None if day is not None else parse_datetime(value)
        if moment is not None:
            # An offset can carry a moment past either end of Python's dates (OverflowError).
            moment = moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        elif day is not None:
            moment = datetime.combine(day, time.max if end else time.min, tzinfo=UTC)
    except (ValueError, OverflowError):
        raise error() from None
    if moment is None or not EARLIEST <= moment <= LATEST:
        raise error()
    return moment


def payments_list(
    *,
    user: User,
    start: str | None = None,
    end: str | None = None,
    quick: bool = False,
    counted: bool = True,
) -> tuple[list[Payment], bool]:
    """The organization's invoices between `start` and `end` (inclusive), newest first, at most
    MAX_PAYMENTS; and whether there are more. No customer yet: none.

    Checks in order: role, dates, then (with `counted`) the per-user BILLING_READ_RATE; then
    the organization's cached list for this range, else Stripe (one short try with `quick`),
    whose answer is cached for BILLING_PAYMENTS_CACHE_SECONDS. The billing page passes
    `counted=False`: its side read is bounded by the cache, and a limit reached there would
    only hide the table.
    """
    organization = billing_membership_get(user=user).organization
    created_gte = _moment(start, end=False, error=InvalidStartDate)
    created_lte = _moment(end, end=True, error=InvalidEndDate)
    if created_gte is not None and created_lte is not None and created_gte > created_lte:
        raise InvalidDateRange()
    with billing_read_counted(user=user, action="payments") if counted else nullcontext():
        return _payments_read(
            organization=organization, created_gte=created_gte, created_lte=created_lte, quick=quick
        )


def payments_cached(*, user: User) -> tuple[list[Payment], bool] | None:
    """The organization's whole payment history (no date range) if it is in the cache, else
    None; never calls Stripe (a page that was refused or failed shows what is at hand)."""
    organization = billing_membership_get(user=user).organization
    if not organization.stripe_customer_id:
        return [], False
    cached: tuple[list[Payment], bool] | None = cache.get(
        _cache_key(organization=organization, created_gte=None, created_lte=None)
    )
    return cached


def payments_cache_drop(*, organization_id: int) -> None:
    """Forget every cached invoice list of the organization, whatever its date range: an
    invoice was created, paid, failed or voided at Stripe."""
    cache.set(_generation_key(organization_id), uuid4().hex, timeout=_GENERATION_SECONDS)


def _generation_key(organization_id: int) -> str:
    return f"{_CACHE_PREFIX}:{organization_id}:generation"


def _generation(organization_id: int) -> str:
    key = _generation_key(organization_id)
    generation: str | None = cache.get(key)
    if generation is None:
        generation = uuid4().hex
        if not cache.add(key, generation, timeout=_GENERATION_SECONDS):
            generation = cache.get(key) or generation  # another reader made one first
    return generation


def _cache_key(
    *,
    organization: Organization,
    created_gte: datetime | None,
    created_lte: datetime | None,
) -> str:
    # The bounds as Stripe receives them (whole seconds), and the customer: a re-created
    # customer never shows the invoices of the one before.
    bounds = ":".join(
        "-" if moment is None else str(int(moment.timestamp())) for moment in (created_gte, created_lte)
    )
    generation = _generation(organization.pk)
    return f"{_CACHE_PREFIX}:{organization.pk}:{generation}:{organization.stripe_customer_id}:{bounds}"


def _payments_read(
    *, organization: Organization, created_gte: datetime | None, created_lte: datetime | None, quick: bool
) -> tuple[list[Payment], bool]:
    if not organization.stripe_customer_id:
        return [], False
    key = _cache_key(organization=organization, created_gte=created_gte, created_lte=created_lte)
    cached: tuple[list[Payment], bool] | None = cache.get(key)
    if cached is not None:
        return cached
    invoices, has_more = stripe_gateway.invoice_list(
        customer_id=organization.stripe_customer_id,
        created_gte=created_gte,
        created_lte=created_lte,
        limit=MAX_PAYMENTS,
        quick=quick,
    )
    payments = [
        Payment(
            id=invoice.id,
            amount=invoice.amount_paid if invoice.status == "paid" else invoice.amount_due,
            currency=invoice.currency,
            status=PAYMENT_STATUS.get(invoice.status, "PENDING"),
            timestamp=invoice.created,
            invoice_url=invoice.hosted_invoice_url,
            invoice_pdf=invoice.invoice_pdf,
            tax=invoice.tax,
            discount=invoice.discount,
        )
        for invoice in invoices
    ]
    if settings.BILLING_PAYMENTS_CACHE_SECONDS > 0:  # only an answer is cached, never a failure
        cache.set(key, (payments, has_more), timeout=settings.BILLING_PAYMENTS_CACHE_SECONDS)
    return payments, has_more
