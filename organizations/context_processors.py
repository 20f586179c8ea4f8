"""The header's organization switcher: the person's active organizations and the one the
page acts for. Lazy: read only by a page that shows the header to a logged-in person, from the
memberships the page's own organization check already loaded (no further query)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from organizations.selectors import membership_for_user, memberships_active


def _switcher(request: HttpRequest) -> dict[str, Any] | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    memberships = memberships_active(user=user)  # type: ignore[arg-type]
    if len(memberships) < 2:
        return None
    current = membership_for_user(user=user)  # type: ignore[arg-type]
    return {"memberships": memberships, "current_id": current.organization_id if current else None}


def organization_switcher(request: HttpRequest) -> dict[str, Any]:
    return {"organization_switcher": SimpleLazyObject(lambda: _switcher(request) or {})}
