"""The billing page: the same services as the API, errors shown as messages to a person."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from billing import services
from billing.errors import BillingError
from billing.models import PortalSession
from billing.selectors import membership_for_user


def _page(request: HttpRequest, *, status: int = 200) -> HttpResponse:
    membership = membership_for_user(user=request.user)  # type: ignore[arg-type]
    context = {"membership": membership, "organization": membership.organization if membership else None}
    return render(request, "billing/page.html", context, status=status)


@require_GET
@login_required
def billing_page(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@login_required
def portal_redirect(request: HttpRequest) -> HttpResponse:
    """The "Manage billing" button: 303 to Stripe's portal, or the page with the reason why not."""
    try:
        url = services.portal_session_create(user=request.user, source=PortalSession.Source.WEB)  # type: ignore[arg-type]
    except BillingError as e:
        messages.error(request, e.message)
        response = _page(request, status=e.status_code)
        if e.retry_after is not None:
            response["Retry-After"] = str(max(1, int(e.retry_after + 0.999)))
        return response
    response = HttpResponseRedirect(url, status=303)
    response["Cache-Control"] = "no-store"
    return response
