"""How the billing page says things: money, periods, labels, and a sentence for each error.

`page_context` turns the page's state (`billing.page`) into what the template shows; the
template only shows it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings

from billing.models import Subscription
from billing.page import BillingPageState, HomeOrganization, PortalReturn, Section
from billing.services.demo import demo_clocks_enabled
from billing.services.plan_change import PlanChangePreview, plan_change_blocked
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
    "TOO_MANY_MEMBERS": (
        "Your organization has more members than that plan allows. Remove members first, or choose a "
        "larger plan."
    ),
    "SUBSCRIPTION_PERIOD_NOT_FOUND": (
        "That plan is no longer on offer. Please choose one of the plans shown below."
    ),
    "VALIDATION_ERROR": "Please choose a plan with one of the “Choose” buttons.",
    "NO_PENDING_PAYMENT": "There is no checkout in progress to cancel.",
    "NO_SUBSCRIPTION": "Your organization has no subscription to change.",
    "PLAN_CHANGE_BLOCKED": (
        "The plan can't change while a payment is due or the subscription is set to end. "
        "Update the payment method, or keep the subscription, first."
    ),
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
    sign, amount = ("\N{MINUS SIGN}", -amount) if amount < 0 else ("", amount)
    value = f"{amount:,}" if code in _ZERO_DECIMAL else f"{amount / 100:,.2f}"
    symbol = _SYMBOLS.get(code)
    return f"{sign}{symbol}{value}" if symbol else f"{sign}{value} {code.upper()}"


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
        "per_seat": bool(period.get("perSeat")),
    }


def seats_line(period: dict[str, Any] | None, quantity: int | None) -> str:
    """`3 seats x $9.00 = $27.00 / month` for a per-seat period; "" for any other."""
    if period is None or not period.get("perSeat"):
        return ""
    seats = quantity or 0
    unit = money(period["price"], period["currency"])
    total = money(int(period["price"]) * seats, period["currency"])
    noun = "seat" if seats == 1 else "seats"
    return f"{seats} {noun} \u00d7 {unit} = {total} / {period_label(period['periodType'])}"


_PER_YEAR = {"DAILY": 365, "WEEKLY": 52, "MONTHLY": 12, "YEARLY": 1}
_INTERVAL = {"MONTHLY": "month", "YEARLY": "year"}


def _yearly_cost(period: dict[str, Any]) -> int | None:
    times = _PER_YEAR.get(period["periodType"])
    return None if times is None else int(period["price"]) * times


def _yearly_saving(plan: Plan) -> tuple[int, int] | None:
    """What the plan's yearly period saves against twelve of its monthly ones: (amount, %)."""
    by_type = {p["periodType"]: p for p in plan["periods"]}
    monthly, yearly = by_type.get("MONTHLY"), by_type.get("YEARLY")
    if monthly is None or yearly is None or monthly["currency"] != yearly["currency"]:
        return None
    twelve = int(monthly["price"]) * 12
    saving = twelve - int(yearly["price"])
    return (saving, round(100 * saving / twelve)) if saving > 0 and twelve else None


def _choice_label(period: dict[str, Any], plan: Plan, current: tuple[Plan, dict[str, Any]] | None) -> str:
    """ "Upgrade", "Downgrade" or "Switch to yearly" against the current plan; "Choose" without one."""
    if current is None:
        return "Choose"
    current_plan, current_period = current
    if plan["id"] == current_plan["id"]:
        return (
            f"Switch to {period_label(period['periodType'])}ly"
            if period["periodType"] in _INTERVAL
            else "Switch"
        )
    mine, theirs = _yearly_cost(current_period), _yearly_cost(period)
    if mine is None or theirs is None:
        return "Switch"
    return "Upgrade" if theirs > mine else "Downgrade"


def _plan_cards(
    plans: list[Plan], current_price: str, current: tuple[Plan, dict[str, Any]] | None
) -> list[dict[str, Any]]:
    cards = []
    for plan in plans:
        saving = _yearly_saving(plan)
        periods = []
        for p in plan["periods"]:
            period = _period(p, current_price=current_price)
            period["interval"] = _INTERVAL.get(p["periodType"], "")
            period["label"] = _choice_label(p, plan, current)
            if saving and p["periodType"] == "YEARLY":
                period["saving"] = f"Save {money(saving[0], p['currency'])} a year ({saving[1]}%)"
            periods.append(period)
        cards.append({**plan, "periods": periods})
    return cards


def _plan_switch(plans: list[Plan], current_period: dict[str, Any] | None) -> dict[str, Any] | None:
    """The monthly/yearly switch: shown when plans are offered both ways, with the best saving."""
    types = {p["periodType"] for plan in plans for p in plan["periods"]}
    if not {"MONTHLY", "YEARLY"} <= types:
        return None
    savings = [s[1] for s in (_yearly_saving(plan) for plan in plans) if s]
    return {
        "yearly": current_period is not None and current_period["periodType"] == "YEARLY",
        "saving": f"save up to {max(savings)}%" if savings else "",
    }


