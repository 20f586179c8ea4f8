"""Pulling subscription state from Stripe: the sync command, and the refresh after a portal visit."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.utils import timezone

from billing import stripe_gateway
from billing.errors import BillingError, CustomerMissing, SubscriptionMissing
from billing.models import PortalSession, Subscription
from billing.services.subscriptions import subscription_fetched_apply
from organizations.models import Organization

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubscriptionSyncResult:
    fetched: int  # subscriptions Stripe returned
    written: int  # of which were newer than what we had (or new)
    customer_missing: bool  # Stripe says it knows no such customer (nothing was changed)


def subscriptions_sync(
    *, organization: Organization, check_customer: bool = True, quick: bool = False
) -> SubscriptionSyncResult:
    """Pull the organization's subscriptions from Stripe and store them (missed webhooks).

    A fetch is Stripe's state of the moment, so it wins over anything older, but not over a
    webhook state newer than the fetch itself (see `FETCH_STATE_MARGIN`): running it while
    events arrive, or twice, never rolls a row back. A customer Stripe says is missing is
    only reported (`customer_missing`), never cleared here: with a key for another account
    every customer is missing, and the caller must tell that apart from a deletion
    (`customer_missing_settle`). With `check_customer`, that costs a second call (Stripe lists
    a deleted customer's subscriptions without complaint). Raises billing errors.
    """
    customer_id = organization.stripe_customer_id
    if not customer_id:
        return SubscriptionSyncResult(fetched=0, written=0, customer_missing=False)
    started = timezone.now()
    try:
        fetched = stripe_gateway.subscription_list(customer_id=customer_id, quick=quick)
    except CustomerMissing:
        fetched, gone = [], True
    else:
        gone = check_customer and stripe_gateway.customer_is_gone(customer_id=customer_id)
    written = 0
    for data in fetched:
        if subscription_fetched_apply(organization=organization, data=data, started=started):
            written += 1
    # The portal sessions this fetch covers no longer call for a refresh.
    PortalSession.objects.filter(
        organization=organization, subscriptions_synced_at__isnull=True, created_at__lte=started
    ).update(subscriptions_synced_at=timezone.now())
    logger.info(
        "billing.subscriptions_synced",
        extra={
            "organization_id": organization.pk,
            "fetched": len(fetched),
            "written": written,
            "customer_missing": gone,
        },
    )
    return SubscriptionSyncResult(fetched=len(fetched), written=written, customer_missing=gone)


def customer_missing_settle(*, organization: Organization, customer_id: str) -> None:
    """Stripe no longer knows the organization's customer, and the key is known to be right:
    clear the id, and give each live subscription Stripe's own state of it.

    A lookup miss is not proof of a cancellation: each subscription is asked for by its own
    id (Stripe keeps a deleted customer's canceled subscriptions), and one that Stripe does
    not know either is left as it is, for its own events to settle. Raises billing errors.
    """
    live = Subscription.objects.filter(organization=organization).exclude(
        status__in=Subscription.ENDED_STATUSES
    )
    for row in live:
        started = timezone.now()
        try:
            data = stripe_gateway.subscription_retrieve(subscription_id=row.stripe_subscription_id)
        except SubscriptionMissing:
            logger.warning(
                "billing.subscription_unknown_to_stripe",
                extra={"organization_id": organization.pk, "subscription_id": row.stripe_subscription_id},
            )
            continue
        subscription_fetched_apply(organization=organization, data=data, started=started)
    Organization.objects.filter(pk=organization.pk, stripe_customer_id=customer_id).update(
        stripe_customer_id=None
    )
    organization.stripe_customer_id = None
    logger.warning(
        "billing.customer_cleared", extra={"organization_id": organization.pk, "customer_id": customer_id}
    )


def subscription_refresh_after_portal(*, organization: Organization) -> None:
    """Re-fetch the organization's subscriptions once after it used the billing portal.

    The customer may just have changed plan or canceled there; the page is then right even
    before the webhook arrives. One query when nothing is due. Stripe failures are logged
    and swallowed: the page still renders, with the state last synced, and the next view
    tries again.
    """
    if not organization.stripe_customer_id:
        return
    if not PortalSession.objects.filter(
        organization=organization, subscriptions_synced_at__isnull=True
    ).exists():
        return
    try:
        subscriptions_sync(organization=organization, check_customer=False, quick=True)
    except BillingError as e:
        logger.warning(
            "billing.subscription_refresh_failed",
            extra={"organization_id": organization.pk, "error_code": e.error_code},
        )
