"""What a change of plan costs, before the customer makes it: Stripe's own preview.

The change itself is made where `POST /subscriptions/buy` makes it (Stripe's portal, flow
`subscription_update_confirm`); the preview asks Stripe (`invoices.create_preview`) for the
invoice that change makes, prorated as the portal configuration prorates it, so the amounts
shown are the ones Stripe then bills.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache

from accounts.models import User
from billing import selectors, stripe_gateway
from billing.errors import AlreadySubscribed, NoSubscription, PlanChangeBlocked, SubscriptionPeriodNotFound
from billing.models import Subscription
from billing.services.access import billing_membership_get, billing_read_counted
from billing.services.member_limits import plan_members_check
from billing.services.plans import Plan, plan_period_find, plans_list
from billing.services.seats import seats_for

logger = logging.getLogger(__name__)

# Statuses in which a payment is owed: it is settled before the plan changes.
BLOCKING_STATUSES = frozenset(
    {Subscription.Status.PAST_DUE, Subscription.Status.UNPAID, Subscription.Status.INCOMPLETE}
)
_PRORATION_KEY = "billing:portal-update-proration"
_PRORATION_SECONDS = 300


@dataclass(frozen=True)
class PlanChangePreview:
    subscription: Subscription
    plan: Plan  # the plan changed to
    period: dict[str, Any]  # its period (a `GET /subscriptions` period)
    current_plan: Plan | None
    current_period: dict[str, Any] | None
    new_cycle: bool  # a change of interval: a new billing cycle from now, billed at once
    due_now: int  # charged when the change is made
    next_amount: int | None  # the next renewal's invoice, prorations included (None: billed now)
    next_date: datetime | None
    renewal_amount: int  # each period after that
    currency: str
    prorations: tuple[stripe_gateway.StripeInvoiceLine, ...]
    quantity: int = 1  # the item's quantity after the change (seats, on a per-seat period)


def plan_change_blocked(subscription: Subscription) -> bool:
    """Whether the subscription's plan may not be changed now (a payment owed, or a
    cancellation set): what the plan picker disables, with its reason."""
    return subscription.status in BLOCKING_STATUSES or subscription.cancel_at_period_end


def _update_proration() -> str:
    """How the portal prorates a change the customer confirms there (cached a few minutes)."""
    behavior = cache.get(_PRORATION_KEY)
    if behavior is None:
        behavior = stripe_gateway.portal_update_proration(configuration=settings.STRIPE_PORTAL_CONFIGURATION)
        cache.set(_PRORATION_KEY, behavior, _PRORATION_SECONDS)
    return str(behavior)


def plan_change_preview(*, user: User, price_id: str) -> PlanChangePreview:
    """What changing the organization's live subscription to `price_id` costs, now and from
    the next renewal, as Stripe previews it. Billing roles; counted as a read."""
    membership = billing_membership_get(user=user)
    organization = membership.organization
    with billing_read_counted(user=user, action="plan-change-preview"), stripe_gateway.request_deadline():
        live = selectors.subscription_current_get(organization=organization)
        if live is None or live.status in Subscription.ENDED_STATUSES:
            raise NoSubscription()
        if live.price_id == price_id:
            raise AlreadySubscribed()
        if plan_change_blocked(live):
            raise PlanChangeBlocked()
        plans = plans_list()
        found = plan_period_find(plans, price_id=price_id)
        if found is None:
            raise SubscriptionPeriodNotFound()
        plan, period = found
        plan_members_check(organization=organization, plan=plan)
        current = plan_period_find(plans, price_id=live.price_id) or selectors.plan_period_for_price(
            price_id=live.price_id
        )
        data = stripe_gateway.subscription_retrieve(subscription_id=live.stripe_subscription_id)
        if data.status in Subscription.ENDED_STATUSES:
            raise NoSubscription()
        # The quantity the change will carry (as `subscription_buy` sends it to the portal):
        # the member count onto a per-seat period, one unit off one, else unchanged.
        seats = seats_for(organization, period) if period.get("perSeat") or data.per_seat else None
        preview = stripe_gateway.invoice_preview(
            subscription_id=data.id,
            item_id=data.item_id,
            price_id=price_id,
            proration_behavior=_update_proration(),
            quantity=seats,
        )
    new_cycle = current is None or current[1]["periodType"] != period["periodType"]
    quantity = seats or data.quantity or 1
    logger.info(
        "billing.plan_change_previewed",
        extra={"organization_id": organization.pk, "subscription_id": data.id, "price_id": price_id},
    )
    return PlanChangePreview(
        subscription=live,
        plan=plan,
        period=period,
        current_plan=current[0] if current else None,
        current_period=current[1] if current else None,
        new_cycle=new_cycle,
        due_now=preview.amount_due if new_cycle else 0,
        next_amount=None if new_cycle else preview.amount_due,
        next_date=None if new_cycle else preview.created,
        renewal_amount=int(period["price"]) * quantity,
        currency=preview.currency or str(period["currency"]),
        prorations=tuple(line for line in preview.lines if line.proration),
        quantity=quantity,
    )
