"""The billing page: the same services as the API, errors shown as messages to a person.

No billing logic lives here. The views call the services and selectors, and turn each billing
error into a message on the page, rendered with that error's status code (never JSON).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from accounts.models import User
from billing import presenters
from billing.models import PortalSession, Subscription
from billing.page import billing_page_state, home_organizations, portal_return, portal_snapshot
from billing.services.cancel import subscription_cancel, subscription_resume
from billing.services.checkout import checkout_session_status_get, pending_payment_cancel, subscription_buy
from billing.services.demo import demo_clock_advance
from billing.services.plan_change import plan_change_preview
from billing.services.portal import PAYMENT_METHOD_UPDATE, portal_session_create
from core.api_errors import retry_after_header
from core.errors import ApplicationError

_WRONG_METHOD = "To open the billing portal, use the “Manage billing” button."
# What each button was doing, for the page's sentence when it fails in an unexpected way.
_BUYING = "starting your plan"
_CANCELING = "canceling your subscription"
_RESUMING = "keeping your subscription"
_CANCELING_CHECKOUT = "canceling your checkout"
_OPENING_PAYMENT_METHOD = "opening the payment method page"
_CHECKING_CHECKOUT = "checking your checkout"


def _page(
    request: HttpRequest,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    notice: str = "",
    refresh: bool = False,
    catalogue: bool = False,
    doing: str = presenters.OPENING_PORTAL,
    returned: tuple[dict[str, Any] | None, str] | None = None,
) -> HttpResponse:
    """The billing page for the logged-in user, with `error` (met while `doing`) shown above it.
    A page that answers a refusal or a failure never calls Stripe (`billing.page`).
    `returned`: back from Stripe's portal, the subscription as it was before and the flow's flag."""
    state = billing_page_state(
        user=request.user,  # type: ignore[arg-type]
        refresh=refresh,
        catalogue=catalogue,
        refused=error is not None or status >= 400,
    )
    if returned is not None:
        result = portal_return(
            before=returned[0],
            flag=returned[1],
            subscription=state.subscription,
            plans=state.plans.rows or [],
        )
        notice = " ".join(
            filter(None, [presenters.portal_return_message(result, state.subscription), notice])
        )
    context = presenters.page_context(state, error=error, notice=notice, doing=doing)
    response = render(request, "billing/page.html", context, status=status)
    if error is not None and error.retry_after is not None:
        response["Retry-After"] = retry_after_header(error.retry_after)
    return response


@never_cache
@require_safe
def home_page(request: HttpRequest) -> HttpResponse:
    """The front door: what the product is for a visitor; a member's organizations at a glance."""
    organizations = home_organizations(user=request.user) if request.user.is_authenticated else []  # type: ignore[arg-type]
    context = {
        "organizations": [presenters.home_row(row) for row in organizations],
        "offline_demo": bool(settings.STRIPE_API_BASE),
    }
    return render(request, "home.html", context)


@never_cache
@require_safe
@login_required
def billing_page(request: HttpRequest) -> HttpResponse:
    # Coming back from the portal is the moment the subscription may have changed: the
    # refresh brings what the app knows up to date before showing it.
    checkout = request.GET.get("checkout")
    if checkout == "success":
        return _checkout_return(request, request.GET.get("session_id", ""))
    notice = ""
    if checkout == "canceled":
        notice = "Checkout canceled: nothing was charged. You can choose a plan again at any time."
    before = request.session.pop(_BEFORE_PORTAL, None)
    flag = request.GET.get("portal", "")
    if before is None and flag not in _PORTAL_FLAGS:
        return _page(request, refresh=True, catalogue=True, notice=notice)
    return _page(request, refresh=True, catalogue=True, notice=notice, returned=(before, flag))


