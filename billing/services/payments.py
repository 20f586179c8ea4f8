"""The organization's payment history, from Stripe's invoices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.utils.dateparse import parse_date, parse_datetime

from accounts.models import User
from billing import stripe_gateway
from billing.errors import InvalidDateRange, InvalidEndDate, InvalidStartDate
from billing.services.access import billing_membership_get

MAX_PAYMENTS = 100

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
    *, user: User, start: str | None = None, end: str | None = None, quick: bool = False
) -> tuple[list[Payment], bool]:
    """The organization's invoices between `start` and `end` (inclusive), newest first, at most
    MAX_PAYMENTS; and whether there are more. No customer yet: none."""
    organization = billing_membership_get(user=user).organization
    created_gte = _moment(start, end=False, error=InvalidStartDate)
    created_lte = _moment(end, end=True, error=InvalidEndDate)
    if created_gte is not None and created_lte is not None and created_gte > created_lte:
        raise InvalidDateRange()
    if not organization.stripe_customer_id:
        return [], False
    invoices, has_more = stripe_gateway.invoice_list(
        customer_id=organization.stripe_customer_id,
        created_gte=created_gte,
        created_lte=created_lte,
        limit=MAX_PAYMENTS,
        quick=quick,
    )
    return [
        Payment(
            id=invoice.id,
            amount=invoice.amount_paid if invoice.status == "paid" else invoice.amount_due,
            currency=invoice.currency,
            status=PAYMENT_STATUS.get(invoice.status, "PENDING"),
            timestamp=invoice.created,
            invoice_url=invoice.hosted_invoice_url,
            invoice_pdf=invoice.invoice_pdf,
        )
        for invoice in invoices
    ], has_more
