"""The base of every JSON API view."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.views import APIView


class BaseApi(APIView):
    """An APIView that refuses a wrong method before it authenticates.

    DRF authenticates first and looks the handler up afterwards, so an anonymous GET to a
    POST-only endpoint would get 401; our contract checks the method first (405).
    """

    # The message of a 500 INTERNAL_ERROR answered for an unexpected exception.
    internal_error_message = "Internal server error"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        method = (request.method or "").lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise exceptions.MethodNotAllowed(request.method or "")
        super().initial(request, *args, **kwargs)
