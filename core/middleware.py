"""Page middleware that the JSON API skips.

The API (the URLconf's `api_urlpatterns`: `/subscriptions...`, `/auth/token...`) authenticates
every request with a JWT and answers JSON: it never reads a cookie session, Django's
`request.user` or a flashed message.
Sessions, the user and messages still cost a few objects and lookups on every request, so these
are Django's own middleware classes, which pass an API request straight on. Everything else
(pages, the admin) runs them as Django does. Each is a subclass of Django's, so the admin's
checks still find them; none of the three has a view, exception or template hook to skip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest, HttpResponseBase
from django.urls import URLPattern


def api_paths(patterns: Iterable[URLPattern]) -> tuple[frozenset[str], tuple[str, ...]]:
    """The paths of these top-level routes: each route without a converter as an exact path,
    each with one as the prefix before its first converter."""
    exact: set[str] = set()
    prefixes: list[str] = []
    for pattern in patterns:
        route = "/" + str(pattern.pattern)
        if "<" in route:
            prefixes.append(route.partition("<")[0])
        else:
            exact.add(route)
    return frozenset(exact), tuple(prefixes)


def api_path_shapes(patterns: Iterable[URLPattern]) -> tuple[frozenset[str], tuple[tuple[str, str], ...]]:
    """As `api_paths`, each route with a converter as the text before its first converter and
    after its last one (`/invitations/<token>/accept` is an API route, `/invitations/<token>/`
    a page)."""
    exact, _ = api_paths(patterns)
    shapes = []
    for pattern in patterns:
        route = "/" + str(pattern.pattern)
        if "<" in route:
            shapes.append((route.partition("<")[0], route.rpartition(">")[2]))
    return exact, tuple(shapes)


@lru_cache(maxsize=8)
def _api_paths_of(urlconf: str) -> tuple[frozenset[str], tuple[tuple[str, str], ...]]:
    return api_path_shapes(getattr(import_module(urlconf), "api_urlpatterns", ()))


def is_api_route(path: str) -> bool:
    """Whether `path` is one of the root URLconf's `api_urlpatterns` (config/urls.py)."""
    exact, shapes = _api_paths_of(settings.ROOT_URLCONF)
    return path in exact or any(
        path.startswith(prefix) and path.endswith(suffix) and len(path) > len(prefix) + len(suffix)
        for prefix, suffix in shapes
    )


class _PagesOnly:
    get_response: Callable[[HttpRequest], Any]

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if is_api_route(request.path_info):
            return self.get_response(request)  # type: ignore[no-any-return]
        return super().__call__(request)  # type: ignore[misc,no-any-return]


class SessionMiddleware(_PagesOnly, sessions.SessionMiddleware):
    pass


class AuthenticationMiddleware(_PagesOnly, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(_PagesOnly, messages.MessageMiddleware):
    pass
