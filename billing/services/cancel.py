"""Cancelling a subscription (and undoing a scheduled cancellation) from the app.

`BILLING_CANCEL_MODE` says what a cancellation does: `at_period_end` (the default: the
customer keeps what they paid for, and the subscription ends with its period) or
`immediately`. The answer is stored at once from what Stripe returns, not left to the webhook.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from billing import selectors, stripe_gateway
from billing.errors import NoSubscription
from billing.models import Subscription
from billing.services.access import billing_membership_get, billing_rate_counted
from billing.services.subscriptions import fetch_state_at_after, subscription_state_apply

logger = logging.getLogger(__name__)

AT_PERIOD_END = "at_period_end"
IMMEDIATELY = "immediately"


def _cancellation_stands(subscription: Subscription, mode: str) -> bool:
    """Whether the cancellation this mode makes is already there (asking again changes nothing)."""
    if mode == IMMEDIATELY:
        return subscription.status == Subscription.Status.CANCELED
    live = subscription.status not in Subscription.ENDED_STATUSES
    return live and subscription.cancel_at_period_end


def subscription_cancel(*, user: User, source: str) -> Subscription:
    """Cancel the organization's live subscription as BILLING_CANCEL_MODE says; return it.

    Asked again while the cancellation stands, it answers the same without a Stripe write.
    Raises NoSubscription when there is nothing to cancel.
    """
    mode = settings.BILLING_CANCEL_MODE
    organization = billing_membership_get(user=user).organization
    subscription = selectors.subscription_current_get(organization=organization)
    if subscription is not None and _cancellation_stands(subscription, mode):
        return subscription
    if subscription is None or subscription.status in Subscription.ENDED_STATUSES:
        raise NoSubscription()
    with billing_rate_counted(user=user, action="cancel"), stripe_gateway.request_deadline():
        started = timezone.now()
        # The key names the state being cancelled: a retry replays it, while a cancellation
        # after a resume (a new state) is a new write.
        version = int(subscription.state_at.timestamp())
        if mode == IMMEDIATELY:
            data = stripe_gateway.subscription_cancel(
                subscription_id=subscription.stripe_subscription_id,
                idempotency_key=f"subscription-{subscription.pk}-cancel-now-{version}",
            )
        else:
            data = stripe_gateway.subscription_update(
                subscription_id=subscription.stripe_subscription_id,
                cancel_at_period_end=True,
                idempotency_key=f"subscription-{subscription.pk}-cancel-{version}",
            )
    subscription_state_apply(
        organization=organization, data=data, state_at=fetch_state_at_after(started, subscription.state_at)
    )
    subscription.refresh_from_db()
    logger.info(
        "billing.subscription_canceled",
        extra={
            "user_id": user.pk,
            "organization_id": organization.pk,
            "subscription_id": subscription.stripe_subscription_id,
            "mode": mode,
            "source": source,
        },
    )
    return subscription


def subscription_resume(*, user: User) -> Subscription:
    """Undo a cancellation scheduled for the end of the period; return the subscription."""
    organization = billing_membership_get(user=user).organization
    subscription = selectors.subscription_current_get(organization=organization)
    if subscription is None or subscription.status in Subscription.ENDED_STATUSES:
        raise NoSubscription()
    if not subscription.cancel_at_period_end:
        return subscription
    with billing_rate_counted(user=user, action="resume"), stripe_gateway.request_deadline():
        started = timezone.now()
        data = stripe_gateway.subscription_update(
            subscription_id=subscription.stripe_subscription_id,
            cancel_at_period_end=False,
            idempotency_key=f"subscription-{subscription.pk}-resume-{int(subscription.state_at.timestamp())}",
        )
    subscription_state_apply(
        organization=organization, data=data, state_at=fetch_state_at_after(started, subscription.state_at)
    )
    subscription.refresh_from_db()
    logger.info(
        "billing.subscription_resumed",
        extra={"organization_id": organization.pk, "subscription_id": subscription.stripe_subscription_id},
    )
    return subscription
