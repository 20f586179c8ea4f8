"""The billing page: the same services as the API, errors shown as messages to a person.

No billing logic lives here. The views call the services and selectors, and turn each billing
error into a message on the page, rendered with that error's status code (never JSON).
"""

from __future__ import annotations

from collections.abc import Callable
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
from billing import selectors
from billing.errors import BillingError
from billing.models import PortalSession, Subscription
from billing.services.access import billing_membership_get, billing_read_counted
from billing.services.cancel import subscription_cancel, subscription_resume
from billing.services.checkout import (
    checkout_session_status_get,
    pending_payment_cancel,
    pending_payment_get,
    subscription_buy,
)
from billing.services.payments import Payment, payments_cached, payments_list
from billing.services.plans import Plan, plan_find, plan_period_find, plans_cached, plans_list
from billing.services.portal import PAYMENT_METHOD_UPDATE, portal_session_create
from billing.services.sync import subscription_refresh_after_portal
from core.api_errors import retry_after_header
from core.errors import ApplicationError, retry_after_seconds
from organizations.selectors import membership_for_user, organization_membership_get

# What a person reads for each billing error. The API keeps the errors' own messages (the
# API reference fixes some of them); a page can say what to do next.
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
    "RATE_LIMITED": "You've done this many times in a short while. {wait}",
    "BILLING_UNAVAILABLE": (
        "We couldn't reach Stripe, our payment provider, just now. Please try again in a moment."
    ),
    "BILLING_NOT_CONFIGURED": (
        "Billing isn't set up on this server yet, so the billing portal can't be opened. "
        "Please contact support."
    ),
    "ALREADY_SUBSCRIBED": "Your organization is already subscribed to this plan; nothing was changed.",
    "SUBSCRIPTION_PERIOD_NOT_FOUND": (
        "That plan is no longer on offer. Please choose one of the plans shown below."
    ),
    "VALIDATION_ERROR": "Please choose a plan with one of the “Choose” buttons.",
    "NO_PENDING_PAYMENT": "There is no checkout in progress to cancel.",
    "INVALID_SESSION": "That checkout doesn't belong to your organization.",
}
_GENERIC_MESSAGE = (
    "Something went wrong while opening the billing portal. Please try again; if it keeps "
    "happening, contact support."
)
_WRONG_METHOD = "To open the billing portal, use the “Manage billing” button."
# A page that answers a refusal shows only what is cached (it never calls Stripe).
_RELOAD_PAYMENTS = "Reload the page to see it."
_RELOAD_PLANS = "Reload the page to see them."


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


# Currencies whose minor unit is the unit itself (Stripe's zero-decimal currencies).
_ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$", "chf": "CHF "}
_PERIOD_LABELS = {"DAILY": "day", "WEEKLY": "week", "MONTHLY": "month", "YEARLY": "year"}


def money(amount: int | None, currency: str) -> str:
    """An amount in the currency's minor unit, as a person reads it: 1900 usd is $19.00."""
    if amount is None:
        return ""
    code = currency.lower()
    value = f"{amount:,}" if code in _ZERO_DECIMAL else f"{amount / 100:,.2f}"
    symbol = _SYMBOLS.get(code)
    return f"{symbol}{value}" if symbol else f"{value} {code.upper()}"


def period_label(period_type: str) -> str:
    """`MONTHLY` → "month", `EVERY_3_MONTHS` → "3 months"."""
    if period_type in _PERIOD_LABELS:
        return _PERIOD_LABELS[period_type]
    parts = period_type.split("_")
    if len(parts) == 3 and parts[0] == "EVERY":
        return f"{parts[1]} {parts[2].lower()}"
    return period_type.lower()


def _plan_cards(plans: list[Plan], current_price: str) -> list[dict[str, Any]]:
    return [
        {
            **plan,
            "periods": [
                {
                    **period,
                    "amount": money(period["price"], period["currency"]),
                    "per": period_label(period["periodType"]),
                    "is_current": period["id"] == current_price,
                    "is_free": period["price"] == 0,
                }
                for period in plan["periods"]
            ],
        }
        for plan in plans
    ]


# Statuses in which Stripe is waiting for a payment the customer can fix with another card.
_NEEDS_PAYMENT = frozenset(
    {Subscription.Status.PAST_DUE, Subscription.Status.UNPAID, Subscription.Status.INCOMPLETE}
)
_PAYMENT_LABELS = {"COMPLETED": "Paid", "PENDING": "Due", "FAILED": "Failed", "CANCELLED": "Void"}


