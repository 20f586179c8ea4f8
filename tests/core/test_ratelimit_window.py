"""core.ratelimit's sliding-window counter: the limit reached exactly, the window sliding, a hit
taken back, Retry-After, and concurrent hits never exceeding the limit.

Each test runs on the embedded backend (a row per key in the database) and, when
TEST_REDIS_URL names a Redis server, on the Redis backend (one Lua script per hit).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from core import ratelimit
from core.errors import retry_after_seconds
from core.models import RateCounter
from tests.conftest import StoppedClock

START = 1_800_000_000.0  # the stopped clock's start: a multiple of 60, a window's first instant
BACKENDS = ["db", *(["redis"] if os.environ.get("TEST_REDIS_URL") else [])]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    if request.param == "redis":
        url = os.environ["TEST_REDIS_URL"]
        settings.REDIS_URL = url
        settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url}}
        ratelimit._scripts.clear()
        from django_redis import get_redis_connection

        get_redis_connection("default").flushdb()
    else:
        request.getfixturevalue("db")
    yield request.param
    ratelimit._scripts.clear()


def hits(n: int, key: str = "k", rate: str = "10/min") -> list[float | None]:
    return [ratelimit.hit(key=key, rate=rate) for _ in range(n)]


def test_the_limit_is_reached_exactly(backend: str, ratelimit_clock: StoppedClock) -> None:
    assert hits(10) == [None] * 10
    assert ratelimit.hit(key="k", rate="10/min") == pytest.approx(60.0)
    assert hits(1, key="other") == [None]  # per key


def test_a_burst_leaves_the_window_one_period_later(backend: str, ratelimit_clock: StoppedClock) -> None:
    hits(10)
    ratelimit_clock.advance(59.5)
    assert ratelimit.hit(key="k", rate="10/min") == pytest.approx(0.5)
    ratelimit_clock.advance(0.5)
    assert hits(10) == [None] * 10  # all of the burst's hits were at one instant: all gone
    assert hits(1)[0] is not None


def test_the_previous_window_is_weighted_by_what_is_left_of_it(
    backend: str, ratelimit_clock: StoppedClock
) -> None:
    for _ in range(10):  # one hit every 6 s, from the window's start to 54 s into it
        assert hits(1) == [None]
        ratelimit_clock.advance(6)
    ratelimit_clock.now = START + 90  # 30 s into the next window: 24 of 54 s of hits left
    # 10 x 24/54 = 4.4 of the previous window's hits still count: 5 more fit under 10.
    assert hits(5) == [None] * 5
    retry = ratelimit.hit(key="k", rate="10/min")
    # Once only 4 of them count: 114 - 0.4 x 54 = 92.4 s after the start.
    assert retry == pytest.approx(2.4)
    assert retry is not None and retry_after_seconds(retry) == 3
    ratelimit_clock.advance(retry + 1e-6)
    assert hits(1) == [None]
    assert hits(1)[0] is not None


def test_two_windows_on_the_previous_is_forgotten(backend: str, ratelimit_clock: StoppedClock) -> None:
    hits(10)
    ratelimit_clock.advance(125)
    assert hits(10) == [None] * 10


def test_a_refused_hit_does_not_count(backend: str, ratelimit_clock: StoppedClock) -> None:
    hits(10)
    for _ in range(50):
        assert ratelimit.hit(key="k", rate="10/min") is not None
    ratelimit_clock.advance(60)
    assert hits(10) == [None] * 10


def test_forget_takes_back_one_hit_of_its_window(backend: str, ratelimit_clock: StoppedClock) -> None:
    stamps = [ratelimit.hit_stamped(key="k", rate="3/min") for _ in range(3)]
    assert all(retry is None and stamp is not None for retry, stamp in stamps)
    refused = ratelimit.hit_stamped(key="k", rate="3/min")
    assert refused[0] is not None and refused[1] is None
    stamp = stamps[1][1]
    assert stamp is not None
    ratelimit.forget(key="k", stamp=stamp, rate="3/min")
    assert ratelimit.hit(key="k", rate="3/min") is None  # its place again
    assert ratelimit.hit(key="k", rate="3/min") is not None


def test_forget_reaches_the_previous_window(backend: str, ratelimit_clock: StoppedClock) -> None:
    ratelimit_clock.advance(50)
    _, stamp = ratelimit.hit_stamped(key="k", rate="1/min")
    assert stamp is not None
    ratelimit_clock.advance(20)  # the next window: the hit is the previous window's now
    assert ratelimit.hit(key="k", rate="1/min") is not None
    ratelimit.forget(key="k", stamp=stamp, rate="1/min")
    assert ratelimit.hit(key="k", rate="1/min") is None


def test_forget_of_a_window_that_is_over_changes_nothing(backend: str, ratelimit_clock: StoppedClock) -> None:
    _, stamp = ratelimit.hit_stamped(key="k", rate="1/min")
    assert stamp is not None
    ratelimit_clock.advance(130)
    assert hits(1, rate="1/min") == [None]
    ratelimit.forget(key="k", stamp=stamp, rate="1/min")  # never below what the current window holds
    assert hits(1, rate="1/min")[0] is not None


def test_forget_never_goes_below_zero(backend: str, ratelimit_clock: StoppedClock) -> None:
    _, stamp = ratelimit.hit_stamped(key="k", rate="2/min")
    assert stamp is not None
    for _ in range(3):
        ratelimit.forget(key="k", stamp=stamp, rate="2/min")
    assert hits(3, rate="2/min")[:2] == [None, None]


def test_reset_forgets_everything(backend: str, ratelimit_clock: StoppedClock) -> None:
    hits(10)
    ratelimit.reset(key="k")
    assert hits(10) == [None] * 10


def test_retry_after_is_whole_seconds_and_lets_the_client_through(
    backend: str, ratelimit_clock: StoppedClock
) -> None:
    hits(3, rate="3/min")
    ratelimit_clock.advance(15.2)
    retry = ratelimit.hit(key="k", rate="3/min")
    assert retry == pytest.approx(44.8)
    assert retry_after_seconds(retry) == 45
    ratelimit_clock.advance(retry_after_seconds(retry))
    assert hits(1, rate="3/min") == [None]


@pytest.mark.parametrize(
    ("counts", "now", "expected"),
    [
        ((3, START, START, 0, 0.0, 0.0), START + 20, 40.0),  # this window's burst
        ((1, START + 60, START + 60, 3, START, START + 30), START + 60, 20.0),  # 1 of 3 may stay
        ((0, 0.0, 0.0, 0, 0.0, 0.0), START, 60.0),  # a limit of 0
    ],
)
def test_retry_after_arithmetic(counts: tuple[Any, ...], now: float, expected: float) -> None:
    limit = 0 if expected == 60.0 and counts[0] == 0 else 3
    assert ratelimit._retry_after(limit=limit, period=60, now=now, counts=counts) == pytest.approx(expected)


def test_share_left() -> None:
    assert ratelimit._share_left(START, START, 60, START + 59.9) == 1.0
    assert ratelimit._share_left(START, START, 60, START + 60) == 0.0
    assert ratelimit._share_left(START, START + 40, 60, START + 80) == pytest.approx(0.5)
    assert ratelimit._share_left(START, START + 40, 60, START + 30) == 1.0


@pytest.mark.django_db
def test_one_row_per_key_and_expired_rows_are_pruned(ratelimit_clock: StoppedClock, monkeypatch: Any) -> None:
    for i in range(5):
        hits(20, key=f"k{i}")
    assert RateCounter.objects.count() == 5  # bounded: one row per key, however many hits
    ratelimit_clock.advance(121)
    monkeypatch.setattr(ratelimit, "PRUNE_EVERY", 1)  # this hit prunes
    hits(1, key="fresh")
    assert list(RateCounter.objects.values_list("key", flat=True)) == ["fresh"]


@pytest.mark.django_db
def test_a_hit_is_one_statement(django_assert_num_queries: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(ratelimit, "PRUNE_EVERY", 10**9)
    with django_assert_num_queries(1):
        ratelimit.hit(key="k", rate="10/min")
    hits(10, key="full")
    with django_assert_num_queries(2):  # refused: the row is read again for Retry-After
        assert ratelimit.hit(key="full", rate="10/min") is not None
    _, stamp = ratelimit.hit_stamped(key="k", rate="10/min")
    assert stamp is not None
    with django_assert_num_queries(1):
        ratelimit.forget(key="k", stamp=stamp, rate="10/min")


@pytest.mark.django_db(transaction=True)
def test_concurrent_threads_never_exceed_the_limit() -> None:
    """16 threads, 5 hits each, at once, on the file database: exactly the limit gets through."""
    limit, threads_n, each = 20, 16, 5
    barrier = threading.Barrier(threads_n)
    allowed: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            barrier.wait()
            n = sum(ratelimit.hit(key="crowd", rate=f"{limit}/h") is None for _ in range(each))
            with lock:
                allowed.append(n)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(allowed) == threads_n
    assert sum(allowed) == limit
    assert RateCounter.objects.get(key="crowd").hits == limit
    assert math.isclose(sum(allowed), limit)


@pytest.mark.django_db(transaction=True)
def test_a_hit_leaves_sqlites_write_lock_free_once_its_statement_returns() -> None:
    """Another connection can write the moment the hit's statement returns: nothing of it is
    left to read (a RETURNING row would keep the file locked until fetched, and every other
    writer of every process would wait behind that thread's turn for the GIL)."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's file lock")
    import sqlite3

    path = connection.settings_dict["NAME"]
    locked: list[bool] = []

    def take_the_lock_meanwhile(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        result = execute(sql, params, many, context)
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            locked.append(False)
        except sqlite3.OperationalError:
            locked.append(True)
        finally:
            other.close()
        return result

    with connection.execute_wrapper(take_the_lock_meanwhile):
        allowed = [ratelimit.hit(key="k", rate="2/min") is None for _ in range(3)]
    assert allowed == [True, True, False]
    assert locked == [False, False, False, False]  # three hits, and the refused one's read
