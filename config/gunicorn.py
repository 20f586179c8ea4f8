"""gunicorn's configuration, as the README tells operators to run the app:

    gunicorn -c config/gunicorn.py config.wsgi

The address, workers, threads, connections per worker and access log come from GUNICORN_*
variables; any other setting can be overridden with GUNICORN_CMD_ARGS
(`GUNICORN_CMD_ARGS="--timeout 90"`), which gunicorn applies over this file. `python -m bench`
measures whatever they are set to; its figures, and the runs behind each choice below, are in
bench/README.md.

- Threaded workers (gthread). A portal request spends nearly all its life waiting on Stripe,
  so a worker must hold many requests in flight at once; gunicorn's default synchronous
  workers serve one request per process.
- 2 workers, one per core: each process has its own GIL, and more processes than cores did no
  better while each costs its own memory.
- 64 threads per worker, and as many connections per worker (GUNICORN_WORKER_CONNECTIONS,
  gunicorn's `worker_connections`). A worker accepts a connection whenever it wins the race
  for it, not when it has a free thread: with gunicorn's default of 1,000 connections most of
  the requests in flight could sit in one worker, queued behind its busy threads while the
  other had free ones. At the threads, a worker stops accepting while every thread is busy,
  and the connection waits in the kernel's queue for the first worker with a free thread. At
  300 ms x 256 clients (two runs each, bench/README.md) that took ÷ floor from 0.73-0.78 to
  0.76-0.81 on SQLite and from 0.58-0.60 to 0.63-0.77 on PostgreSQL, and the slowest answer
  from 2.6-3.3 s to 2.0-2.4 s and from 2.5 s to 1.4-1.6 s. It also means no kept-alive
  connections: gunicorn keeps `worker_connections - threads` of them, and `keepalive` is 0
  here. A proxy in front that keeps its connections to the app alive wants the variable set
  above the threads (e.g. 1000, gunicorn's default).
- Each thread keeps one kept-alive connection to Stripe; on SQLite one database connection,
  on PostgreSQL the pool's (DATABASE_POOL_MAX_SIZE per worker, whatever the threads).
- A busy instance keeps this configuration, one worker per core and 64 threads each, and is
  scaled out (more cores or instances), not up in threads: once the cores are busy with the
  app's own work per request, more threads only queue that work behind the GIL, and the
  slowest requests wait far longer while throughput stays where it was. The threads are
  enough to keep the cores busy at Stripe's usual latency. STRIPE_MAX_CONCURRENT_CALLS counts
  per process and follows GUNICORN_THREADS: by default the threads less an eighth (56 of 64),
  the eighth kept for the doors that never call Stripe while it hangs. A worker holding more
  portal requests than that makes the rest wait their turn for a slot while Stripe answers
  (no 503 at any load while Stripe is healthy), and refuses them at once while it hangs, so
  nothing needs tuning with the threads. Threads set another way (GUNICORN_CMD_ARGS'
  --threads) want STRIPE_MAX_CONCURRENT_CALLS set to match. bench/README.md has the runs.
- `timeout` outlasts the slowest Stripe call the client allows, so a worker is never killed
  for waiting on Stripe.
- Preloading the app: less memory per worker (shared pages), and start-up fails at once on
  an import or configuration error.
- What the preloaded app made is frozen for the garbage collector before each fork
  (`pre_fork`): a worker's full collections, which hold every one of its threads, walk only
  what the worker made itself. Unfrozen, at 300 ms x 64 clients they came every few seconds
  and took 85-185 ms each (22-52 ms frozen; bench/README.md), each added to every request
  the worker had in flight; and the collector's writes to the objects of the master made
  the worker copy the pages they share (peak RSS 251 -> 240 MiB).

- The worker class is gthread's with one change (config/gunicorn_worker.py): when an answer
  closes its connection, the main loop no longer waits there, up to 2 s, for the client to
  close its side; the poller does. With every answer closing its connection (clients that
  send `Connection: close`, as the benchmark's do), the stock worker's main loop spent its
  time in those waits: with 64 connections per worker, the change took the CPU per portal
  request at 300 ms x 256 clients from 3.8 to 3.4 ms on SQLite, and ÷ floor at 0 ms on
  PostgreSQL from 0.31 to 0.37 (bench/README.md).
"""

import gc
import os


def _count(name: str, default: int) -> int:
    """A whole number of at least 1 from the environment; anything else stops start-up, named."""
    raw = os.environ.get(name) or str(default)
    if not (raw.isascii() and raw.strip().isdigit() and int(raw) >= 1):
        raise ValueError(f"{name}={raw!r}: must be a whole number of at least 1")
    return int(raw)


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "config.gunicorn_worker.ThreadWorker"
workers = _count("GUNICORN_WORKERS", 2)
threads = _count("GUNICORN_THREADS", 64)
timeout = 60
graceful_timeout = 30
# Load the app once in the master: less memory per worker, and import errors fail start-up.
preload_app = True
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
worker_connections = _count("GUNICORN_WORKER_CONNECTIONS", threads)
# Kept-alive connections only in the room above the threads (gunicorn keeps none otherwise).
keepalive = 5 if worker_connections > threads else 0


def pre_fork(server, worker):  # type: ignore[no-untyped-def]
    """In the master, before each worker is forked: freeze what the preloaded app made.

    Python's collector walks every object it tracks on each full collection, and the loaded
    app (Django, DRF, the Stripe SDK and the rest) is most of them. Frozen, they are left out:
    a worker's full collections walk only what the worker made since, and stop every thread of
    the worker for that much less time. And the collector no longer writes to the pages those
    objects share with the master, so they stay shared.
    """
    gc.freeze()
