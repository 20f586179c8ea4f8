"""Stripe webhook events: verify, record the event id, dispatch through a dict of handlers.

Be careful changing `webhook_event_process`: the event id is recorded in the same
transaction as the state change it causes. A redelivery then finds the id and does nothing,
and a handler that fails rolls both back, so Stripe's retry is processed in full.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import stripe_gateway
from billing.errors import SubscriptionMissing, WebhookPayloadInvalid
from billing.models import Subscription, WebhookEvent
from billing.services.customers import customer_forget
from billing.services.subscriptions import (
    fetch_state_at,
    subscription_event_state,
    subscription_state_apply,
)
from organizations.models import Organization

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    PROCESSED = "processed"  # the event changed our state
    UNCHANGED = "unchanged"  # handled, but we held newer state already
    UNKNOWN_CUSTOMER = "unknown_customer"  # for a customer that is not (or no longer) ours
    DUPLICATE = "duplicate"  # this event id was processed before
    IGNORED = "ignored"  # a type we do not handle


@dataclass(frozen=True)
class Handler:
    """`prepare` runs before the event's transaction and may call Stripe; `apply` runs inside it
    (with what `prepare` returned) and must not."""

    apply: Callable[[stripe_gateway.StripeEvent, Any], Outcome]
    prepare: Callable[[stripe_gateway.StripeEvent], Any] = lambda event: None


def _subscription_state(
    event: stripe_gateway.StripeEvent,
) -> tuple[stripe_gateway.StripeSubscription, datetime]:
    try:
        data = stripe_gateway.subscription_from_dict(event.object)
    except (KeyError, TypeError, ValueError) as e:
        raise WebhookPayloadInvalid() from e
    return subscription_event_state(data=data, state_at=event.created)


def _subscription_changed(
    event: stripe_gateway.StripeEvent, prepared: tuple[stripe_gateway.StripeSubscription, datetime]
) -> Outcome:
    data, state_at = prepared
    organization = Organization.objects.filter(stripe_customer_id=data.customer_id).first()
    written = subscription_state_apply(organization=organization, data=data, state_at=state_at)
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


def _invoice_subscription_state(
    event: stripe_gateway.StripeEvent,
) -> tuple[stripe_gateway.StripeSubscription, datetime] | None:
    """An invoice paid or failed changes its subscription (past_due, or active again): fetch
    the subscription as Stripe has it now, outside the transaction."""
    subscription_id = stripe_gateway.invoice_subscription_id(event.object)
    if not subscription_id:
        return None  # a one-off invoice: no subscription to refresh
    started = timezone.now()
    try:
        data = stripe_gateway.subscription_retrieve(subscription_id=subscription_id)
    except SubscriptionMissing:
        return None
    return data, fetch_state_at(started)


def _invoice_changed(
    event: stripe_gateway.StripeEvent, prepared: tuple[stripe_gateway.StripeSubscription, datetime] | None
) -> Outcome:
    if prepared is None:
        return Outcome.UNCHANGED
    return _subscription_changed(event, prepared)


_SUBSCRIPTION = Handler(prepare=_subscription_state, apply=_subscription_changed)
_INVOICE = Handler(prepare=_invoice_subscription_state, apply=_invoice_changed)

HANDLERS: dict[str, Handler] = {
    "customer.subscription.created": _SUBSCRIPTION,
    "customer.subscription.updated": _SUBSCRIPTION,
    "customer.subscription.deleted": _SUBSCRIPTION,
    "customer.subscription.paused": _SUBSCRIPTION,
    "customer.subscription.resumed": _SUBSCRIPTION,
    "customer.deleted": Handler(apply=_customer_deleted),
    "invoice.paid": _INVOICE,
    "invoice.payment_failed": _INVOICE,
}


def webhook_event_process(*, payload: bytes, signature: str) -> Outcome:
    """Verify and apply one webhook delivery; the outcome says what became of it.

    Raises `WebhookSignatureInvalid`/`WebhookPayloadInvalid` (refuse: 400),
    `BillingNotConfigured` (no secret), and whatever a handler raises (answer 5xx so Stripe
    retries; nothing of the delivery stays written).
    """
    event = stripe_gateway.webhook_event_construct(payload=payload, signature=signature)
    log_fields = {"event_id": event.id, "event_type": event.type}
    handler = HANDLERS.get(event.type)
    if handler is None:
        # Not recorded: nothing was processed, and the endpoint may receive every type.
        logger.info("billing.webhook_ignored", extra=log_fields)
        return Outcome.IGNORED
    if WebhookEvent.objects.filter(stripe_event_id=event.id).exists():  # spares prepare's Stripe call
        logger.info("billing.webhook_duplicate", extra=log_fields)
        return Outcome.DUPLICATE
    prepared = handler.prepare(event)  # outside the transaction: it may wait on Stripe
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = WebhookEvent.objects.create(stripe_event_id=event.id, type=event.type)
        except IntegrityError:
            # Processed before, or right now by a concurrent delivery (whose insert we waited on).
            logger.info("billing.webhook_duplicate", extra=log_fields)
            return Outcome.DUPLICATE
        outcome = handler.apply(event, prepared)
        record.processed_at = timezone.now()
        record.save(update_fields=["processed_at"])
    logger.info("billing.webhook_processed", extra={**log_fields, "outcome": str(outcome)})
    return outcome
