from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from accounts.services import login_attempt_register


class RateLimitedModelBackend(ModelBackend):
    """Django's backend, counting every password check against the login rate limits first.

    Raises `accounts.services.LoginRateLimited` (out of `authenticate()`, which only swallows
    PermissionDenied) so that each door can answer it its own way: the form with a message
    and 429, the token API with the JSON envelope. Being the backend, no door can forget it.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        email = username if username is not None else kwargs.get(get_user_model().USERNAME_FIELD)
        if email is None or password is None:
            return None
        ip = request.META.get("REMOTE_ADDR") if request is not None else None
        login_attempt_register(email=str(email), ip=ip)
        return super().authenticate(request, username=email, password=password, **kwargs)
