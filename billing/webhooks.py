"""Stripe webhook events: verify and record a delivery (`webhook_event_receive`, in the
request), then apply it (`event_apply`, on the background worker) through a dict of handlers.

Be careful changing `event_apply` (what the worker does with a recorded event, and what a
replay of listed events does for each): the event is marked processed in the same transaction
as the state change it causes. A redelivery, or a task run twice (a worker killed mid-task),
then finds it processed and does nothing, and a handler that fails rolls both back, so the
retry is processed in full.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from billing import stripe_gateway
from billing import tasks as billing_tasks
from billing.capabilities import plan_catalogue
from billing.errors import SubscriptionMissing, WebhookPayloadInvalid
from billing.models import CheckoutSession, Subscription, WebhookEvent
from billing.services.capabilities import (
    capabilities_state_at,
    capabilities_store,
    capability_items,
)
from billing.services.customers import customer_forget
from billing.services.payments import payments_cache_drop
from billing.services.plans import plans_invalidate
from billing.services.seats import seats_changed
from billing.services.subscriptions import (
    SubscriptionOrderUnknown,
    SubscriptionState,
    fetch_state_at_after,
    subscription_event_state,
    subscription_state_store,
)
from core.tasks import in_database
from organizations.models import Organization
from organizations.selectors import member_count

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    QUEUED = "queued"  # recorded; the worker applies it
    PROCESSED = "processed"  # the event changed our state
    UNCHANGED = "unchanged"  # handled, but we held newer state already
    UNKNOWN_CUSTOMER = "unknown_customer"  # for a customer that is not (or no longer) ours
    DUPLICATE = "duplicate"  # this event id was recorded (or processed) before
    IGNORED = "ignored"  # a type we do not handle


@dataclass(frozen=True)
class Handler:
    """`prepare` runs before the event's transaction and may call Stripe; `apply` runs inside it
    (with what `prepare` returned) and must not."""

    apply: Callable[[stripe_gateway.StripeEvent, Any], Outcome]
    prepare: Callable[[stripe_gateway.StripeEvent], Any] = lambda event: None
    # After the transaction committed (may call Stripe; must not raise): follow-up work that
    # the stored change calls for, e.g. refreshing the organization's capabilities.
    after: Callable[[stripe_gateway.StripeEvent, Any, Outcome], None] = lambda event, prepared, outcome: None


def _subscription_state(event: stripe_gateway.StripeEvent) -> SubscriptionState:
    try:
        data = stripe_gateway.subscription_from_dict(event.object)
    except (KeyError, TypeError, ValueError) as e:
        raise WebhookPayloadInvalid() from e
    return subscription_event_state(data=data, state_at=event.created)


def _subscription_changed(event: stripe_gateway.StripeEvent, prepared: SubscriptionState) -> Outcome:
    data = prepared.data
    organization = Organization.objects.filter(stripe_customer_id=data.customer_id).first()
    written = subscription_state_store(organization=organization, state=prepared, settle_ties=True)
    if written:
        return Outcome.PROCESSED
    # Nothing written either because the row holds newer state, or because the subscription
    # is new to us and so is its customer.
    return Outcome.UNCHANGED if organization is not None or _known(data.id) else Outcome.UNKNOWN_CUSTOMER


def _known(subscription_id: str) -> bool:
    return Subscription.objects.filter(stripe_subscription_id=subscription_id).exists()


def _customer_deleted(event: stripe_gateway.StripeEvent, prepared: None) -> Outcome:
    customer_id = event.object.get("id")
    if not isinstance(customer_id, str) or not customer_id:
        raise WebhookPayloadInvalid()
    organization = customer_forget(customer_id=customer_id, at=event.created)
    return Outcome.UNKNOWN_CUSTOMER if organization is None else Outcome.PROCESSED


# --- Capabilities: the summary event, and a refresh after a plan or status change ---------


@dataclass(frozen=True)
class _SubscriptionChange:
    state: SubscriptionState
    before: tuple[str, str] | None  # the row's (status, price_id) before, None for a new one


def _subscription_change(event: stripe_gateway.StripeEvent) -> _SubscriptionChange:
    state = _subscription_state(event)
    before = (
        Subscription.objects.filter(stripe_subscription_id=state.data.id)
        .values_list("status", "price_id")
        .first()
    )
    return _SubscriptionChange(state=state, before=before)


def _subscription_change_apply(event: stripe_gateway.StripeEvent, prepared: _SubscriptionChange) -> Outcome:
    return _subscription_changed(event, prepared.state)


def _capabilities_after_subscription(
    event: stripe_gateway.StripeEvent, prepared: _SubscriptionChange, outcome: Outcome
) -> None:
    """A stored change of status or price may change what the plan grants: ask Stripe now
    rather than wait for (or miss) the entitlements summary. Outside the transaction."""
    data = prepared.state.data
    if outcome is Outcome.PROCESSED:
        _seats_after_subscription(data)
    if outcome is not Outcome.PROCESSED or prepared.before == (data.status, data.price_id):
        return
    row = Subscription.objects.select_related("organization").filter(stripe_subscription_id=data.id).first()
    if row is not None and row.organization.stripe_customer_id == data.customer_id:
        billing_tasks.capabilities_refresh_enqueue(organization_id=row.organization.pk)


def _seats_after_subscription(data: stripe_gateway.StripeSubscription) -> None:
    """A per-seat subscription whose quantity is not the member count (a plan change or a
    Checkout confirmed at the count of when it started, while members joined or left): one
    seat update is scheduled, as a member change does. Outside the transaction."""
    if not data.per_seat or data.status in Subscription.ENDED_STATUSES:
        return
    row = (
        Subscription.objects.filter(stripe_subscription_id=data.id)
        .values_list("organization_id", flat=True)
        .first()
    )
    if row is not None and data.quantity != member_count(organization_id=row):
        seats_changed(organization_id=row)


@dataclass(frozen=True)
class _EntitlementSummary:
    organization: Organization | None  # None: a customer that is not ours
    items: list[dict[str, Any]] | None  # None: older than what is stored, nothing to apply
    state_at: datetime


def _entitlement_summary_state(event: stripe_gateway.StripeEvent) -> _EntitlementSummary:
    """The customer's entitlements the summary stands for: its own list when it carries the
    features, else Stripe's of now (fetched here, before the transaction). Older than the
    stored state: nothing to fetch or apply."""
    customer = event.object.get("customer")
    customer_id = customer.get("id") if isinstance(customer, dict) else customer
    if not isinstance(customer_id, str) or not customer_id:
        raise WebhookPayloadInvalid()
    organization = Organization.objects.filter(stripe_customer_id=customer_id).first()
    if organization is None:
        return _EntitlementSummary(organization=None, items=None, state_at=event.created)
    stored_at = capabilities_state_at(organization=organization)
    if stored_at is not None and event.created < stored_at:
        return _EntitlementSummary(organization=organization, items=None, state_at=event.created)
    listed = event.object.get("entitlements") or {}
    data = listed.get("data") if isinstance(listed, dict) else None
    if (
        isinstance(data, list)
        and not listed.get("has_more")
        and all(isinstance(e, dict) and isinstance(e.get("feature"), dict) for e in data)
    ):
        try:
            features = [stripe_gateway.feature_from_dict(e["feature"]) for e in data]
        except (KeyError, TypeError) as e:
            raise WebhookPayloadInvalid() from e
        return _EntitlementSummary(
            organization=organization, items=capability_items(features), state_at=event.created
        )
    # Stripe sends the features as ids: their codes and values are on the features themselves.
    started = timezone.now()
    features = stripe_gateway.active_entitlements_list(customer_id=customer_id)
    return _EntitlementSummary(
        organization=organization,
        items=capability_items(features),
        state_at=fetch_state_at_after(started, max(event.created, stored_at or event.created)),
    )


def _entitlement_summary_apply(event: stripe_gateway.StripeEvent, prepared: _EntitlementSummary) -> Outcome:
    if prepared.organization is None:
        return Outcome.UNKNOWN_CUSTOMER
    if prepared.items is None:
        return Outcome.UNCHANGED
    written = capabilities_store(
        organization=prepared.organization, items=prepared.items, state_at=prepared.state_at
    )
    return Outcome.PROCESSED if written else Outcome.UNCHANGED


def _plan_catalogue_after_summary(
    event: stripe_gateway.StripeEvent, prepared: _EntitlementSummary, outcome: Outcome
) -> None:
    # The plans that unlock a capability, for the pages' messages: read now (once per cache
    # period) so that gated pages never have to ask Stripe.
    if outcome is Outcome.PROCESSED:
        plan_catalogue(fetch=True)


_SUBSCRIPTION = Handler(
    prepare=_subscription_change, apply=_subscription_change_apply, after=_capabilities_after_subscription
)


def _invoice_customer_id(event: stripe_gateway.StripeEvent) -> str:
    customer = event.object.get("customer")
    customer_id = customer.get("id") if isinstance(customer, dict) else customer
    return customer_id if isinstance(customer_id, str) else ""


def _invoice_subscription_state(event: stripe_gateway.StripeEvent) -> SubscriptionState | Outcome | None:
    """An invoice paid or failed changes its subscription (past_due, or active again): fetch
    the subscription as Stripe has it now, outside the transaction.

    Only for a subscription we hold a row of, or an invoice of one of our organizations'
    customers: in a Stripe account shared with other products, their renewals must not cost
    a Stripe call each (nor wait on Stripe while it is slow).
    """
    subscription_id = stripe_gateway.invoice_subscription_id(event.object)
    if not subscription_id:
        return None  # a one-off invoice: no subscription to refresh
    known = Subscription.objects.filter(stripe_subscription_id=subscription_id).exists()
    if not known:
        customer_id = _invoice_customer_id(event)
        if not customer_id or not Organization.objects.filter(stripe_customer_id=customer_id).exists():
            return Outcome.UNKNOWN_CUSTOMER
    started = timezone.now()
    try:
        data = stripe_gateway.subscription_retrieve(subscription_id=subscription_id)
    except SubscriptionMissing:
        return None
    return SubscriptionState.read(data, started=started)


def _invoice_changed(
    event: stripe_gateway.StripeEvent, prepared: SubscriptionState | Outcome | None
) -> Outcome:
    if isinstance(prepared, Outcome):
        return prepared
    if prepared is None:
        return Outcome.UNCHANGED
    return _subscription_changed(event, prepared)


def _payments_cache_drop(event: stripe_gateway.StripeEvent) -> None:
    """Any invoice event (handled or not) may change the payment history: drop the cached
    invoice lists of the customer's organization. No Stripe call, and a no-op for a customer
    that is not ours."""
    customer_id = _invoice_customer_id(event)
    if not customer_id:
        return
    for organization_id in Organization.objects.filter(stripe_customer_id=customer_id).values_list(
        "pk", flat=True
    ):
        payments_cache_drop(organization_id=organization_id)


_INVOICE = Handler(prepare=_invoice_subscription_state, apply=_invoice_changed)

# --- Checkout and the catalogue ---------------------------------------------------------------


@dataclass(frozen=True)
class _CheckoutCompleted:
    session_id: str
    organization: Organization | None
    subscription: SubscriptionState | None


def _checkout_session_id(event: stripe_gateway.StripeEvent) -> str:
    session_id = event.object.get("id")
    if not isinstance(session_id, str) or not session_id:
        raise WebhookPayloadInvalid()
    return session_id


def _checkout_completed_prepare(event: stripe_gateway.StripeEvent) -> _CheckoutCompleted:
    """The session's subscription, fetched from Stripe (the event carries only its id)."""
    session_id = _checkout_session_id(event)
    row = CheckoutSession.objects.filter(stripe_session_id=session_id).select_related("organization").first()
    customer_id = stripe_gateway.stripe_id_of(event.object.get("customer"))
    organization = (
        row.organization
        if row is not None
        else Organization.objects.filter(stripe_customer_id=customer_id).first()
        if customer_id
        else None
    )
    subscription_id = stripe_gateway.stripe_id_of(event.object.get("subscription"))
    started = timezone.now()
    subscription = None
    if subscription_id and organization is not None:
        try:
            subscription = SubscriptionState.read(
                stripe_gateway.subscription_retrieve(subscription_id=subscription_id), started=started
            )
        except SubscriptionMissing:
            subscription = None
    return _CheckoutCompleted(session_id, organization, subscription)


