"""gunicorn settings for `python -m bench`: the production file, plus counters in each worker.

    gunicorn -c bench/gunicorn.py config.wsgi

Everything of `config/gunicorn.py` applies unchanged (GUNICORN_* included); the hooks below
count requests and database queries per worker (`bench/instrument.py`) into BENCH_STATS_DIR.
"""

import runpy
from pathlib import Path

_PRODUCTION = Path(__file__).resolve().parent.parent / "config" / "gunicorn.py"
globals().update({k: v for k, v in runpy.run_path(str(_PRODUCTION)).items() if not k.startswith("__")})


def post_fork(server, worker):  # type: ignore[no-untyped-def]
    from bench import instrument

    instrument.post_fork(server, worker)


def post_request(worker, req, environ, resp):  # type: ignore[no-untyped-def]
    from bench import instrument

    instrument.post_request(worker, req, environ, resp)
