"""The organization's Stripe customer: created once, re-created once, forgotten when Stripe deletes it.

Be extremely careful changing `customer_ensure`: it is what keeps an organization at exactly
one Stripe customer when first requests race.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from billing import stripe_gateway
from billing.models import Subscription
from organizations.models import Membership, Organization

logger = logging.getLogger(__name__)


def _customer_email(organization: Organization) -> str:
    if organization.billing_email:
        return organization.billing_email
    owner = (
        organization.memberships.filter(role=Membership.Role.OWNER, user__is_active=True)
        .select_related("user")
        .order_by("created_at")
        .first()
    )
    return owner.user.email if owner else ""


def customer_ensure(*, organization: Organization, replacing: str | None = None) -> str:
    """The organization's Stripe customer id, creating the customer on first use.

    Concurrent first requests serialize on the organization's row: the first creates the
    customer, the others find its id once they get the lock. The idempotency key is derived
    from the row (and from the customer being replaced), so a request retried after a crash
    between Stripe's answer and our commit gets the same customer back, not a second one.
    `replacing` is the id Stripe said no longer exists: it is replaced once, however many
    requests noticed it.
    """
    with transaction.atomic():
        locked = Organization.objects.select_for_update().get(pk=organization.pk)
        current = locked.stripe_customer_id
        if current and current != replacing:
            organization.stripe_customer_id = current
            return current
        key = f"org-{locked.pk}-customer" + (f"-after-{replacing}" if replacing else "")
        customer_id = stripe_gateway.customer_create(
            name=locked.name,
            email=_customer_email(locked),
            organization_id=locked.pk,
            idempotency_key=key,
        )
        locked.stripe_customer_id = customer_id
        locked.save(update_fields=["stripe_customer_id"])
    organization.stripe_customer_id = customer_id
    logger.info(
        "billing.customer_created",
        extra={"organization_id": organization.pk, "customer_id": customer_id, "replacing": replacing},
    )
    return customer_id


def customer_forget(*, customer_id: str, at: datetime) -> Organization | None:
    """Stripe deleted the customer: clear it from its organization, and end its subscriptions.

    Stripe cancels a deleted customer's subscriptions at once and sends their own events,
    which still reach the rows (they are found by subscription id); marking them canceled
    here as well means a lost event cannot leave a subscription looking active with no
    customer left to sync it from. Returns the organization, or None for a customer we do
    not know (or no longer hold: a newer customer replaced it).
    """
    with transaction.atomic():
        organization = Organization.objects.select_for_update().filter(stripe_customer_id=customer_id).first()
        if organization is None:
            return None
        organization.stripe_customer_id = None
        organization.save(update_fields=["stripe_customer_id"])
        live = (
            Subscription.objects.select_for_update()
            .filter(organization=organization, state_at__lte=at)
            .exclude(status__in=Subscription.ENDED_STATUSES)
        )
        now = timezone.now()
        for row in live:
            row.status = Subscription.Status.CANCELED
            row.canceled_at = row.canceled_at or at
            row.state_at = at
            row.synced_at = now
            row.save()
    logger.warning(
        "billing.customer_forgotten",
        extra={"organization_id": organization.pk, "customer_id": customer_id},
    )
    return organization
