from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from accounts.services import login_attempt
from core.client_address import client_address


class RateLimitedModelBackend(ModelBackend):
    """Django's backend, with each password check held against the login rate limits.

    Raises `accounts.errors.LoginRateLimited` (out of `authenticate()`, which only swallows
    PermissionDenied) so that each door can answer it its own way: the form with a message
    and 429, the token API with the JSON envelope. Being the backend, no door can forget it.
    A check that succeeds does not count (`accounts.services`).
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
        ip = client_address(request) if request is not None else None
        with login_attempt(email=str(email), ip=ip) as attempt:
            user = super().authenticate(request, username=email, password=password, **kwargs)
            if user is not None:
                attempt.succeeded()
        return user
