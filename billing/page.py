"""The billing page's state: what the page shows for a user, decided in one place.

The same services and selectors as the API: any member of an active organization sees its
subscription (as `GET /subscriptions/my`), only the billing roles get the buttons and the
payment history, and the others read why not. `billing.presenters` turns the state into
what the template shows.

A page that answers a refusal or a failure (`refused`) never calls Stripe: the plans and the
payment history come from the cache or are left out. Otherwise a refused request (a rate
limit, a Stripe outage) would cost the very Stripe call it was refused to spare.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accounts.models import User
from billing import selectors
from billing.errors import BillingError
from billing.models import CheckoutSession, Subscription
from billing.services.access import billing_membership_get
from billing.services.checkout import pending_payment_get
from billing.services.payments import Payment, payments_cached, payments_list
from billing.services.plans import Plan, plan_find, plan_period_find, plans_cached, plans_list
from billing.services.sync import subscription_refresh_after_portal
from core.errors import ApplicationError
from organizations.models import Membership
from organizations.selectors import membership_for_user, organization_membership_get


@dataclass(frozen=True)
class Section:
    """A part of the page read from Stripe (or its cache): the rows, or why there are none.
    `error` is Stripe's failure; `uncached` says a refused page found nothing in the cache."""

    rows: Any = None
    error: ApplicationError | None = None
    uncached: bool = False


@dataclass(frozen=True)
class BillingPageState:
    membership: Membership | None
    outsider: ApplicationError | None  # why the user sees no organization's billing at all
    blocked: ApplicationError | None  # why the user may not manage it (outsider included)
    subscription: Subscription | None
    live: bool
    plans: Section  # rows: list[Plan]
    current_plan: Plan | None
    current_period: dict[str, Any] | None
    payments: Section  # rows: list[Payment]
    pending: CheckoutSession | None
    pending_plan: Plan | dict[str, str] | None


def _refusal(check: Callable[..., object], user: User) -> ApplicationError | None:
    """The error `check` raises for `user`, or None when it lets them through."""
    try:
        check(user=user)
    except ApplicationError as e:
        return e
    return None


def _plans(*, refused: bool) -> Section:
    if refused:
        plans = plans_cached()
        return Section(rows=plans, uncached=plans is None)
    try:
        return Section(rows=plans_list())
    except BillingError as e:
        return Section(error=e)


def _payments(*, user: User, refused: bool) -> Section:
    """The payment history: cached for a short while per organization, else one short Stripe
    try on the side (a slow Stripe costs the page a moment at most, a failure only hides the
    table). Not counted toward the per-user read rate: the cache bounds the page's calls."""
    if refused:
        cached = payments_cached(user=user)
        return Section(rows=None if cached is None else cached[0], uncached=cached is None)
    try:
        payments: list[Payment] = payments_list(user=user, quick=True, counted=False)[0]
    except BillingError as e:
        return Section(error=e)
    return Section(rows=payments)


def _plan_of(subscription: Subscription, plans: list[Plan]) -> tuple[Plan | None, dict[str, Any] | None]:
    """The subscribed plan and period: from the plans on offer, else as last seen offered."""
    found = plan_period_find(plans, price_id=subscription.price_id) or selectors.plan_period_for_price(
        price_id=subscription.price_id
    )
    if found is not None:
        return found
    plan = plan_find(plans, product_id=subscription.product) or selectors.plan_for_product(
        product_id=subscription.product
    )
    return plan, None


def billing_page_state(*, user: User, refresh: bool, catalogue: bool, refused: bool) -> BillingPageState:
    """The page's state for `user`; with `refresh` the subscription is read from Stripe first
    (back from the portal), with `catalogue` the plans on offer are included."""
    membership = membership_for_user(user=user)
    outsider = _refusal(organization_membership_get, user)
    blocked = outsider or _refusal(billing_membership_get, user)
    subscription = None
    if membership is not None and outsider is None:
        if refresh and not refused:
            subscription_refresh_after_portal(organization=membership.organization)
        subscription = selectors.subscription_current_get(organization=membership.organization)
    live = subscription is not None and subscription.status not in Subscription.ENDED_STATUSES
    plans = _plans(refused=refused) if outsider is None and catalogue else Section()
    current_plan, current_period = _plan_of(subscription, plans.rows or []) if subscription else (None, None)
    payments = Section()
    if blocked is None and subscription is not None:
        payments = _payments(user=user, refused=refused)
    pending = None
    if membership is not None and outsider is None and not live:
        pending = pending_payment_get(organization=membership.organization)
    pending_plan = None
    if pending is not None:
        found = selectors.plan_period_for_price(price_id=pending.price_id)
        pending_plan = found[0] if found else {"name": pending.product_id}
    return BillingPageState(
        membership=membership,
        outsider=outsider,
        blocked=blocked,
        subscription=subscription,
        live=live,
        plans=plans,
        current_plan=current_plan,
        current_period=current_period,
        payments=payments,
        pending=pending,
        pending_plan=pending_plan,
    )


