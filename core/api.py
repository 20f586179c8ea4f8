"""The base of every JSON API view."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.views import APIView


class BaseApi(APIView):
    """An APIView that refuses a wrong method before it authenticates.

    DRF authenticates first and looks the handler up afterwards, so an anonymous GET to a
    POST-only endpoint would get 401; our API checks the method first (405).
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

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        method = (request.method or "").lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise exceptions.MethodNotAllowed(request.method or "")
        super().initial(request, *args, **kwargs)
