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
