"""Stripe webhook events: verify, record the event id, dispatch through a dict of handlers.

Be careful changing `webhook_event_process`: the event id is recorded in the same
transaction as the state change it causes. A redelivery then finds the id and does nothing,
and a handler that fails rolls both back, so Stripe's retry is processed in full.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import stripe_gateway
from billing.errors import WebhookPayloadInvalid
from billing.models import Subscription, WebhookEvent
from billing.services.customers import customer_forget
from billing.services.subscriptions import subscription_state_apply
from organizations.models import Organization

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    PROCESSED = "processed"  # the event changed our state
    UNCHANGED = "unchanged"  # handled, but we held newer state already
    UNKNOWN_CUSTOMER = "unknown_customer"  # for a customer that is not (or no longer) ours
    DUPLICATE = "duplicate"  # this event id was processed before
    IGNORED = "ignored"  # a type we do not handle


Handler = Callable[[stripe_gateway.StripeEvent], Outcome]


def _subscription_changed(event: stripe_gateway.StripeEvent) -> Outcome:
    try:
        data = stripe_gateway.subscription_from_dict(event.object)
    except (KeyError, TypeError, ValueError) as e:
        raise WebhookPayloadInvalid() from e
    organization = Organization.objects.filter(stripe_customer_id=data.customer_id).first()
    written = subscription_state_apply(
        organization=organization, data=data, state_at=event.created, refetch_on_tie=True
    )
    if written:
        return Outcome.PROCESSED
    # Nothing written either because the row holds newer state, or because the subscription
    # is new to us and so is its customer.
    return Outcome.UNCHANGED if organization is not None or _known(data.id) else Outcome.UNKNOWN_CUSTOMER


def _known(subscription_id: str) -> bool:
    return Subscription.objects.filter(stripe_subscription_id=subscription_id).exists()


def _customer_deleted(event: stripe_gateway.StripeEvent) -> Outcome:
    customer_id = event.object.get("id")
    if not isinstance(customer_id, str) or not customer_id:
        raise WebhookPayloadInvalid()
    organization = customer_forget(customer_id=customer_id, at=event.created)
    return Outcome.UNKNOWN_CUSTOMER if organization is None else Outcome.PROCESSED


HANDLERS: dict[str, Handler] = {
    "customer.subscription.created": _subscription_changed,
    "customer.subscription.updated": _subscription_changed,
    "customer.subscription.deleted": _subscription_changed,
    "customer.subscription.paused": _subscription_changed,
    "customer.subscription.resumed": _subscription_changed,
    "customer.deleted": _customer_deleted,
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
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = WebhookEvent.objects.create(stripe_event_id=event.id, type=event.type)
        except IntegrityError:
            # Processed before, or right now by a concurrent delivery (whose insert we waited on).
            logger.info("billing.webhook_duplicate", extra=log_fields)
            return Outcome.DUPLICATE
        outcome = handler(event)
        record.processed_at = timezone.now()
        record.save(update_fields=["processed_at"])
    logger.info("billing.webhook_processed", extra={**log_fields, "outcome": str(outcome)})
    return outcome