def _checkout_completed(event: stripe_gateway.StripeEvent, prepared: _CheckoutCompleted) -> Outcome:
    if prepared.organization is None:
        return Outcome.UNKNOWN_CUSTOMER
    written = False
    if prepared.subscription is not None:
        written = subscription_state_store(
            organization=prepared.organization, state=prepared.subscription, settle_ties=True
        )
    ended = CheckoutSession.objects.filter(
        stripe_session_id=prepared.session_id, status__in=CheckoutSession.UNSETTLED_STATUSES
    ).update(
        status=CheckoutSession.Status.COMPLETE,
        url="",
        stripe_subscription_id=prepared.subscription.data.id if prepared.subscription else "",
        updated_at=timezone.now(),
    )
    return Outcome.PROCESSED if written or ended else Outcome.UNCHANGED


def _capabilities_after_checkout(
    event: stripe_gateway.StripeEvent, prepared: _CheckoutCompleted, outcome: Outcome
) -> None:
    """A Checkout that recorded its subscription changes what the plan grants: as for any other
    subscription change, ask Stripe now rather than wait for the entitlements summary."""
    if (
        outcome is Outcome.PROCESSED
        and prepared.organization is not None
        and prepared.subscription is not None
    ):
        billing_tasks.capabilities_refresh_enqueue(organization_id=prepared.organization.pk)


