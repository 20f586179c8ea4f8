"""The PostgreSQL pool's health check (core/backends/postgresql gives it to psycopg_pool, and
marks each connection it hands back).

psycopg's pool can check each connection before handing it out (a round trip). A request
takes a connection twice (before and after its Stripe call), so checking every time doubled
the round trips of the portal request. A connection handed back moments ago cannot have been
broken by a database restart since without its own request failing (the pool drops a broken
one when it comes back), so only a connection idle for longer than POOL_CHECK_IDLE_SECONDS
is checked: after a restart, which takes longer, every idle connection is.
"""

from __future__ import annotations

import time
from typing import Any

from psycopg_pool import ConnectionPool

POOL_CHECK_IDLE_SECONDS = 1.0
_RETURNED_AT = "_billing_returned_at"


def pool_connection_returned(conn: Any) -> None:
    """Note when the connection goes back to the pool (the backend's `_close`, right before
    `putconn`). Not as the pool's `reset` callback: with one, psycopg_pool hands every returned
    connection to one of its worker threads instead of taking it back at once, two thread
    hand-offs per portal request."""
    setattr(conn, _RETURNED_AT, time.monotonic())


def pool_connection_check(conn: Any) -> None:
    """psycopg_pool's `check` callback: the pool's own check, unless the connection was in use
    less than POOL_CHECK_IDLE_SECONDS ago."""
    returned_at = getattr(conn, _RETURNED_AT, None)
    if returned_at is not None and time.monotonic() - returned_at < POOL_CHECK_IDLE_SECONDS:
        return
    ConnectionPool.check_connection(conn)
