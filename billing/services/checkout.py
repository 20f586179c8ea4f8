"""Buying a plan: Stripe Checkout for a paid period, a free period at once, a change of period
through the portal; and the organization's pending payment (its open Checkout session).

Be extremely careful changing `subscription_buy`: it is what keeps an organization at one
live subscription and one open Checkout session whatever the interleaving. Every buy of an
organization runs under the organization's checkout lease (a claim row committed before any
Stripe call, never a transaction held across one), and every Stripe write carries an
idempotency key derived from a local row: a Checkout session is created as `checkout-<token>` of
a row written *before* the call, so a request that died (or timed out) after Stripe created
the session is replayed by the next one instead of leaving a second session open.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from billing import stripe_gateway
from billing import tasks as billing_tasks
from billing.errors import (
    AlreadySubscribed,
    BillingError,
    BillingUnavailable,
    BuyRequestInvalid,
    CustomerMissing,
    InvalidCheckoutSession,
    NoPendingPayment,
    SubscriptionMissing,
    SubscriptionPeriodNotFound,
)
from billing.models import CheckoutSession, PortalSession, Subscription
from billing.services.access import billing_membership_get, billing_rate_counted, billing_read_counted
from billing.services.customers import customer_ensure
from billing.services.member_limits import plan_members_check
from billing.services.plans import Plan, plan_find, plan_period_find, plans_list
from billing.services.portal import portal_flow_return_url
from billing.services.seats import seats_for
from billing.services.subscriptions import subscription_fetched_apply
from billing.services.writes import stripe_write
from core.leases import lease_hold
from core.queries import CompiledQuery
from organizations.models import Organization
from organizations.selectors import organization_membership_get

logger = logging.getLogger(__name__)

# Longer than a request's Stripe work may take (its deadline, a few calls): a live holder
# never loses the claim, and a dead one's expires soon enough.
CHECKOUT_LEASE_SECONDS = 60


@dataclass(frozen=True)
class BuyResult:
    checkout_url: str | None
    session_id: str | None
    subscription_id: str | None = None
    is_subscription_change: bool = False
    previous_subscription: dict[str, str] | None = None
    is_free: bool = False


def _live_subscription(organization: Organization) -> Subscription | None:
    return (
        Subscription.objects.filter(organization=organization)
        .exclude(status__in=Subscription.ENDED_STATUSES)
        .order_by("-stripe_created", "-pk")
        .first()
    )


def _organization_lease(organization: Organization) -> Any:
    return lease_hold(
        key=f"org-{organization.pk}-checkout",
        ttl=CHECKOUT_LEASE_SECONDS,
        wait=stripe_gateway.deadline_seconds(),
    )


def _subscription_store(
    organization: Organization, data: stripe_gateway.StripeSubscription, started: datetime
) -> bool:
    """Store a subscription just read from (or made at) Stripe; a new one, or a change of
    status or price, queues a refresh of the organization's capabilities, as any other
    subscription change does (the entitlements webhook may come much later), on the worker
    rather than in this request. No transaction is held here."""
    before = (
        Subscription.objects.filter(stripe_subscription_id=data.id).values_list("status", "price_id").first()
    )
    written = subscription_fetched_apply(organization=organization, data=data, started=started)
    if written and before != (data.status, data.price_id):
        billing_tasks.capabilities_refresh_enqueue(organization_id=organization.pk)
    return written


def subscription_record(*, organization: Organization, subscription_id: str) -> bool:
    """Fetch a subscription from Stripe and store it (a Checkout just created it)."""
    started = timezone.now()
    try:
        data = stripe_gateway.subscription_retrieve(subscription_id=subscription_id)
    except SubscriptionMissing:
        logger.warning(
            "billing.subscription_unknown_to_stripe",
            extra={"organization_id": organization.pk, "subscription_id": subscription_id},
        )
        return False
    return _subscription_store(organization, data, started)


def checkout_session_store(*, row: CheckoutSession, session: stripe_gateway.StripeCheckoutSession) -> None:
    """Store Stripe's state of the row's session; a completed one's subscription is recorded."""
    if session.status == CheckoutSession.Status.COMPLETE and session.subscription_id:
        subscription_record(organization=row.organization, subscription_id=session.subscription_id)
    fields: dict[str, Any] = {
        "stripe_session_id": session.id,
        "status": session.status if session.status in CheckoutSession.Status.values else row.status,
        "url": session.url if session.status == CheckoutSession.Status.OPEN else "",
        "stripe_subscription_id": session.subscription_id or row.stripe_subscription_id,
    }
    if session.amount_total is not None:
        fields["amount"] = session.amount_total
    if session.currency:
        fields["currency"] = session.currency
    if session.expires_at is not None:
        fields["expires_at"] = session.expires_at
    # Never back to open once settled (a late answer after the webhook said complete).
    query = CheckoutSession.objects.filter(pk=row.pk)
    if fields["status"] in CheckoutSession.UNSETTLED_STATUSES:
        query = query.filter(status__in=CheckoutSession.UNSETTLED_STATUSES)
    query.update(**fields, updated_at=timezone.now())
    for name, value in fields.items():
        setattr(row, name, value)


