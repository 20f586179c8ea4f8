"""Leases: one holder at a time for a named piece of work, without a transaction held across it.

A database row lock held across a network call pins a connection and, on SQLite, locks the
whole database for as long as the call takes. A lease is a row committed *before* the call
(a claim) and deleted after it: the others see it, wait a little and look again, while the
database stays free. A holder that dies leaves a row that expires; whoever takes it over must
be able to redo the work safely, which is why leased work is keyed (a Stripe idempotency key
derived from the same local row gives the new holder the first holder's object back).

    with lease_hold(key=f"org-{org.pk}-customer", ttl=30, wait=12) as held:
        ...  # held: this thread is the only holder; not held: the wait ran out
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.db import connection_release_if_pooled
from core.models import Lease

# How often a waiter looks again: short against a Stripe call, long against a query.
POLL_SECONDS = 0.05


def lease_acquire(*, key: str, ttl: float) -> str | None:
    """Claim `key` for `ttl` seconds; the holder's token, or None while someone else holds it."""
    now = timezone.now()
    token = secrets.token_hex(16)
    expires_at = now + timedelta(seconds=ttl)
    # An expired claim is a dead holder's: taken over in one conditional update.
    if Lease.objects.filter(key=key, expires_at__lt=now).update(token=token, expires_at=expires_at):
        return token
    try:
        with transaction.atomic():
            Lease.objects.create(key=key, token=token, expires_at=expires_at)
    except IntegrityError:
        return None
    return token


def lease_release(*, key: str, token: str) -> None:
    """Give the claim back (a no-op when it expired and someone else took it)."""
    Lease.objects.filter(key=key, token=token).delete()


@contextmanager
def lease_hold(*, key: str, ttl: float, wait: float) -> Iterator[bool]:
    """Hold `key` for the block, waiting up to `wait` seconds for it; yields whether it is held.

    Must not run inside a transaction: the claim has to be visible to the others before the
    block starts, and gone the moment it ends.
    """
    deadline = time.monotonic() + wait
    token = lease_acquire(key=key, ttl=ttl)
    while token is None and time.monotonic() < deadline:
        connection_release_if_pooled()  # the holder may need one from the pool to finish
        time.sleep(POLL_SECONDS)
        token = lease_acquire(key=key, ttl=ttl)
    if token is None:
        yield False
        return
    try:
        yield True
    finally:
        lease_release(key=key, token=token)