def _checkout_return(request: HttpRequest, session_id: str) -> HttpResponse:
    """Back from Checkout: the session's subscription is recorded now, before any webhook.

    Asking Stripe for the session counts toward BILLING_READ_RATE, as the API's status read."""
    user: User = request.user  # type: ignore[assignment]
    try:
        session = checkout_session_status_get(user=user, session_id=session_id)
    except ApplicationError as e:
        return _page(request, status=e.status_code, error=e, catalogue=True, doing=_CHECKING_CHECKOUT)
    if session.status == "complete":
        notice = "Thank you! Your payment went through and your subscription has started."
    elif session.status == "open":
        notice = "Your checkout isn't finished yet: nothing has been charged."
    else:
        notice = "That checkout has expired: nothing was charged. Please choose a plan again."
    return _page(request, catalogue=True, notice=notice)


def _post_only(request: HttpRequest, *, notice: str = "") -> HttpResponse | None:
    """The answer to a page button's URL that is not a logged-in POST, or None to go ahead.

    Not logged in: to the login page, then back to the billing page (not this POST-only URL).
    Another method: the page itself, 405 (the address bar shows this URL after an error).
    """
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("billing:page"))
    if request.method != "POST":
        response = _page(request, status=405, notice=notice, catalogue=True)
        response["Allow"] = "POST"
        return response
    return None


def _back_to_page(request: HttpRequest, message: str) -> HttpResponse:
    messages.success(request, message)
    return HttpResponseRedirect(reverse("billing:page"), status=303)


# The subscription as the page knew it when the user left for Stripe's portal (session key).
_BEFORE_PORTAL = "billing:before-portal"
_PORTAL_FLAGS = frozenset({"card", "plan"})


def _leaving_for_portal(request: HttpRequest) -> None:
    """Remember the subscription before the portal, to say on return what changed there."""
    request.session[_BEFORE_PORTAL] = portal_snapshot(user=request.user)  # type: ignore[arg-type]


def _to_stripe(url: str) -> HttpResponse:
    # A Stripe URL (portal or Checkout) is a bearer credential: never cached, never logged.
    response = HttpResponseRedirect(url, status=303)
    response["Cache-Control"] = "no-store"
    return response


_WRONG_METHOD_BUY = "To choose a plan, use one of the “Choose” buttons."


@never_cache
def buy_redirect(request: HttpRequest) -> HttpResponse:
    """A "Choose" button: 303 to Stripe Checkout (or the portal, for a change of period), or
    back to the page with a message (a free plan started at once, or the reason why not)."""
    if (refused := _post_only(request, notice=_WRONG_METHOD_BUY)) is not None:
        return refused
    try:
        result = subscription_buy(
            user=request.user,  # type: ignore[arg-type]
            price_id=request.POST.get("price"),
            source=PortalSession.Source.WEB.value,
        )
    except ApplicationError as e:
        return _page(request, status=e.status_code, error=e, catalogue=True, doing=_BUYING)
    if result.checkout_url:
        if result.is_subscription_change:
            _leaving_for_portal(request)
        return _to_stripe(result.checkout_url)
    return _back_to_page(request, "Your free plan has started. You can upgrade at any time.")


@never_cache
def pending_payment_cancel_view(request: HttpRequest) -> HttpResponse:
    """The "Cancel" button of a checkout in progress: expires it at Stripe, back to the page."""
    if (refused := _post_only(request)) is not None:
        return refused
    try:
        pending_payment_cancel(user=request.user)  # type: ignore[arg-type]
    except ApplicationError as e:
        return _page(request, status=e.status_code, error=e, catalogue=True, doing=_CANCELING_CHECKOUT)
    return _back_to_page(request, "Checkout canceled: nothing was charged.")