def _change_blocked_reason(subscription: Subscription | None, live: bool) -> str:
    if subscription is None or not live or not plan_change_blocked(subscription):
        return ""
    if subscription.cancel_at_period_end:
        ends = subscription.current_period_end
        when = f" on {ends:%B} {ends.day}, {ends.year}" if ends else ""
        return (
            f"Your subscription is set to end{when}. Choose “Keep my subscription” first to change the plan."
        )
    return "A payment is due. Update your payment method first; then you can change the plan."


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
        "plans": _plan_cards(
            plans,
            subscription.price_id if state.live and subscription else "",
            (state.current_plan, state.current_period)
            if state.live and state.current_plan and state.current_period
            else None,
        )
        if plans
        else None,
        "plan_switch": _plan_switch(plans, state.current_period if state.live else None) if plans else None,
        "change_blocked": _change_blocked_reason(subscription, state.live),
        "plans_loaded": plans is not None,
        "plans_message": _section_message(state.plans, "plans"),
        "current_plan": state.current_plan,
        "current_period": _period(state.current_period) if state.current_period else None,
        "seats": seats_line(state.current_period, subscription.quantity if subscription else None),
        "needs_payment": state.live and subscription is not None and subscription.status in _NEEDS_PAYMENT,
        "payments": [
            {
                "payment": p,
                "amount": money(p.amount, p.currency),
                "tax": money(p.tax, p.currency) if p.tax else "",
                "discount": money(p.discount, p.currency) if p.discount else "",
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
        "demo_clock": demo_clocks_enabled()
        and bool(state.membership and state.membership.organization.stripe_customer_id),
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


def portal_return_message(result: PortalReturn, subscription: Subscription | None) -> str:
    """What the page says on return from Stripe's portal: each thing that changed there."""
    said: list[str] = []
    if result.card_updated:
        said.append("Your payment method was updated.")
    if result.invoice_paid:
        said.append("Your invoice was paid: your subscription is active again.")
    if result.plan_changed is not None:
        plan, period = result.plan_changed
        name = (plan or {}).get("name") or (subscription.price_id if subscription else "")
        per = (
            f" ({money(period['price'], period['currency'])} / {period_label(period['periodType'])})"
            if period
            else ""
        )
        said.append(f"Your plan changed to {name}{per}.")
    ends = subscription.current_period_end if subscription is not None else None
    on = f" on {ends:%B} {ends.day}, {ends.year}" if ends else ""
    if result.cancellation_set:
        said.append(f"Your subscription will end{on}. Until then nothing changes.")
    if result.cancellation_withdrawn:
        said.append(f"Your cancellation was withdrawn: your subscription renews{on}.")
    if result.ended:
        said.append("Your subscription has been canceled.")
    if not said and result.flag == "plan" and result.remembered:
        said.append("Your plan was not changed.")
    return " ".join(said)


def plan_change_context(preview: PlanChangePreview) -> dict[str, Any]:
    """The plan-change page: what the change costs now and from the next renewal."""
    currency = preview.currency
    period = _period(preview.period)
    quantity = preview.quantity
    current = preview.current_period
    return {
        "preview": preview,
        "plan_name": preview.plan["name"],
        "period": period,
        "quantity": quantity,
        "current_name": (preview.current_plan or {}).get("name") or preview.subscription.product,
        "current_amount": (
            f"{money(current['price'], current['currency'])} / {period_label(current['periodType'])}"
            if current
            else ""
        ),
        "due_now": money(preview.due_now, currency),
        "next_amount": money(preview.next_amount, currency) if preview.next_amount is not None else "",
        "next_date": preview.next_date,
        "renewal": f"{money(preview.renewal_amount, currency)} / {period['per']}",
        "prorations": [
            {
                "description": line.description,
                "amount": money(line.amount, currency),
                "credit": line.amount < 0,
            }
            for line in preview.prorations
        ],
    }


def demo_advance_message(
    later: datetime, before: dict[str, Any] | None, subscription: Subscription | None
) -> str:
    """What a month of the demo's time did: renewed, failed, or ended the subscription."""
    said = f"Time moved on one month, to {later:%B} {later.day}, {later.year}."
    before = before or {}
    if subscription is None or before.get("id") != subscription.stripe_subscription_id:
        return said
    if (
        subscription.status in Subscription.ENDED_STATUSES
        and before.get("status") not in Subscription.ENDED_STATUSES
    ):
        return f"{said} Your subscription has ended."
    if subscription.status in _NEEDS_PAYMENT:
        return f"{said} The renewal payment failed: update the payment method to keep the subscription."
    if subscription.status == Subscription.Status.ACTIVE and subscription.current_period_end:
        ends = subscription.current_period_end
        return f"{said} Your subscription renewed: it now runs until {ends:%B} {ends.day}, {ends.year}."
    return said
