"""Django's PostgreSQL backend, with the pool's health check of `core.pool`.

Django hands psycopg's pool either no check or `ConnectionPool.check_connection` (a round trip
on every checkout, with CONN_HEALTH_CHECKS), and refuses a `check` among the pool's OPTIONS.
This backend keeps everything of Django's and swaps that check for `core.pool`'s, which skips
connections handed back less than a second ago, and notes when each connection goes back.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool

from core.pool import pool_connection_check, pool_connection_returned


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> Any:
        pool = super().pool  # type: ignore[misc]  # not in django-stubs
        # psycopg_pool keeps its check in `_check` (3.2); swapped once, when Django made the pool.
        if pool is not None and pool._check is ConnectionPool.check_connection:
            pool._check = pool_connection_check
        return pool

    def _close(self) -> None:
        if self.connection is not None and self.pool:
            pool_connection_returned(self.connection)
        super()._close()  # type: ignore[misc]  # not in django-stubs