def _checkout_expired(event: stripe_gateway.StripeEvent, prepared: None) -> Outcome:
    session_id = _checkout_session_id(event)
    if not CheckoutSession.objects.filter(stripe_session_id=session_id).exists():
        return Outcome.UNKNOWN_CUSTOMER
    ended = CheckoutSession.objects.filter(
        stripe_session_id=session_id, status__in=CheckoutSession.UNSETTLED_STATUSES
    ).update(status=CheckoutSession.Status.EXPIRED, url="", updated_at=timezone.now())
    return Outcome.PROCESSED if ended else Outcome.UNCHANGED


def _catalogue_changed(event: stripe_gateway.StripeEvent, prepared: None) -> Outcome:
    plans_invalidate()
    return Outcome.PROCESSED


def _plans_refresh_after(event: stripe_gateway.StripeEvent, prepared: None, outcome: Outcome) -> None:
    # Read the new plan list on the worker, so that no request has to wait on Stripe for it.
    billing_tasks.plans_refresh.enqueue()


_CATALOGUE = Handler(apply=_catalogue_changed, after=_plans_refresh_after)

# Every event type handled, and how: the one table the dispatch reads.
HANDLERS: dict[str, Handler] = {
    **{
        f"customer.subscription.{change}": _SUBSCRIPTION
        for change in ("created", "updated", "deleted", "paused", "resumed")
    },
    "customer.deleted": Handler(apply=_customer_deleted),
    "invoice.paid": _INVOICE,
    "invoice.payment_failed": _INVOICE,
    "entitlements.active_entitlement_summary.updated": Handler(
        prepare=_entitlement_summary_state,
        apply=_entitlement_summary_apply,
        after=_plan_catalogue_after_summary,
    ),
    "checkout.session.completed": Handler(
        prepare=_checkout_completed_prepare, apply=_checkout_completed, after=_capabilities_after_checkout
    ),
    "checkout.session.expired": Handler(apply=_checkout_expired),
    **{
        f"{kind}.{change}": _CATALOGUE
        for kind in ("product", "price")
        for change in ("created", "updated", "deleted")
    },
}