@dataclass(frozen=True)
class HomeOrganization:
    membership: Membership
    subscription: Subscription | None
    plan: Plan | None
    is_current: bool  # the organization the billing page and the workspace act for


def home_organizations(*, user: User) -> list[HomeOrganization]:
    """The user's active organizations with their current subscriptions and plans, for the
    home page: two queries, no Stripe call (plan names come from the cached catalogue)."""
    memberships = list(
        Membership.objects.filter(user=user, organization__is_active=True)
        .select_related("organization")
        .order_by("created_at", "pk")
    )
    current = membership_for_user(user=user)
    subscriptions = selectors.subscriptions_current_by_organization(
        organization_ids=[m.organization_id for m in memberships]
    )
    plans = plans_cached() or []
    rows = []
    for membership in memberships:
        subscription = subscriptions.get(membership.organization_id)
        plan = _plan_of(subscription, plans)[0] if subscription is not None else None
        rows.append(
            HomeOrganization(
                membership=membership,
                subscription=subscription,
                plan=plan,
                is_current=current is not None and current.pk == membership.pk,
            )
        )
    return rows


def portal_snapshot(*, user: User) -> dict[str, Any] | None:
    """The organization's subscription as the page knew it before sending the user to Stripe,
    to say on return what changed there (kept in the user's session, plain values only)."""
    membership = membership_for_user(user=user)
    if membership is None:
        return None
    subscription = selectors.subscription_current_get(organization=membership.organization)
    if subscription is None:
        return {"id": "", "status": "", "price_id": "", "cancel_at_period_end": False}
    return {
        "id": subscription.stripe_subscription_id,
        "status": subscription.status,
        "price_id": subscription.price_id,
        "cancel_at_period_end": subscription.cancel_at_period_end,
    }


@dataclass(frozen=True)
class PortalReturn:
    """What happened at Stripe between `before` (a `portal_snapshot`) and now, and which flow
    the user came back from (`flag`: "card", "plan", or "" for the portal's home)."""

    flag: str
    remembered: bool  # the state before the portal was known (the button was pressed here)
    card_updated: bool
    invoice_paid: bool
    plan_changed: tuple[Plan | None, dict[str, Any] | None] | None  # the new plan and period
    cancellation_set: bool
    cancellation_withdrawn: bool
    ended: bool


def portal_return(
    *, before: dict[str, Any] | None, flag: str, subscription: Subscription | None, plans: list[Plan]
) -> PortalReturn:
    before = before or {}
    same = subscription is not None and before.get("id") == subscription.stripe_subscription_id
    owed = (Subscription.Status.PAST_DUE, Subscription.Status.UNPAID, Subscription.Status.INCOMPLETE)
    changed_price = same and subscription is not None and before.get("price_id") != subscription.price_id
    return PortalReturn(
        flag=flag,
        remembered=bool(before),
        card_updated=flag == "card",
        invoice_paid=same
        and subscription is not None
        and before.get("status") in owed
        and subscription.status in (Subscription.Status.ACTIVE, Subscription.Status.TRIALING),
        plan_changed=_plan_of(subscription, plans) if changed_price and subscription is not None else None,
        cancellation_set=same
        and subscription is not None
        and not before.get("cancel_at_period_end")
        and subscription.cancel_at_period_end
        and subscription.status not in Subscription.ENDED_STATUSES,
        cancellation_withdrawn=same
        and subscription is not None
        and bool(before.get("cancel_at_period_end"))
        and not subscription.cancel_at_period_end
        and subscription.status not in Subscription.ENDED_STATUSES,
        ended=same
        and subscription is not None
        and before.get("status") not in Subscription.ENDED_STATUSES
        and subscription.status in Subscription.ENDED_STATUSES,
    )
