"""gunicorn's configuration, as the README tells operators to run the app:

    gunicorn -c config/gunicorn.py config.wsgi

The address, workers, threads, connections per worker and access log come from GUNICORN_*
variables; any other setting can be overridden with GUNICORN_CMD_ARGS
(`GUNICORN_CMD_ARGS="--timeout 90"`), which gunicorn applies over this file. Why each choice
below; the runs behind them are in bench/README.md ("Figures behind the code's settings").

- Threaded workers (gthread): a portal request spends nearly all its life waiting on Stripe,
  so a worker must hold many requests in flight at once.
- 2 workers, one per core: each process has its own GIL; more processes than cores did no
  better while each costs its own memory.
- 64 threads per worker, and as many connections per worker (GUNICORN_WORKER_CONNECTIONS):
  a worker stops accepting while every thread is busy, so a connection waits in the kernel's
  queue for the first worker with a free thread instead of queueing behind a busy one. No
  kept-alive connections then (gunicorn keeps `worker_connections - threads`); a proxy that
  keeps its connections to the app alive wants the variable above the threads (e.g. 1000).
- A busy instance is scaled out (more cores or instances), not up in threads: once the cores
  are busy, more threads only queue the app's work behind the GIL.
- STRIPE_MAX_CONCURRENT_CALLS follows GUNICORN_THREADS (the threads less an eighth): threads
  set another way (GUNICORN_CMD_ARGS' --threads) want it set to match. While Stripe answers briskly,
  calls past it use the eighth too (each bounded to 2 s): every thread works.
- `timeout` outlasts the slowest Stripe call the client allows, so a worker is never killed
  for waiting on Stripe.
- Preloading the app: less memory per worker (shared pages), and start-up fails at once on
  an import or configuration error (config/wsgi.py runs the settings checks).
- What the preloaded app made is frozen for the garbage collector before each fork
  (`pre_fork`): a worker's full collections, which hold every one of its threads, walk only
  what the worker made itself, and leave the pages it shares with the master shared.
- The worker class is gthread's with one change (config/gunicorn_worker.py): a connection
  that closes after its answer is drained by the poller, not by the main loop waiting up to
  2 s for the client to close its side.
"""

import gc
import os


def _count(name: str, default: int) -> int:
    """A whole number of at least 1 from the environment; anything else stops start-up, named."""
    raw = os.environ.get(name) or str(default)
    if not (raw.isascii() and raw.strip().isdigit() and int(raw) >= 1):
        raise ValueError(f"{name}={raw!r}: must be a whole number of at least 1")
    return int(raw)


# PORT is the app's one port setting (`make run PORT=8001`); GUNICORN_BIND overrides it whole.
bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
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