def _checkout_create(row: CheckoutSession, customer_id: str) -> None:
    """Create (or replay: same key) the row's Checkout session at Stripe and store it.

    Raises billing errors; on one that says Stripe created nothing, the row is ended.
    """
    try:
        session = stripe_gateway.checkout_session_create(
            customer_id=customer_id,
            price_id=row.price_id,
            organization_id=row.organization_id,
            success_url=settings.BILLING_CHECKOUT_SUCCESS_URL,
            cancel_url=settings.BILLING_CHECKOUT_CANCEL_URL,
            trial_days=row.trial_days,
            quantity=row.quantity,
            idempotency_key=row.idempotency_key,
            allow_promotion_codes=settings.BILLING_ALLOW_PROMOTION_CODES,
            automatic_tax=settings.BILLING_AUTOMATIC_TAX,
            tax_id_collection=settings.BILLING_TAX_ID_COLLECTION,
        )
    except BillingUnavailable:
        raise  # Stripe may have created it: the row stays `creating`, for a replay
    except BillingError:
        CheckoutSession.objects.filter(pk=row.pk, status=CheckoutSession.Status.CREATING).update(
            status=CheckoutSession.Status.EXPIRED, updated_at=timezone.now()
        )
        row.status = CheckoutSession.Status.EXPIRED
        raise
    checkout_session_store(row=row, session=session)


def _checkout_end(row: CheckoutSession) -> None:
    """Expire the row's open session at Stripe; 409 if Stripe says it was paid meanwhile."""
    assert row.stripe_session_id
    session = stripe_gateway.checkout_session_expire(
        session_id=row.stripe_session_id, idempotency_key=f"{row.idempotency_key}-expire"
    )
    checkout_session_store(row=row, session=session)
    logger.info(
        "billing.checkout_session_ended",
        extra={
            "organization_id": row.organization_id,
            "session_id": row.stripe_session_id,
            "status": row.status,
        },
    )
    if row.status == CheckoutSession.Status.COMPLETE:
        raise AlreadySubscribed()


def _unsettled(organization: Organization) -> list[CheckoutSession]:
    return list(
        CheckoutSession.objects.filter(
            organization=organization, status__in=CheckoutSession.UNSETTLED_STATUSES
        ).order_by("created_at", "pk")
    )


def _settle_all_but(organization: Organization, *, price_id: str | None) -> CheckoutSession | None:
    """End every unsettled session of the organization but one still open for `price_id`,
    which is returned (the same session answers the same period). Under the lease."""
    now = timezone.now()
    keep: CheckoutSession | None = None
    for row in _unsettled(organization):
        if row.status == CheckoutSession.Status.CREATING:
            customer_id = organization.stripe_customer_id or customer_ensure(organization=organization)
            try:
                _checkout_create(row, customer_id)
            except CustomerMissing:
                continue  # nothing was created at Stripe; the row is ended
        if row.status == CheckoutSession.Status.COMPLETE:
            raise AlreadySubscribed()
        if row.status != CheckoutSession.Status.OPEN:
            continue
        fresh = row.expires_at is not None and row.expires_at > now
        if keep is None and fresh and row.price_id == price_id:
            keep = row
            continue
        _checkout_end(row)
    return keep


