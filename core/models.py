from __future__ import annotations

from django.db import models


class Lease(models.Model):
    """A short claim on a named piece of work, held across a slow call instead of a transaction.

    See `core.leases`. Rows live for the length of one call; an expired row is a crashed holder's
    and may be taken over.
    """

    key = models.CharField(max_length=200, unique=True)
    token = models.CharField(max_length=64)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.key


class RateCounter(models.Model):
    """One rate-limit key's sliding-window counter (`core.ratelimit`, the embedded backend).

    Two fixed windows of the rate's period: the hits counted in the current one and in the one
    before, each with the times of its first and last counted hit. Written only by the one
    `INSERT ... ON CONFLICT DO UPDATE` of `core.ratelimit`, by a hit that is counted; a row
    past `expires_at` (both of its windows over) counts for nothing and is pruned now and then.
    """

    key = models.CharField(max_length=200, primary_key=True)
    window_start = models.BigIntegerField()  # epoch seconds, a multiple of the period
    hits = models.IntegerField()
    first_at = models.FloatField()  # epoch seconds; 0 while `hits` is 0
    last_at = models.FloatField()
    prev_hits = models.IntegerField()
    prev_first_at = models.FloatField()
    prev_last_at = models.FloatField()
    # No longer written by `core.ratelimit` (the statement's row count says whether a hit was
    # counted); kept, with a default in the database, so that a release still writing it can
    # run beside this one during a rolling deploy. A later release drops it.
    counted = models.SmallIntegerField(db_default=1)
    expires_at = models.FloatField(db_index=True)

    def __str__(self) -> str:
        return self.key


class WorkerHeartbeat(models.Model):
    """A running `manage.py worker`: it refreshes `seen_at` every few seconds while it lives.

    A task left running by a worker whose heartbeat stopped (killed, host lost) is put back in
    the queue by the other workers (`core.tasks.lost_tasks_requeue`).
    """

    worker_id = models.CharField(max_length=64, unique=True)
    host = models.CharField(max_length=255)
    pid = models.IntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.worker_id} ({self.host}:{self.pid})"
