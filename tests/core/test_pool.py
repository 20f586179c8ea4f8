"""core.pool: the PostgreSQL pool checks a connection only when it has been idle a while."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from core import pool


class FakeConnection:
    autocommit = True

    def __init__(self) -> None:
        self.executed: list[str] = []

    def execute(self, query: str) -> None:
        self.executed.append(query)


def test_a_connection_never_returned_is_checked() -> None:
    conn = FakeConnection()
    pool.pool_connection_check(conn)
    assert conn.executed == [""]  # psycopg_pool's own check: an empty query, a round trip


def test_a_connection_back_moments_ago_is_not_checked_and_one_idle_longer_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(pool.time, "monotonic", lambda: now[0])
    conn = FakeConnection()
    pool.pool_connection_returned(conn)
    now[0] += pool.POOL_CHECK_IDLE_SECONDS / 2
    pool.pool_connection_check(conn)
    assert conn.executed == []
    now[0] += pool.POOL_CHECK_IDLE_SECONDS
    pool.pool_connection_check(conn)
    assert conn.executed == [""]


def test_a_broken_connection_idle_a_while_fails_its_check() -> None:
    class Broken(FakeConnection):
        def execute(self, query: str) -> None:
            raise OSError("server closed the connection unexpectedly")

    with pytest.raises(OSError):
        pool.pool_connection_check(Broken())  # the pool then replaces it


@pytest.mark.django_db
def test_the_postgresql_pool_runs_this_check() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the pool is PostgreSQL's")
    live: Any = connection.pool  # type: ignore[attr-defined]
    assert live._check is pool.pool_connection_check
    assert live._reset is None  # with a reset callback, the pool takes connections back in a thread


@pytest.mark.django_db(transaction=True)
def test_a_connection_handed_back_is_marked_and_not_checked_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the pool is PostgreSQL's")
    connection.ensure_connection()
    conn = connection.connection
    connection.close()  # back to the pool, through the backend's `_close`
    assert connection.pool._reset is None  # type: ignore[attr-defined]

    def round_trip(conn: Any) -> None:
        raise AssertionError("checked a connection handed back moments ago")

    monkeypatch.setattr(pool.ConnectionPool, "check_connection", staticmethod(round_trip))
    pool.pool_connection_check(conn)