def _result_for(row: CheckoutSession) -> BuyResult:
    return BuyResult(checkout_url=row.url, session_id=row.stripe_session_id)


def _checkout_start(organization: Organization, user: User, plan: Plan, period: dict[str, Any]) -> BuyResult:
    customer_id = organization.stripe_customer_id or customer_ensure(organization=organization)
    trial_days = settings.BILLING_TRIAL_DAYS
    if trial_days <= 0 or Subscription.objects.filter(organization=organization).exists():
        trial_days = 0  # a trial on the first subscription only
    quantity = seats_for(organization, period)
    for attempt in range(2):
        row = CheckoutSession.objects.create(
            organization=organization,
            user=user,
            price_id=period["id"],
            product_id=plan["id"],
            trial_days=trial_days,
            quantity=quantity,
            amount=int(period["price"]) * quantity,
            currency=period["currency"],
        )
        try:
            _checkout_create(row, customer_id)
        except CustomerMissing as e:
            if attempt:
                raise BillingError() from e
            logger.warning(
                "billing.customer_missing",
                extra={"organization_id": organization.pk, "customer_id": customer_id},
            )
            customer_id = customer_ensure(organization=organization, replacing=customer_id)
            continue
        break
    logger.info(
        "billing.checkout_session_created",
        extra={
            "organization_id": organization.pk,
            "user_id": user.pk,
            "session_id": row.stripe_session_id,
            "price_id": row.price_id,
            "trial_days": trial_days,
            "quantity": quantity,
        },
    )
    return _result_for(row)


def _subscribe_free(organization: Organization, period: dict[str, Any]) -> BuyResult:
    customer_id = organization.stripe_customer_id or customer_ensure(organization=organization)
    quantity = seats_for(organization, period)
    for attempt in range(2):
        # The key is a row made for this creation: a retry after a lost answer replays it
        # (Stripe answers the subscription it made), while a later subscription, after this
        # one ended, is a new write with a key of its own.
        try:
            with stripe_write(
                organization=organization,
                subject="free-subscription",
                action=f"create-{period['id']}-{customer_id}-{quantity}",
            ) as key:
                started = timezone.now()
                data = stripe_gateway.subscription_create(
                    customer_id=customer_id,
                    price_id=period["id"],
                    organization_id=organization.pk,
                    idempotency_key=key,
                    quantity=quantity,
                )
                _subscription_store(organization, data, started)
        except CustomerMissing as e:
            if attempt:
                raise BillingError() from e
            customer_id = customer_ensure(organization=organization, replacing=customer_id)
            continue
        break
    logger.info(
        "billing.free_subscription_created",
        extra={"organization_id": organization.pk, "subscription_id": data.id, "price_id": period["id"]},
    )
    return BuyResult(checkout_url=None, session_id=None, subscription_id=data.id, is_free=True)


def _live_at_stripe(organization: Organization) -> Subscription | None:
    """The organization's live subscription as Stripe has it, recorded, when we hold none.

    Local rows are not enough before a new subscription is started: a webhook lost, or a
    subscription made in the Dashboard, leaves one live at Stripe that we never recorded, and
    a Checkout now would bill the organization twice. One call, under the organization's
    lease; skipped for an organization without a customer yet (a new customer has none).
    """
    customer_id = organization.stripe_customer_id
    if not customer_id:
        return None
    started = timezone.now()
    try:
        listed = stripe_gateway.subscription_list(customer_id=customer_id)
    except CustomerMissing:
        return None  # the Checkout below re-creates the customer
    for data in listed:
        if data.status not in Subscription.ENDED_STATUSES:
            _subscription_store(organization, data, started)
            logger.warning(
                "billing.unrecorded_subscription_found",
                extra={"organization_id": organization.pk, "subscription_id": data.id, "status": data.status},
            )
    return _live_subscription(organization)


