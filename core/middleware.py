"""Page middleware that the JSON API skips.

The API (`/subscriptions...`, `/auth/token...`) authenticates every request with a JWT and
answers JSON: it never reads a cookie session, Django's `request.user` or a flashed message.
Sessions, the user and messages still cost a few objects and lookups on every request, so these
are Django's own middleware classes, which pass an API request straight on. Everything else
(pages, the admin) runs them as Django does. Each is a subclass of Django's, so the admin's
checks still find them; none of the three has a view, exception or template hook to skip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest, HttpResponseBase

# The JSON API's paths (billing/urls.py and accounts/urls.py `api_urlpatterns`).
API_PATH_PREFIXES = ("/subscriptions", "/auth/token")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PATH_PREFIXES)


class _PagesOnly:
    get_response: Callable[[HttpRequest], Any]

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if is_api_path(request.path_info):
            return self.get_response(request)  # type: ignore[no-any-return]
        return super().__call__(request)  # type: ignore[misc,no-any-return]


class SessionMiddleware(_PagesOnly, sessions.SessionMiddleware):
    pass


class AuthenticationMiddleware(_PagesOnly, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(_PagesOnly, messages.MessageMiddleware):
    pass
