"""core.api's BaseApi: what every JSON API view does the same way."""

from __future__ import annotations

import gc
import io
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponseBase
from rest_framework.request import Request
from rest_framework.views import APIView

from tests.conftest import access_token_for


@pytest.fixture
def garbage() -> Iterator[list[Any]]:
    """What the cycle collector finds unreachable after the test's request: gc.garbage."""
    gc.collect()
    gc.disable()  # nothing is collected in the middle of the request
    gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds is kept in gc.garbage, to read
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def wsgi_call(method: str, path: str, **headers: str) -> tuple[str, bytes]:
    """One request through Django's WSGI handler, as gunicorn makes it (the test client keeps
    references of its own to the request and the response). Like the test client, it leaves
    the test's database connection open."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": "0",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        **headers,
    }
    statuses: list[str] = []

    def start_response(status: str, response_headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        response: Any = WSGIHandler()(environ, start_response)  # type: ignore[arg-type]
        body = b"".join(response)
        response.close()
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)
    return statuses[0], body


def request_objects(objects: list[Any]) -> list[str]:
    kinds = (HttpRequest, Request, HttpResponseBase, APIView)
    return sorted(type(o).__name__ for o in objects if isinstance(o, kinds))


@pytest.mark.django_db
@pytest.mark.parametrize("signed_in", [True, False], ids=["answered", "refused"])
def test_an_api_request_leaves_none_of_its_objects_to_the_cycle_collector(garbage, owner, signed_in):
    # DRF keeps the view, both request objects and the response in reference cycles; left
    # there, a busy worker's full collections walk every request's objects and hold all of
    # its threads meanwhile. Once the answer is rendered, BaseApi empties those cycles.
    headers = {"HTTP_AUTHORIZATION": f"Bearer {access_token_for(owner)}"} if signed_in else {}
    status, body = wsgi_call("GET", "/subscriptions/my", **headers)
    assert status.startswith("200" if signed_in else "401"), body
    gc.collect()
    assert request_objects(garbage) == []
