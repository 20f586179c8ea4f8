"""Every answer of the JSON API that a test receives is checked against the OpenAPI document.

The document is the one `/api/schema/` serves (drf-spectacular, generated from the views'
serializers). An answer whose status is not documented for its operation, or whose body does
not match the documented schema, fails the test that received it, whatever the test itself
asserts: the document cannot drift from what the API answers.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from django.http import HttpResponseBase
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from openapi_core import OpenAPI
from openapi_core.contrib.django import DjangoOpenAPIRequest, DjangoOpenAPIResponse
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound

from core.middleware import is_api_route


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(schema))  # type: ignore[no-any-return]


@lru_cache(maxsize=1)
def openapi() -> OpenAPI:
    return OpenAPI.from_dict(_document())  # type: ignore[arg-type]  # Mapping[Hashable, Any]


class _Request(DjangoOpenAPIRequest):
    """The request as the document names it: on the document's host, without its body (only
    the answer is validated; a webhook's body was read as a stream), and with `toggle_slash`
    its path in the other form (every path is served with and without its trailing slash, one
    of them documented)."""

    @property
    def host_url(self) -> str:
        return "http://testserver"

    toggle_slash = False

    @property
    def path(self) -> str:
        path = str(self.request.path)
        if not self.toggle_slash:
            return path
        return path[:-1] if path.endswith("/") else path + "/"

    @property
    def path_pattern(self) -> str | None:
        return None

    @property
    def body(self) -> bytes:
        return b""


class UndocumentedAnswer(AssertionError):
    pass


def validate_answer(response: HttpResponseBase) -> None:
    """Check one test client answer against the document (API paths only)."""
    request: Any = getattr(response, "wsgi_request", None)
    if request is None or not is_api_route(request.path_info) or request.method in ("HEAD", "OPTIONS"):
        return
    answer = DjangoOpenAPIResponse(response)  # type: ignore[arg-type]  # any answer has what it reads
    try:
        try:
            openapi().validate_response(_Request(request), answer)
        except PathNotFound:
            alias = _Request(request)
            alias.toggle_slash = True
            openapi().validate_response(alias, answer)
    except OperationNotFound:
        # A method the path does not serve answers 405, and a host the app does not serve 400,
        # before the method is looked at.
        if response.status_code not in (400, 405):
            raise
    except Exception as error:
        body = getattr(response, "content", b"")[:500]
        raise UndocumentedAnswer(
            f"{request.method} {request.path_info} answered {response.status_code}, which the OpenAPI "
            f"document does not describe: {error!r}; {getattr(error, '__cause__', None)!r}; body {body!r}"
        ) from error