def _page(
    request: HttpRequest,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    notice: str = "",
    refresh: bool = False,
    catalogue: bool = False,
) -> HttpResponse:
    """The billing page for the logged-in user, with `error` shown above it when given.

    A page that answers a refusal or a failure (`error`, or a 4xx/5xx `status`) never calls
    Stripe: the plans and the payment history come from the cache or are left out. Otherwise
    a refused request (a rate limit, a Stripe outage) would cost the very Stripe call it was
    refused to spare.
    """
    user: User = request.user  # type: ignore[assignment]
    refused = error is not None or status >= 400
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
    live = subscription is not None and subscription.status not in Subscription.ENDED_STATUSES
    # The plans on offer (and the subscribed plan's name): Stripe's catalogue, cached. The
    # page renders without them when Stripe cannot be reached and nothing is cached.
    plans: list[Plan] | None = None
    plans_message = ""
    if outsider is None and catalogue and refused:
        plans = plans_cached()
        plans_message = "" if plans is not None else _RELOAD_PLANS
    elif outsider is None and catalogue:
        try:
            plans = plans_list()
        except BillingError as e:
            plans_message = page_message(e)
    known = plans if plans is not None else []
    current_plan = current_period = None
    if subscription is not None:
        found = plan_period_find(known, price_id=subscription.price_id)
        if found is None:
            found = selectors.plan_period_for_price(price_id=subscription.price_id)
        if found is not None:
            current_plan, current_period = found
        else:
            current_plan = plan_find(known, product_id=subscription.product) or selectors.plan_for_product(
                product_id=subscription.product
            )
    # The payment history, for the billing roles: cached for a short while per organization,
    # else one short Stripe try on the side, so that a slow Stripe costs the page a moment at
    # most, and a failure only hides the table. Not counted toward BILLING_READ_RATE (the
    # cache bounds the page's Stripe calls).
    payments: list[Payment] | None = None
    payments_message = ""
    if blocked is None and subscription is not None and membership is not None:
        if refused:
            cached = payments_cached(user=user)
            payments = cached[0] if cached is not None else None
            payments_message = "" if cached is not None else _RELOAD_PAYMENTS
        else:
            try:
                payments, _ = payments_list(user=user, quick=True, counted=False)
            except BillingError as e:
                payments_message = page_message(e)
    pending = None
    if membership is not None and outsider is None and not live:
        pending = pending_payment_get(organization=membership.organization)
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
        "live": live,
        "plans": _plan_cards(plans, subscription.price_id if live and subscription else "")
        if plans
        else None,
        "plans_loaded": plans is not None,
        "plans_message": plans_message,
        "current_plan": current_plan,
        "current_period": (
            {
                **current_period,
                "amount": money(current_period["price"], current_period["currency"]),
                "per": period_label(current_period["periodType"]),
            }
            if current_period
            else None
        ),
        "needs_payment": live and subscription is not None and subscription.status in _NEEDS_PAYMENT,
        "payments": [
            {
                "payment": p,
                "amount": money(p.amount, p.currency),
                "label": _PAYMENT_LABELS.get(p.status, p.status),
            }
            for p in payments
        ]
        if payments is not None
        else None,
        "payments_message": payments_message,
        "pending": pending,
        "pending_amount": money(pending.amount, pending.currency) if pending else "",
        "pending_plan": (
            (selectors.plan_period_for_price(price_id=pending.price_id) or ({"name": pending.product_id},))[0]
            if pending
            else None
        ),
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
    checkout = request.GET.get("checkout")
    if checkout == "success":
        return _checkout_return(request, request.GET.get("session_id", ""))
    notice = ""
    if checkout == "canceled":
        notice = "Checkout canceled: nothing was charged. You can choose a plan again at any time."
    return _page(request, refresh=True, catalogue=True, notice=notice)


def _checkout_return(request: HttpRequest, session_id: str) -> HttpResponse:
    """Back from Checkout: the session's subscription is recorded now, before any webhook.

    Asking Stripe for the session counts toward BILLING_READ_RATE, as the API's status read."""
    user: User = request.user  # type: ignore[assignment]
    try:
        organization_membership_get(user=user)  # who may ask comes before the rate
        with billing_read_counted(user=user, action="checkout-session-status"):
            session = checkout_session_status_get(user=user, session_id=session_id)
    except ApplicationError as e:
        return _page(request, status=e.status_code, error=e, catalogue=True)
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
        return _page(request, status=e.status_code, error=e, catalogue=True)
    if result.checkout_url:
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
        return _page(request, status=e.status_code, error=e, catalogue=True)
    return _back_to_page(request, "Checkout canceled: nothing was charged.")


@never_cache
def cancel_view(request: HttpRequest) -> HttpResponse:
    """ "Yes, cancel" (after the confirmation step): cancels as BILLING_CANCEL_MODE says."""
    if (refused := _post_only(request)) is not None:
        return refused
    try:
        subscription = subscription_cancel(user=request.user, source=PortalSession.Source.WEB.value)  # type: ignore[arg-type]
    except ApplicationError as e:
        return _page(request, status=e.status_code, error=e, catalogue=True)
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
        return _page(request, status=e.status_code, error=e, catalogue=True)
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
        return _page(request, status=e.status_code, error=e, catalogue=True)
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
    return _to_stripe(url)
