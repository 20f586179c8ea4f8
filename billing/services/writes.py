"""Idempotency keys for Stripe writes that have no row of their own (`StripeWrite`).

Every key names one intent: it comes from a row made for that write before Stripe is asked,
never from a timestamp or a count, which can come round again for another write. The gateway
puts this deployment's prefix in front of every key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.utils import timezone

from billing.errors import BillingError, BillingUnavailable
from billing.models import StripeWrite
from organizations.models import Organization

# Stripe keeps an idempotency key for at least 24 hours; an unfinished write older than this
# is not replayed (Stripe may have forgotten the key, and the intent is long gone).
REPLAY_WINDOW = timedelta(hours=23)


def stripe_write_latest(*, organization: Organization, subject: str) -> StripeWrite | None:
    """The latest write the app made to `subject` (None: none yet)."""
    return (
        StripeWrite.objects.filter(organization=organization, subject=subject)
        .order_by("-created_at", "-pk")
        .first()
    )


def stripe_write_begin(*, organization: Organization, subject: str, action: str) -> StripeWrite:
    """The row of this write: the subject's latest one when it is this same write, still
    unfinished (a retry after Stripe's answer was lost: the key replays it), else a new one."""
    latest = stripe_write_latest(organization=organization, subject=subject)
    if (
        latest is not None
        and latest.finished_at is None
        and latest.action == action
        and latest.created_at > timezone.now() - REPLAY_WINDOW
    ):
        return latest
    return StripeWrite.objects.create(organization=organization, subject=subject, action=action)


def stripe_write_finish(*, write: StripeWrite) -> None:
    StripeWrite.objects.filter(pk=write.pk, finished_at__isnull=True).update(finished_at=timezone.now())


@contextmanager
def stripe_write(*, organization: Organization, subject: str, action: str) -> Iterator[str]:
    """The idempotency key of one write, for the block that makes it. Stripe answered (or
    refused it): the write is finished, the next one gets a new key. Stripe unreachable or
    timing out (it may have made the write): unfinished, the same write retried replays it."""
    write = stripe_write_begin(organization=organization, subject=subject, action=action)
    try:
        yield write.idempotency_key
    except BillingUnavailable:
        raise
    except BillingError:
        stripe_write_finish(write=write)
        raise
    stripe_write_finish(write=write)
