"""The floor: the least any server can do to answer `POST /subscriptions/portal`.

A bare WSGI app, run under the same gunicorn settings as the app
(`gunicorn -c config/gunicorn.py bench.floor:application`), that makes the same Stripe call
through the project's one Stripe module (`billing.stripe_gateway`, with its client, timeouts,
retries and kept-alive connections) and answers the same JSON. No authentication, no database,
no middleware: the app's throughput divided by this one's is what the app itself costs.

`reads` is the floor of a read (`GET /subscriptions`, `/subscriptions/my`,
`/subscriptions/pending-payment`): none calls Stripe, so the least any server can do is answer
the app's own bytes. The bench fetches the app's answer once and names the file in
BENCH_FLOOR_ANSWER; this app answers it as it is, with the app's Content-Type and
Cache-Control (BENCH_FLOOR_CACHE_CONTROL, empty: none). No authentication, no database.

`trivial` answers a fixed JSON without calling anything: against it the load generator shows
how many requests per second it can drive through this server configuration.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()  # the gateway reads settings.STRIPE_* (key, base URL, timeout, retries)

from django.conf import settings  # noqa: E402

from billing import stripe_gateway  # noqa: E402
from billing.errors import BillingError  # noqa: E402

StartResponse = Callable[..., Any]

# The customer the bench created in the stand-in (the app's organization has the same one).
CUSTOMER_ID = os.environ.get("BENCH_FLOOR_CUSTOMER", "")
_HEALTHY = b'{"status":"ok"}'
# The app's answer to the read being measured (read once, before the workers fork).
_READ_ANSWER_FILE = os.environ.get("BENCH_FLOOR_ANSWER", "")
_READ_ANSWER = Path(_READ_ANSWER_FILE).read_bytes() if _READ_ANSWER_FILE else b""
_READ_CACHE_CONTROL = os.environ.get("BENCH_FLOOR_CACHE_CONTROL", "")


def _answer(
    start_response: StartResponse, status: str, body: bytes, cache_control: str = "no-store"
) -> list[bytes]:
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if cache_control:
        headers.append(("Cache-Control", cache_control))
    start_response(status, headers)
    return [body]


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == "/healthz":  # the bench's readiness probe
        return _answer(start_response, "200 OK", _HEALTHY)
    try:
        session = stripe_gateway.portal_session_create(
            customer_id=CUSTOMER_ID,
            return_url=settings.BILLING_PORTAL_RETURN_URL,
            configuration=settings.STRIPE_PORTAL_CONFIGURATION,
        )
    except BillingError as e:
        body = {"success": False, "error_code": e.error_code, "message": e.message}
        return _answer(start_response, f"{e.status_code} Error", json.dumps(body).encode())
    return _answer(start_response, "200 OK", json.dumps({"success": True, "url": session.url}).encode())


def reads(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == "/healthz":
        return _answer(start_response, "200 OK", _HEALTHY)
    return _answer(start_response, "200 OK", _READ_ANSWER, _READ_CACHE_CONTROL)


def trivial(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    return _answer(start_response, "200 OK", _HEALTHY)
