from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from accounts.forms import AdminLoginForm
from core.api_errors import retry_after_header


class AdminSite(admin.AdminSite):
    """Django's admin site, whose login answers a rate-limited attempt 429 + `Retry-After`."""

    login_form = AdminLoginForm

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().login(request, extra_context)
        context = getattr(response, "context_data", None) or {}
        form = context.get("form")
        limited = getattr(form, "rate_limited", None)
        if limited is not None:
            response.status_code = 429
            response["Retry-After"] = retry_after_header(limited.retry_after)
        return response
