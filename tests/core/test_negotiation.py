"""core.negotiation: the usual Accept headers skip parsing; the rest is DRF's negotiation."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from core.negotiation import FastContentNegotiation

RENDERERS = [JSONRenderer(), BrowsableAPIRenderer()]


def _select(accept: str | None, renderers: list[Any] = RENDERERS) -> tuple[Any, str]:
    headers: dict[str, Any] = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get("/", data=None, **headers))
    return FastContentNegotiation().select_renderer(request, renderers)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        "application/json",
        "text/html",
        "application/json; indent=4",
        "text/html;q=0.9, */*;q=0.1",
    ],
)
def test_the_same_choice_as_drfs_negotiation(accept: str | None) -> None:
    from rest_framework.negotiation import DefaultContentNegotiation

    headers: dict[str, Any] = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get("/", data=None, **headers))
    renderer, media_type = _select(accept)
    expected_renderer, expected_media_type = DefaultContentNegotiation().select_renderer(request, RENDERERS)
    assert (type(renderer), media_type) == (type(expected_renderer), expected_media_type)


def test_what_no_renderer_serves_is_still_refused() -> None:
    from rest_framework.exceptions import NotAcceptable

    with pytest.raises(NotAcceptable):
        _select("application/xml", [JSONRenderer()])


def test_the_api_answers_406_for_html_only(client: Any) -> None:
    response = client.get("/subscriptions/my", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response.json()["error_code"] == "NOT_ACCEPTABLE"
