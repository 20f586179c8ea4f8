"""DRF permissions gating an API view on billing: access, or one capability of the plan.

    class ReportsApi(BaseApi):
        permission_classes = (IsAuthenticated, HasBillingAccess)

    class SupportApi(BaseApi):
        permission_classes = (IsAuthenticated, HasCapability("EXTENDED_SUPPORT"))

A refusal is raised, not returned, so it is answered in the envelope: 402
`SUBSCRIPTION_REQUIRED` without access, 403 `CAPABILITY_REQUIRED` when the plan lacks the
capability (after the caller's own errors: `NO_ORGANIZATION`, `ORG_NOT_FOUND`). One query
(the JWT authentication already loaded the membership), no Stripe call. The view reads the
answer from `request.billing_access` without asking again.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from billing.capabilities import BillingAccess, organization_billing_access
from billing.errors import CapabilityRequired, SubscriptionRequired
from organizations.selectors import organization_membership_get


def request_billing_access(request: Any) -> BillingAccess:
    """The caller's organization's billing access, asked once per request (raises the caller's
    organization errors)."""
    access: BillingAccess | None = getattr(request, "billing_access", None)
    if access is None:
        membership = organization_membership_get(user=request.user)
        access = organization_billing_access(membership.organization)
        request.billing_access = access
    return access


class HasBillingAccess(BasePermission):
    """The caller's organization has a subscription in `BILLING_ACCESS_STATUSES` (else 402)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False  # DRF answers 401
        if not request_billing_access(request).has_access:
            raise SubscriptionRequired()
        return True


def HasCapability(code: str) -> type[BasePermission]:  # a factory of classes, named as one
    """A permission class for one capability: 402 without access, 403 when the plan lacks `code`."""

    class _HasCapability(HasBillingAccess):
        capability = code

        def has_permission(self, request: Request, view: Any) -> bool:
            if not super().has_permission(request, view):
                return False
            if request_billing_access(request).capability(code) is None:
                raise CapabilityRequired(code)
            return True

    _HasCapability.__name__ = _HasCapability.__qualname__ = f"HasCapability_{code}"
    return _HasCapability