def _plan_name(plans: list[Plan], product_id: str) -> str:
    plan = plan_find(plans, product_id=product_id)
    return str(plan["name"]) if plan else product_id


def _change(
    organization: Organization,
    user: User,
    live: Subscription,
    plans: list[Plan],
    period: dict[str, Any],
    source: str,
) -> BuyResult | None:
    """A change of period on the live subscription, confirmed in Stripe's portal. None when
    Stripe says the subscription has ended (the caller starts a new one)."""
    if live.price_id == period["id"]:
        raise AlreadySubscribed()
    started = timezone.now()
    data: stripe_gateway.StripeSubscription | None
    try:
        data = stripe_gateway.subscription_retrieve(subscription_id=live.stripe_subscription_id)
    except SubscriptionMissing:
        data = None
    if data is not None:
        _subscription_store(organization, data, started)
    if data is None or data.status in Subscription.ENDED_STATUSES:
        return None
    if data.price_id == period["id"]:
        raise AlreadySubscribed()
    item: dict[str, Any] = {"id": data.item_id, "price": period["id"]}
    if period.get("perSeat") or data.per_seat:
        # Onto a per-seat period: the member count; off one: a single unit again.
        item["quantity"] = seats_for(organization, period)
    return_url = settings.BILLING_PORTAL_RETURN_URL
    session = stripe_gateway.portal_session_create(
        customer_id=data.customer_id,
        return_url=return_url,
        configuration=settings.STRIPE_PORTAL_CONFIGURATION,
        flow_data={
            "type": "subscription_update_confirm",
            "subscription_update_confirm": {
                "subscription": data.id,
                "items": [item],
            },
            "after_completion": {
                "type": "redirect",
                "redirect": {"return_url": portal_flow_return_url("subscription_update_confirm")},
            },
        },
    )
    PortalSession.objects.create(
        organization=organization,
        user=user,
        stripe_session_id=session.id,
        stripe_customer_id=data.customer_id,
        source=source,
    )
    logger.info(
        "billing.subscription_change_started",
        extra={
            "organization_id": organization.pk,
            "subscription_id": data.id,
            "price_id": period["id"],
            "session_id": session.id,
        },
    )
    return BuyResult(
        checkout_url=session.url,
        session_id=session.id,
        is_subscription_change=True,
        previous_subscription={"id": data.id, "name": _plan_name(plans, data.product or live.product)},
    )


def subscription_buy(*, user: User, price_id: Any, source: str = PortalSession.Source.API) -> BuyResult:
    """Start (or change) the organization's subscription to the period `price_id`.

    Checks in the documented order: organization, role, the request (`price_id` given), the
    per-user rate shared with the portal, then Stripe. A request Stripe failed (503) does
    not count toward the rate.
    """
    membership = billing_membership_get(user=user)
    organization = membership.organization
    if not isinstance(price_id, str) or not price_id.strip():
        raise BuyRequestInvalid()
    price_id = price_id.strip()
    log_fields = {"user_id": user.pk, "organization_id": organization.pk, "price_id": price_id}
    try:
        with billing_rate_counted(user=user, action="buy"), stripe_gateway.request_deadline():
            plans = plans_list()
            found = plan_period_find(plans, price_id=price_id)
            if found is None:
                raise SubscriptionPeriodNotFound()
            plan, period = found
            plan_members_check(organization=organization, plan=plan)
            with _organization_lease(organization) as held:
                if not held:  # the holder is still waiting on Stripe: as if we were
                    raise BillingUnavailable()
                organization.refresh_from_db(fields=["stripe_customer_id"])
                live = _live_subscription(organization)
                if live is not None:
                    changed = _change(organization, user, live, plans, period, source)
                    if changed is not None:
                        return changed
                kept = _settle_all_but(organization, price_id=period["id"])
                if kept is not None:
                    return _result_for(kept)
                # About to start a subscription: first make sure Stripe has none live either.
                unrecorded = _live_at_stripe(organization)
                if unrecorded is not None:
                    changed = _change(organization, user, unrecorded, plans, period, source)
                    if changed is not None:
                        return changed
                if period["price"] == 0:
                    return _subscribe_free(organization, period)
                return _checkout_start(organization, user, plan, period)
    except BillingError as e:
        logger.warning("billing.buy_failed", extra={**log_fields, "error_code": e.error_code})
        raise


