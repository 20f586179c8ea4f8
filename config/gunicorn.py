"""gunicorn's configuration, as the README tells operators to run the app:

    gunicorn -c config/gunicorn.py config.wsgi

A portal request spends nearly all its time waiting on Stripe, so workers are threaded
(gthread): 2 processes (one per core) of 64 threads each keep 128 Stripe calls in flight.
bench/ measures this choice against the alternatives; see the README's deployment section.
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
