"""The database connection around slow waits."""

from __future__ import annotations

from django.db import connection


def connection_release_if_pooled() -> None:
    """Hand this thread's database connection back to the pool, when there is one and no
    transaction needs it.

    A pooled connection held while a thread waits (on Stripe, on another request's lease) is
    one fewer for every other request: with enough waiters the pool runs dry and the request
    they wait for cannot get one to finish. Without a pool (SQLite's persistent connections)
    there is nothing to hand back.
    """
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()