# --- Checkout status and the pending payment --------------------------------------------------


def checkout_session_status_get(*, user: User, session_id: str) -> stripe_gateway.StripeCheckoutSession:
    """One of the organization's Checkout sessions as Stripe has it now (any member).

    An id that is not the organization's is refused without asking Stripe. A completed
    session's subscription is recorded at once (the page is right before the webhook).
    """
    membership = organization_membership_get(user=user)
    # Counted after who may ask, before the id is looked at (BILLING_READ_RATE).
    with billing_read_counted(user=user, action="checkout-session-status"):
        if not stripe_gateway.stripe_id_valid(session_id):
            # Before the query: PostgreSQL refuses a NUL byte in any string (a 500, not a 400).
            raise InvalidCheckoutSession()
        row = CheckoutSession.objects.filter(
            organization=membership.organization, stripe_session_id=session_id
        ).first()
        if row is None:
            raise InvalidCheckoutSession()
        row.organization = membership.organization
        with stripe_gateway.request_deadline():
            session = stripe_gateway.checkout_session_retrieve(session_id=session_id)
            checkout_session_store(row=row, session=session)
    return session


def _open_newest_first(organization_id: int) -> QuerySet[CheckoutSession]:
    return CheckoutSession.objects.filter(
        organization_id=organization_id, status=CheckoutSession.Status.OPEN
    ).order_by("-created_at", "-pk")


# `GET /subscriptions/pending-payment` on every page load: the organization's newest open
# session, compiled once (core.queries) rather than on every request.
_NEWEST_OPEN: CompiledQuery[CheckoutSession] = CompiledQuery(
    lambda organization_id: _open_newest_first(organization_id)[:1]
)


def pending_payment_get(*, organization: Organization) -> CheckoutSession | None:
    """The organization's open Checkout session that has not passed its `expires_at`.

    The newest open one, when it has not: one compiled query. When it has, an older open one
    may still be pending, and the full query looks for it.
    """
    now = timezone.now()
    newest = _NEWEST_OPEN.first(organization.pk)
    if newest is None or (newest.expires_at is not None and newest.expires_at > now):
        return newest
    return _open_newest_first(organization.pk).filter(expires_at__gt=now).first()


def pending_payment_for_user(*, user: User) -> CheckoutSession:
    membership = organization_membership_get(user=user)
    row = pending_payment_get(organization=membership.organization)
    if row is None:
        raise NoPendingPayment()
    return row


def pending_payment_cancel(*, user: User) -> tuple[CheckoutSession, datetime]:
    """Expire the organization's open Checkout session at Stripe (billing roles).

    Counts toward the per-user rate as a buy does. Raises `NoPendingPayment`, or
    `AlreadySubscribed` (with the subscription recorded) when Stripe says it was paid.
    """
    membership = billing_membership_get(user=user)
    organization = membership.organization
    try:
        with (
            billing_rate_counted(user=user, action="pending-payment-cancel"),
            stripe_gateway.request_deadline(),
            _organization_lease(organization) as held,
        ):
            if not held:
                raise BillingUnavailable()
            row = pending_payment_get(organization=organization)
            if row is None:
                raise NoPendingPayment()
            _checkout_end(row)
    except BillingError as e:
        logger.warning(
            "billing.pending_payment_cancel_failed",
            extra={"user_id": user.pk, "organization_id": organization.pk, "error_code": e.error_code},
        )
        raise
    logger.info(
        "billing.pending_payment_cancelled",
        extra={"user_id": user.pk, "organization_id": organization.pk, "session_id": row.stripe_session_id},
    )
    return row, timezone.now()
