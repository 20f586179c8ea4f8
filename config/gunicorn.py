"""gunicorn's configuration, as the README tells operators to run the app:

    gunicorn -c config/gunicorn.py config.wsgi

The address, workers, threads and access log come from GUNICORN_* variables; any other
setting can be overridden with GUNICORN_CMD_ARGS (`GUNICORN_CMD_ARGS="--timeout 90"`), which
gunicorn applies over this file. `python -m bench` (bench/README.md) measures whatever they
are set to. What its figures justify, on the 2-core machines it ran on:

- Threaded workers (gthread). A portal request spends nearly all its life waiting on Stripe
  (about 300 ms in live mode), so a worker must hold many requests in flight at once.
  gunicorn's default synchronous workers serve one request per process: under 17 requests/s
  at Stripe's latency, timeouts beyond that.
- 2 workers, one per core. Each process has its own GIL: the app needs about 5 ms of CPU per
  request, so one process of 128 threads tops out near 120 requests/s at 300 ms, where two
  reach 185-195 (a bare Stripe-calling app: 205, the limit 64 / 0.3 s being 213). Three or
  four processes with the same 128 threads did no better than two, and each adds ~70 MiB.
- 64 threads per worker. A worker accepts a connection whenever it wins the race for it,
  not when it has a free thread: at 64 clients, 90-120 of the 128 threads were busy at some
  point (each opened its Stripe connection), i.e. up to ~55 of the 64 requests in flight sat
  in one worker. With 64 threads a worker, every in-flight request has a thread; 4 workers
  of 16 threads queue requests behind the busy ones (168 requests/s for the bare app).
- Each thread keeps one database connection (CONN_MAX_AGE, config/settings.py) and one
  kept-alive connection to Stripe: PostgreSQL must accept 2 x 64 connections per instance,
  plus a few (its default `max_connections` is 100).
- `timeout` (60 s) outlasts the slowest Stripe call the client allows (3 tries of a 3 s
  connect and a 10 s read), so a worker is never killed for waiting on Stripe.
- Preloading the app: less memory per worker (shared pages), and start-up fails at once on
  an import or configuration error.

Known hazard (gunicorn 27): when a response closes the connection (the client sent
`Connection: close`), the gthread worker's main loop waits up to 2 s for the client to close
its side, and serves nothing else meanwhile. Clients that never close (a slow-loris) can stall
a worker; keep the TLS-terminating proxy of the README in front of gunicorn.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "64"))
keepalive = 5
timeout = 60
graceful_timeout = 30
# Load the app once in the master: less memory per worker, and import errors fail start-up.
preload_app = True
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None

if os.environ.get("BENCH_STATS_DIR"):
    # Set only by `python -m bench`: count requests and database queries in each worker
    # (bench/instrument.py). Production never sets it, and then there are no hooks at all.
    def post_fork(server, worker):  # type: ignore[no-untyped-def]
        from bench import instrument

        instrument.post_fork(server, worker)

    def post_request(worker, req, environ, resp):  # type: ignore[no-untyped-def]
        from bench import instrument

        instrument.post_request(worker, req, environ, resp)
