"""Cancelling a subscription (and undoing a scheduled cancellation) from the app.

`BILLING_CANCEL_MODE` says what a cancellation does: `at_period_end` (the default: the
customer keeps what they paid for, and the subscription ends with its period) or
`immediately`. The answer is stored at once from what Stripe returns, not left to the webhook.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from billing import selectors, stripe_gateway
from billing.errors import NoSubscription
from billing.models import Subscription
from billing.services.access import billing_membership_get, billing_rate_counted
from billing.services.subscriptions import subscription_fetched_apply
from billing.services.writes import stripe_write, stripe_write_latest
from billing.stripe_gateway import StripeSubscription

logger = logging.getLogger(__name__)

AT_PERIOD_END = "at_period_end"
IMMEDIATELY = "immediately"


def _cancellation_stands(subscription: Subscription, mode: str) -> bool:
    """Whether the cancellation this mode makes is already there (asking again changes nothing)."""
    if mode == IMMEDIATELY:
        return subscription.status == Subscription.Status.CANCELED
    live = subscription.status not in Subscription.ENDED_STATUSES
    return live and subscription.cancel_at_period_end


def _write(
    *,
    user: User,
    subscription: Subscription,
    action: str,
    source: str,
    call: Callable[[str], StripeSubscription],
) -> Subscription:
    """Make one write to the subscription at Stripe and store the state Stripe answers at once.

    The idempotency key is a row made for this write (`StripeWrite`): a retry of it while
    Stripe's answer is missing replays it, while any later write (a cancellation after a
    resume, however soon) has a key of its own.
    """
    with (
        billing_rate_counted(user=user, action=action),
        stripe_gateway.request_deadline(),
        stripe_write(
            organization=subscription.organization, subject=_subject(subscription), action=action
        ) as key,
    ):
        started = timezone.now()
        data = call(key)
    subscription_fetched_apply(organization=subscription.organization, data=data, started=started)
    subscription.refresh_from_db()
    logger.info(
        f"billing.subscription_{action.replace('-', '_')}",
        extra={
            "user_id": user.pk,
            "organization_id": subscription.organization_id,
            "subscription_id": subscription.stripe_subscription_id,
            "source": source,
        },
    )
    return subscription


def _live_subscription(user: User) -> Subscription | None:
    organization = billing_membership_get(user=user).organization
    return selectors.subscription_current_get(organization=organization)


def subscription_cancel(*, user: User, source: str) -> Subscription:
    """Cancel the organization's live subscription as BILLING_CANCEL_MODE says; return it.

    Asked again while the cancellation stands, it answers the same without a Stripe write.
    Raises NoSubscription when there is nothing to cancel.
    """
    mode = settings.BILLING_CANCEL_MODE
    subscription = _live_subscription(user)
    if subscription is not None and _cancellation_stands(subscription, mode):
        return subscription
    if subscription is None or subscription.status in Subscription.ENDED_STATUSES:
        raise NoSubscription()
    stripe_id = subscription.stripe_subscription_id
    if mode == IMMEDIATELY:
        return _write(
            user=user,
            subscription=subscription,
            action="cancel-now",
            source=source,
            call=lambda key: stripe_gateway.subscription_cancel(
                subscription_id=stripe_id, idempotency_key=key
            ),
        )
    return _write(
        user=user,
        subscription=subscription,
        action="cancel",
        source=source,
        call=lambda key: stripe_gateway.subscription_update(
            subscription_id=stripe_id, cancel_at_period_end=True, idempotency_key=key
        ),
    )


def _subject(subscription: Subscription) -> str:
    return f"subscription-{subscription.pk}"


def subscription_resume(*, user: User, source: str) -> Subscription:
    """Undo a cancellation scheduled for the end of the period; return the subscription.

    Nothing set to cancel is 404, except right after our own resume: asking again (a double
    click, a retried request) answers the subscription as it is, without a Stripe write.
    """
    subscription = _live_subscription(user)
    if subscription is None or subscription.status in Subscription.ENDED_STATUSES:
        raise NoSubscription()
    if not subscription.cancel_at_period_end:
        latest = stripe_write_latest(organization=subscription.organization, subject=_subject(subscription))
        if latest is not None and latest.action == "resume" and latest.finished_at is not None:
            return subscription
        raise NoSubscription()
    stripe_id = subscription.stripe_subscription_id
    return _write(
        user=user,
        subscription=subscription,
        action="resume",
        source=source,
        call=lambda key: stripe_gateway.subscription_update(
            subscription_id=stripe_id, cancel_at_period_end=False, idempotency_key=key
        ),
    )
