from __future__ import annotations

from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from accounts.errors import LoginRateLimited
from core.errors import retry_after_seconds


class _RateLimitedLogin:
    """Turns a refused attempt into a form error; `rate_limited` tells the view to answer 429."""

    rate_limited: LoginRateLimited | None = None

    def clean(self) -> Any:
        try:
            return super().clean()  # type: ignore[misc]
        except LoginRateLimited as e:
            self.rate_limited = e
            seconds = retry_after_seconds(e.retry_after)
            raise ValidationError(
                "Too many login attempts. Please wait %(seconds)s seconds and try again.",
                code="rate_limited",
                params={"seconds": seconds},
            ) from e


class LoginForm(_RateLimitedLogin, AuthenticationForm):
    pass


class AdminLoginForm(_RateLimitedLogin, AdminAuthenticationForm):
    pass
