from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib import admin
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from accounts.forms import AdminLoginForm
from core.api_errors import retry_after_header

_View = TypeVar("_View", bound=Callable[..., HttpResponseBase])


class AdminSite(admin.AdminSite):
    """Django's admin site, whose login answers a rate-limited attempt 429 + `Retry-After`, and
    whose lists refuse a NUL byte in their filters (400)."""

    login_form = AdminLoginForm

    def admin_view(self, view: _View, cacheable: bool = False) -> _View:
        inner = super().admin_view(view, cacheable)

        @wraps(inner)
        def refusing_nul(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            # A list's query string filters on any field (`?email=...`): PostgreSQL refuses a NUL
            # byte in any string it is sent, which would be a 500. The forms refuse it themselves.
            if any("\x00" in key + "".join(values) for key, values in request.GET.lists()):
                raise BadRequest("A NUL byte in the query string")
            return inner(request, *args, **kwargs)

        return cast(_View, refusing_nul)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().login(request, extra_context)
        context = getattr(response, "context_data", None) or {}
        form = context.get("form")
        limited = getattr(form, "rate_limited", None)
        if limited is not None:
            response.status_code = 429
            response["Retry-After"] = retry_after_header(limited.retry_after)
        return response
