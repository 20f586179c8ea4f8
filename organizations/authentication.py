"""The API's authentication, with the organization the request names.

`accounts.authentication.JWTAuthentication` authenticates the user (and loads their default
membership in the same query); this adds the `X-Organization` header as the request's choice
of organization. Nothing is checked here: the choice is resolved when a view first needs the
organization, after the checks that come before it (method, authentication, user).
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from accounts.authentication import JWTAuthentication
from organizations.selectors import ORGANIZATION_HEADER_META, organization_choose


class OrganizationJWTAuthentication(JWTAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is not None:
            organization_choose(
                user=result[0],  # type: ignore[arg-type]
                requested=request.META.get(ORGANIZATION_HEADER_META),
                strict=True,
            )
        return result