def _record_new(event: stripe_gateway.StripeEvent, *, body: str) -> bool:
    """Record a delivered event unless its id was recorded before; whether it is new.

    One statement (`INSERT ... ON CONFLICT DO NOTHING RETURNING`, SQLite 3.35+ and PostgreSQL)
    where `get_or_create` takes a read, a savepoint and the insert: the storm's hot path, and
    its write lock held shorter. A concurrent delivery of the same id waits on the unique index
    and inserts nothing."""
    table = WebhookEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} "  # noqa: S608 - the table name is ours, the values parameters
            "(stripe_event_id, type, received_at, body, status, attempts, last_error) "
            "VALUES (%s, %s, %s, %s, %s, 0, '') ON CONFLICT (stripe_event_id) DO NOTHING RETURNING id",
            [
                event.id,
                event.type,
                connection.ops.adapt_datetimefield_value(timezone.now()),
                body,
                WebhookEvent.Status.QUEUED,
            ],
        )
        return cursor.fetchone() is not None


def webhook_event_receive(*, payload: bytes, signature: str) -> Outcome:
    """Verify one webhook delivery, record it and queue its application: no handler and no
    Stripe call here, so the answer is quick whatever Stripe's latency.

    Raises `WebhookSignatureInvalid`/`WebhookPayloadInvalid` (refuse: 400) and
    `BillingNotConfigured` (no secret). A database failure raises too (answer 5xx: Stripe
    delivers again, and nothing is recorded).
    """
    event = stripe_gateway.webhook_event_construct(payload=payload, signature=signature)
    log_fields = {"event_id": event.id, "event_type": event.type}
    if event.type.startswith("invoice."):
        # The invoice types this app does not handle (created, finalized, voided, ...) change
        # the payment history too: a cache drop, no Stripe call, harmless to repeat.
        _payments_cache_drop(event)
    if event.type not in HANDLERS:
        # Not recorded: nothing is to be done, and the endpoint may receive every type.
        logger.info("billing.webhook_ignored", extra=log_fields)
        return Outcome.IGNORED
    # With the queue in the database, the record and its task commit together (neither exists
    # without the other); another queue (the tests' immediate one) gets the task after the
    # commit, so that it finds the record.
    queue_in_database = in_database(billing_tasks.webhook_event_apply)
    with transaction.atomic():
        created = _record_new(event, body=payload.decode("utf-8"))
        if created and queue_in_database:
            billing_tasks.webhook_event_enqueue(stripe_event_id=event.id)
    if created and not queue_in_database:
        billing_tasks.webhook_event_enqueue(stripe_event_id=event.id)
    if not created:
        record = WebhookEvent.objects.get(stripe_event_id=event.id)
        # Stripe delivering again an event given up here: it is tried afresh.
        if record.status == WebhookEvent.Status.FAILED and billing_tasks.webhook_events_retry(
            events=[record]
        ):
            logger.info("billing.webhook_requeued", extra=log_fields)
            return Outcome.QUEUED
        logger.info("billing.webhook_duplicate", extra=log_fields)
        return Outcome.DUPLICATE
    logger.info("billing.webhook_queued", extra=log_fields)
    return Outcome.QUEUED


