"""A WSGI app with no Django, for the tests of the gunicorn worker and its configuration."""

import gc
from collections.abc import Callable, Iterable
from typing import Any


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    # /gc-frozen: how many objects this worker's collector leaves alone (gc.freeze()).
    body = str(gc.get_freeze_count()).encode() if environ.get("PATH_INFO") == "/gc-frozen" else b"ok"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
