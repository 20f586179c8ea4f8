"""Bench-only counters inside each gunicorn worker: requests served, database queries run,
and the worker's full garbage collections (how many, and how long they held the worker).

Enabled by `bench/gunicorn.py` (the production settings plus these hooks) when
`BENCH_STATS_DIR` is set (`python -m bench` sets it; production never does), so the server
under test runs the production settings. In each worker, `post_fork` adds a counting
wrapper (`connection.execute_wrapper`'s kind) to every thread's database connection object,
`post_request` counts requests, a `gc.callbacks` entry times each collection of the oldest
generation (every thread of the worker waits while it runs); a daemon
thread writes the totals to `$BENCH_STATS_DIR/<pid>.json` every 50 ms when they changed.
The bench sums those files before and after a run: queries per request is the difference
of the two totals, on the server's side, for exactly the requests of that run.

What it counts: every statement Django runs through a cursor (the app's own queries). It
does not see what a driver runs on its own: the `SELECT 1` of a PostgreSQL health check
(`CONN_HEALTH_CHECKS`), or the set-up of a new connection. On PostgreSQL the bench counts
statements on the server too (pg_stat_statements), which sees those.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_counts = {"requests": 0, "queries": 0, "gc_full": 0, "gc_full_us": 0}
_gc_started = [0.0]
_WRITE_EVERY_SECONDS = 0.05


def _count_query(execute: Any, sql: Any, params: Any, many: bool, context: Any) -> Any:
    with _lock:
        _counts["queries"] += 1
    return execute(sql, params, many, context)


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    # Without the lock: a collection may start in a thread that holds it. Only this callback
    # writes these two counters, and no other thread runs while a collection does.
    if info["generation"] != 2:
        return
    if phase == "start":
        _gc_started[0] = time.perf_counter()
    else:
        _counts["gc_full_us"] += int((time.perf_counter() - _gc_started[0]) * 1_000_000)
        _counts["gc_full"] += 1


def _counting(create: Callable[[str], Any]) -> Callable[[str], Any]:
    """Django's factory of a thread's connection object, with the counter on what it makes.

    Once per connection object, not on every connect: a pooled connection is checked out
    and handed back twice per portal request, and a receiver of `connection_created` would
    run, and be counted against the app, each time.
    """

    def create_connection(alias: str) -> Any:
        connection = create(alias)
        connection.execute_wrappers.append(_count_query)
        return connection

    return create_connection


def _writer(path: Path) -> None:
    last: dict[str, int] = {}
    stop = threading.Event()
    while not stop.wait(_WRITE_EVERY_SECONDS):
        with _lock:
            now = dict(_counts)
        if now != last:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(now))
            tmp.replace(path)  # atomic: a reader never sees half a file
            last = now


def post_fork(server: Any, worker: Any) -> None:
    """gunicorn hook (in the new worker): start counting."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):  # made in the master, before the fork
        if _count_query not in connection.execute_wrappers:
            connection.execute_wrappers.append(_count_query)
    connections.create_connection = _counting(connections.create_connection)  # type: ignore[method-assign,assignment]
    gc.callbacks.append(_on_gc)
    path = Path(os.environ["BENCH_STATS_DIR"]) / f"{os.getpid()}.json"
    threading.Thread(target=_writer, args=(path,), name="bench-counters", daemon=True).start()


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    """gunicorn hook (in the request's thread, once the response is sent and closed)."""
    with _lock:
        _counts["requests"] += 1


def read_totals(directory: Path) -> dict[str, int]:
    """The sum over every worker of a server (the bench's side)."""
    totals = {"requests": 0, "queries": 0, "gc_full": 0, "gc_full_us": 0}
    for path in directory.glob("*.json"):
        with contextlib.suppress(OSError, ValueError):  # a worker replacing its file right now
            counts = json.loads(path.read_text())
            for key in totals:
                totals[key] += int(counts.get(key, 0))
    return totals
