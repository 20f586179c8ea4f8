"""The base of every JSON API view."""

from __future__ import annotations

from typing import Any

from django.template.response import SimpleTemplateResponse
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


def _break_cycles(response: SimpleTemplateResponse) -> None:
    """Empty the contexts through which DRF ties a request's objects into reference cycles.

    The request's parser context holds the view and the request itself; the response's
    renderer context holds the view, the request and (once rendered) the response; the view
    holds both. Cycles are freed only by Python's cycle collector, so every request's objects
    waited for a full collection, and under load that came every few seconds and held every
    thread of the worker while it walked them. Nothing reads the contexts once the body is
    rendered: emptied then, the objects go when their last reference does.
    """
    context = getattr(response, "renderer_context", None) or {}
    request = context.get("request")
    if request is not None:
        request.parser_context = {}
    context.clear()


class BaseApi(APIView):
    """An APIView that refuses a wrong method before it authenticates.

    DRF authenticates first and looks the handler up afterwards, so an anonymous GET to a
    POST-only endpoint would get 401; our API checks the method first (405). And once an
    answer is rendered, the view lets go of the reference cycles DRF built around it
    (`_break_cycles`).
    """

    # The message of a 500 INTERNAL_ERROR answered for an unexpected exception.
    internal_error_message = "Internal server error"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # HEAD is answered wherever GET is (Django's View makes `head` the `get` handler, and
        # the server drops the body), also when a view lists its methods.
        super().__init_subclass__(**kwargs)
        names = list(cls.http_method_names)
        if "get" in names and "head" not in names:
            cls.http_method_names = [*names, "head"]
        # On the class, not on each instance as Django's `View.setup` would: a view holding
        # its own bound method is a reference cycle, and the view holds its whole request.
        if "get" in cls.__dict__ and "head" not in cls.__dict__:
            cls.head = cls.__dict__["get"]  # type: ignore[attr-defined]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        method = (request.method or "").lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise exceptions.MethodNotAllowed(request.method or "")
        super().initial(request, *args, **kwargs)

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, SimpleTemplateResponse):  # a view may answer a plain HttpResponse
            response.add_post_render_callback(_break_cycles)
        return response
