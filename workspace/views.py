"""The workspace page: open to an organization with access; extended support for plans that have it.

Gated by `billing.decorators`: one query for the membership, the organization and its
capabilities together, and no Stripe call. The note naming the plan with extended support
reads Stripe's catalogue from the cache only.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from billing.capabilities import BillingAccess
from billing.decorators import billing_access_required, capability_missing_message
from organizations.selectors import organization_membership_get

EXTENDED_SUPPORT = "EXTENDED_SUPPORT"
STORAGE_TB = "STORAGE_TB"


@never_cache
@require_safe
@login_required
@billing_access_required
def workspace_page(request: HttpRequest) -> HttpResponse:
    access: BillingAccess = request.billing_access  # type: ignore[attr-defined]
    extended_support = access.capability(EXTENDED_SUPPORT) is not None
    context = {
        "organization": organization_membership_get(user=request.user).organization,  # type: ignore[arg-type]
        "capabilities": access.capabilities,
        "storage_tb": access.capability(STORAGE_TB),
        "extended_support": extended_support,
        "support_note": "" if extended_support else capability_missing_message(EXTENDED_SUPPORT, fetch=False),
    }
    return render(request, "workspace/page.html", context)