# How many times an event's order is settled before its task is retried later (each settling
# after the first asks Stripe, and only a read stored meanwhile calls for another).
_SETTLE_TRIES = 3


def event_apply(event: stripe_gateway.StripeEvent) -> Outcome:
    """Apply one verified event (a recorded delivery's, or one listed from Stripe to replay it):
    mark it processed and dispatch it, once per event id whichever way it came and however
    often it is tried.

    Raises `WebhookPayloadInvalid` (not the shape its type has) and whatever a handler raises
    (nothing of the event stays written).
    """
    log_fields = {"event_id": event.id, "event_type": event.type}
    if event.type.startswith("invoice."):
        _payments_cache_drop(event)
    handler = HANDLERS.get(event.type)
    if handler is None:
        logger.info("billing.webhook_ignored", extra=log_fields)
        return Outcome.IGNORED
    processed = WebhookEvent.objects.filter(stripe_event_id=event.id, processed_at__isnull=False)
    if processed.exists():  # spares prepare's Stripe call
        logger.info("billing.webhook_duplicate", extra=log_fields)
        return Outcome.DUPLICATE
    for attempt in range(1, _SETTLE_TRIES + 1):
        prepared = handler.prepare(event)  # outside the transaction: it may wait on Stripe
        try:
            with transaction.atomic():
                record, _ = WebhookEvent.objects.get_or_create(
                    stripe_event_id=event.id, defaults={"type": event.type}
                )
                # The claim: one transaction sets `processed_at` (a concurrent one waits on the
                # row, then finds it set), and only that one applies the event.
                claimed = WebhookEvent.objects.filter(pk=record.pk, processed_at__isnull=True).update(
                    processed_at=timezone.now(), status=WebhookEvent.Status.PROCESSED, last_error=""
                )
                if not claimed:
                    logger.info("billing.webhook_duplicate", extra=log_fields)
                    return Outcome.DUPLICATE
                outcome = handler.apply(event, prepared)
        except SubscriptionOrderUnknown:
            # A read of the subscription was stored between `prepare` and the transaction (the
            # page coming back from Checkout, say): settle the order again, against it.
            logger.info("billing.webhook_order_resettled", extra={**log_fields, "attempt": attempt})
            if attempt == _SETTLE_TRIES:
                raise
            continue
        break
    logger.info("billing.webhook_processed", extra={**log_fields, "outcome": str(outcome)})
    handler.after(event, prepared, outcome)  # committed: queues follow-up work, never raises
    return outcome