@never_cache
def cancel_view(request: HttpRequest) -> HttpResponse:
    """ "Yes, cancel" (after the confirmation step): cancels as BILLING_CANCEL_MODE says."""
    if (refused := _post_only(request)) is not None:
        return refused
    try:
        subscription = subscription_cancel(user=request.user, source=PortalSession.Source.WEB.value)  # type: ignore[arg-type]
    except ApplicationError as e:
        return _page(request, status=e.status_code, error=e, catalogue=True, doing=_CANCELING)
    if subscription.status == Subscription.Status.CANCELED:
        return _back_to_page(request, "Your subscription has been canceled.")
    ends = subscription.current_period_end
    return _back_to_page(
        request,
        f"Your subscription will end on {ends:%B} {ends.day}, {ends.year}. Until then nothing changes."
        if ends
        else "Your subscription will end at the end of its period.",
    )


@never_cache
def resume_view(request: HttpRequest) -> HttpResponse:
    """ "Keep my subscription": undoes a cancellation scheduled for the end of the period."""
    if (refused := _post_only(request)) is not None:
        return refused
    try:
        subscription_resume(user=request.user, source=PortalSession.Source.WEB.value)  # type: ignore[arg-type]
    except ApplicationError as e:
        return _page(request, status=e.status_code, error=e, catalogue=True, doing=_RESUMING)
    return _back_to_page(request, "Your subscription will renew as usual.")


@never_cache
def payment_method_redirect(request: HttpRequest) -> HttpResponse:
    """ "Update payment method": 303 to Stripe's portal, opened on that flow."""
    if (refused := _post_only(request)) is not None:
        return refused
    try:
        url = portal_session_create(
            user=request.user,  # type: ignore[arg-type]
            source=PortalSession.Source.WEB.value,
            flow=PAYMENT_METHOD_UPDATE,
        )
    except ApplicationError as e:
        return _page(request, status=e.status_code, error=e, catalogue=True, doing=_OPENING_PAYMENT_METHOD)
    _leaving_for_portal(request)
    return _to_stripe(url)


@never_cache
def portal_redirect(request: HttpRequest) -> HttpResponse:
    """The "Manage billing" button: 303 to Stripe's portal, or the page with the reason why not."""
    if (refused := _post_only(request, notice=_WRONG_METHOD)) is not None:
        return refused
    try:
        # The plain value: the event log writes fields with repr(), and should say 'web'.
        url = portal_session_create(user=request.user, source=PortalSession.Source.WEB.value)  # type: ignore[arg-type]
    except ApplicationError as e:
        return _page(request, status=e.status_code, error=e)
    _leaving_for_portal(request)
    return _to_stripe(url)


_PREVIEWING = "working out the price of that change"


@never_cache
@require_safe
@login_required
def plan_change_page(request: HttpRequest) -> HttpResponse:
    """An "Upgrade"/"Downgrade" button: what the change costs, now and from the next renewal
    (Stripe's preview), before the customer confirms it in Stripe's portal."""
    try:
        preview = plan_change_preview(
            user=request.user,  # type: ignore[arg-type]
            price_id=request.GET.get("price", ""),
        )
    except ApplicationError as e:
        return _page(request, status=e.status_code, error=e, catalogue=True, doing=_PREVIEWING)
    context = presenters.plan_change_context(preview)
    context["offline_demo"] = bool(settings.STRIPE_API_BASE)
    return render(request, "billing/change.html", context)


_ADVANCING = "moving the demo's time on"


@never_cache
def demo_advance_view(request: HttpRequest) -> HttpResponse:
    """The offline demo's "Advance time one month": Stripe's test clock moves on, and the page
    says what that month did to the subscription."""
    if (refused := _post_only(request)) is not None:
        return refused
    before = portal_snapshot(user=request.user)  # type: ignore[arg-type]
    try:
        later = demo_clock_advance(user=request.user)  # type: ignore[arg-type]
    except ApplicationError as e:
        return _page(request, status=e.status_code, error=e, catalogue=True, doing=_ADVANCING)
    state = billing_page_state(user=request.user, refresh=False, catalogue=False, refused=True)  # type: ignore[arg-type]
    return _back_to_page(request, presenters.demo_advance_message(later, before, state.subscription))
