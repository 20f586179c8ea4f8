"""The billing page: the same services as the API, errors shown as messages to a person.

No billing logic lives here. The views call the services and selectors, and turn each billing
error into a message on the page, rendered with that error's status code (never JSON).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from accounts.models import User
from billing import selectors
from billing.models import PortalSession
from billing.services.access import billing_membership_get
from billing.services.portal import portal_session_create
from billing.services.sync import subscription_refresh_after_portal
from core.api_errors import retry_after_header
from core.errors import ApplicationError, retry_after_seconds
from organizations.selectors import membership_for_user, organization_membership_get

# What a person reads for each billing error. The API keeps the errors' own messages (the
# contract fixes some of them); a page can say what to do next.
_PAGE_MESSAGES = {
    "NO_ORGANIZATION": (
        "Your account doesn't belong to an organization yet, so there is no billing to manage. "
        "Ask your organization's owner to invite you."
    ),
    "ORG_NOT_FOUND": "Your organization is no longer active, so its billing can't be managed here.",
    "BILLING_PERMISSION_DENIED": (
        "Only your organization's owner, admins and billing managers can manage billing. "
        "Ask one of them to make the change, or to give you the billing role."
    ),
    "RATE_LIMITED": "You've opened the billing portal many times in a short while. {wait}",
    "BILLING_UNAVAILABLE": (
        "We couldn't reach Stripe, our payment provider, just now. Please try again in a moment."
    ),
    "BILLING_NOT_CONFIGURED": (
        "Billing isn't set up on this server yet, so the billing portal can't be opened. "
        "Please contact support."
    ),
}
_GENERIC_MESSAGE = (
    "Something went wrong while opening the billing portal. Please try again; if it keeps "
    "happening, contact support."
)
_WRONG_METHOD = "To open the billing portal, use the “Manage billing” button."


def page_message(error: ApplicationError) -> str:
    """The sentence shown on the page for a billing error."""
    message = _PAGE_MESSAGES.get(error.error_code, _GENERIC_MESSAGE)
    if "{wait}" in message:
        seconds = retry_after_seconds(error.retry_after)
        wait = f"Please wait {seconds} second{'s' if seconds != 1 else ''} and try again."
        message = message.format(wait=wait)
    return message


def _refusal(check: Callable[..., object], user: User) -> ApplicationError | None:
    """The billing error `check` raises for `user`, or None when it lets them through."""
    try:
        check(user=user)
    except ApplicationError as e:
        return e
    return None


def _page(
    request: HttpRequest,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    notice: str = "",
    refresh: bool = False,
) -> HttpResponse:
    """The billing page for the logged-in user, with `error` shown above it when given."""
    user: User = request.user  # type: ignore[assignment]
    membership = membership_for_user(user=user)
    # The services' own checks, so the page and the API never disagree: any member of an
    # active organization sees its subscription (as GET /subscriptions/my); only the billing
    # roles get the button, and the others read why not.
    outsider = _refusal(organization_membership_get, user)
    blocked = outsider or _refusal(billing_membership_get, user)
    subscription = None
    if membership is not None and outsider is None:
        if refresh:
            subscription_refresh_after_portal(organization=membership.organization)
        subscription = selectors.subscription_current_get(organization=membership.organization)
    # The button's reason already says why when the error is the same refusal.
    show_error = error is not None and (blocked is None or blocked.error_code != error.error_code)
    context: dict[str, Any] = {
        "membership": membership,
        "organization": membership.organization if membership else None,
        "show_subscription": outsider is None,
        "subscription": subscription,
        "blocked": blocked,
        "blocked_message": page_message(blocked) if blocked else "",
        "error": error if show_error else None,
        "error_message": page_message(error) if error is not None and show_error else "",
        "notice": notice,
        # Offline, the app talks to the local stand-in, never to Stripe: the page says so.
        "offline_demo": bool(settings.STRIPE_API_BASE),
    }
    response = render(request, "billing/page.html", context, status=status)
    if error is not None and error.retry_after is not None:
        response["Retry-After"] = retry_after_header(error.retry_after)
    return response


@never_cache
@require_safe
@login_required
def billing_page(request: HttpRequest) -> HttpResponse:
    # Coming back from the portal is the moment the subscription may have changed: the
    # refresh brings what the app knows up to date before showing it.
    return _page(request, refresh=True)


@never_cache
def portal_redirect(request: HttpRequest) -> HttpResponse:
    """The "Manage billing" button: 303 to Stripe's portal, or the page with the reason why not."""
    if not request.user.is_authenticated:
        # After logging in, come back to the page with the button, not to this POST-only URL.
        return redirect_to_login(reverse("billing:page"))
    if request.method != "POST":
        # The address bar shows this URL after an error; opening it again shows the page
        # (405, as for any method but POST), not a blank error.
        response = _page(request, status=405, notice=_WRONG_METHOD)
        response["Allow"] = "POST"
        return response
    try:
        # The plain value: the event log writes fields with repr(), and should say 'web'.
        url = portal_session_create(user=request.user, source=PortalSession.Source.WEB.value)  # type: ignore[arg-type]
    except ApplicationError as e:
        return _page(request, status=e.status_code, error=e)
    # The URL is a bearer credential for the customer's billing: never cached, never logged.
    response = HttpResponseRedirect(url, status=303)
    response["Cache-Control"] = "no-store"
    return response
