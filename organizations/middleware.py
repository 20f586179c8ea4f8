"""The page's choice of organization: kept in the session, applied to `request.user`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import SimpleLazyObject

from core.middleware import is_api_route
from organizations.selectors import ORGANIZATION_SESSION_KEY, organization_choose


def _with_choice(lazy_user: Any, request: HttpRequest) -> Any:
    authenticated = lazy_user.is_authenticated  # loads the session's user, if not yet
    user = getattr(lazy_user, "_wrapped", lazy_user)
    if authenticated:
        organization_choose(user=user, requested=request.session.get(ORGANIZATION_SESSION_KEY), strict=False)
    return user


class OrganizationChoiceMiddleware:
    """After Django's authentication: a logged-in person acts for the organization they chose
    with the page's switcher (a choice that no longer holds falls back to their default). Lazy,
    as Django's `request.user` is: a page that never reads the user costs nothing."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not is_api_route(request.path_info) and hasattr(request, "user"):
            lazy_user = request.user
            request.user = SimpleLazyObject(lambda: _with_choice(lazy_user, request))  # type: ignore[assignment]
        return self.get_response(request)
