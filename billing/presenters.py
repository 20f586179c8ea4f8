"""How the billing page says things: money, periods, labels, and a sentence for each error.

`page_context` turns the page's state (`billing.page`) into what the template shows; the
template only shows it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from billing.models import Subscription
from billing.page import BillingPageState, HomeOrganization, Section
from billing.services.plans import Plan
from core.errors import ApplicationError, retry_after_seconds

# What a person reads for each error. The API keeps the errors' own messages (the API
# reference fixes some of them); a page can say what to do next.
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
        "Billing isn't set up on this server yet, so {doing} isn't possible. Please contact support."
    ),
    "ALREADY_SUBSCRIBED": "Your organization is already subscribed to this plan; nothing was changed.",
    "SUBSCRIPTION_PERIOD_NOT_FOUND": (
        "That plan is no longer on offer. Please choose one of the plans shown below."
    ),
    "VALIDATION_ERROR": "Please choose a plan with one of the “Choose” buttons.",
    "NO_PENDING_PAYMENT": "There is no checkout in progress to cancel.",
    "NO_SUBSCRIPTION": "Your organization has no subscription to change.",
    "INVALID_SESSION": "That checkout doesn't belong to your organization.",
}
_GENERIC_MESSAGE = (
    "Something went wrong while {doing}. Please try again; if it keeps happening, contact support."
)
# What the person was doing, for the sentences that name it (each button has its own).
OPENING_PORTAL = "opening the billing portal"
SHOWING_PAGE = "showing your billing"
# A page that answers a refusal shows only what is cached (it never calls Stripe).
_RELOAD = {"plans": "Reload the page to see them.", "payments": "Reload the page to see it."}

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
_PAYMENT_LABELS = {"COMPLETED": "Paid", "PENDING": "Due", "FAILED": "Failed", "CANCELLED": "Void"}
# Statuses in which Stripe is waiting for a payment the customer can fix with another card.
_NEEDS_PAYMENT = frozenset(
    {Subscription.Status.PAST_DUE, Subscription.Status.UNPAID, Subscription.Status.INCOMPLETE}
)


def page_message(error: ApplicationError, *, doing: str = OPENING_PORTAL) -> str:
    """The sentence shown on the page for an error, met while `doing` something."""
    message = _PAGE_MESSAGES.get(error.error_code, _GENERIC_MESSAGE)
    wait = ""
    if "{wait}" in message:
        seconds = retry_after_seconds(error.retry_after)
        wait = f"Please wait {seconds} second{'s' if seconds != 1 else ''} and try again."
    return message.format(wait=wait, doing=doing)


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


def _period(period: dict[str, Any], *, current_price: str = "") -> dict[str, Any]:
    return {
        **period,
        "amount": money(period["price"], period["currency"]),
        "per": period_label(period["periodType"]),
        "is_current": period["id"] == current_price,
        "is_free": period["price"] == 0,
    }


def _plan_cards(plans: list[Plan], current_price: str) -> list[dict[str, Any]]:
    return [
        {**plan, "periods": [_period(p, current_price=current_price) for p in plan["periods"]]}
        for plan in plans
    ]


def _section_message(section: Section, name: str) -> str:
    if section.error is not None:
        return page_message(section.error, doing=SHOWING_PAGE)
    return _RELOAD[name] if section.uncached else ""


def page_context(
    state: BillingPageState, *, error: ApplicationError | None, notice: str, doing: str
) -> dict[str, Any]:
    """What the template shows: the state, formatted, with `error` (met while `doing`)."""
    subscription = state.subscription
    # The button's reason already says why when the error is the same refusal.
    show_error = error is not None and (state.blocked is None or state.blocked.error_code != error.error_code)
    plans = state.plans.rows
    payments = state.payments.rows
    return {
        "membership": state.membership,
        "organization": state.membership.organization if state.membership else None,
        "show_subscription": state.outsider is None,
        "subscription": subscription,
        "blocked": state.blocked,
        "blocked_message": page_message(state.blocked) if state.blocked else "",
        "error": error if show_error else None,
        "error_message": page_message(error, doing=doing) if error is not None and show_error else "",
        "notice": notice,
        "live": state.live,
        "plans": _plan_cards(plans, subscription.price_id if state.live and subscription else "")
        if plans
        else None,
        "plans_loaded": plans is not None,
        "plans_message": _section_message(state.plans, "plans"),
        "current_plan": state.current_plan,
        "current_period": _period(state.current_period) if state.current_period else None,
        "needs_payment": state.live and subscription is not None and subscription.status in _NEEDS_PAYMENT,
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
        "payments_message": _section_message(state.payments, "payments"),
        "pending": state.pending,
        "pending_amount": money(state.pending.amount, state.pending.currency) if state.pending else "",
        "pending_plan": state.pending_plan,
        # Offline, the app talks to the local stand-in, never to Stripe: the page says so.
        "offline_demo": bool(settings.STRIPE_API_BASE),
    }


def home_row(row: HomeOrganization) -> dict[str, Any]:
    """One organization on the home page: its name, the user's role, its plan and status."""
    subscription = row.subscription
    ended = subscription is None or subscription.status in Subscription.ENDED_STATUSES
    return {
        "organization": row.membership.organization,
        "role": row.membership.get_role_display(),
        "is_current": row.is_current,
        "plan_name": (row.plan or {}).get("name") or (subscription.product if subscription else ""),
        "status": "" if subscription is None else subscription.status,
        "status_label": "No subscription" if subscription is None else subscription.get_status_display(),
        "has_plan": not ended,
        "renews_on": subscription.current_period_end
        if subscription is not None
        and not ended
        and subscription.status not in _NEEDS_PAYMENT
        and not subscription.cancel_at_period_end
        else None,
        "ends_on": subscription.current_period_end
        if subscription is not None and not ended and subscription.cancel_at_period_end
        else None,
    }
