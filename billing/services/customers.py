"""The organization's Stripe customer: created once, re-created once, forgotten when Stripe deletes it.

Be extremely careful changing `customer_ensure`: it is what keeps an organization at exactly
one Stripe customer when first requests race.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing import stripe_gateway
from billing.errors import BillingNotConfigured, BillingUnavailable
from billing.models import Subscription
from billing.services.writes import stripe_write
from core.leases import lease_hold
from organizations.models import Membership, Organization

logger = logging.getLogger(__name__)

# Longer than any Stripe call may take (its deadline): a live holder never loses its claim,
# and a dead one's expires soon enough for the next request to take over.
CUSTOMER_LEASE_SECONDS = 60


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

    Concurrent first requests take turns on the organization's customer lease (a claim row
    committed before the Stripe call, never a transaction held across it): the holder creates
    the customer, the others wait for the lease, then find the id it stored. The idempotency
    key is a row made for this creation (`StripeWrite`), so a holder that died between
    Stripe's answer and our write is replayed, not doubled, by the next one; once Stripe
    answered, a later creation (after Stripe deleted the customer) has a key of its own and is
    never answered with the deleted customer. `replacing` is the id Stripe said no longer
    exists: it is replaced once, however many requests noticed it.
    """
    lease = f"org-{organization.pk}-customer" + (f"-after-{replacing}" if replacing else "")
    with lease_hold(key=lease, ttl=CUSTOMER_LEASE_SECONDS, wait=stripe_gateway.deadline_seconds()) as held:
        if not held:  # the holder is still waiting on Stripe: as if we were
            raise BillingUnavailable()
        current = (
            Organization.objects.filter(pk=organization.pk).values_list("stripe_customer_id", flat=True).get()
        )
        if current and current != replacing:
            organization.stripe_customer_id = current
            return current
        account_id = stripe_gateway.account_id()
        action = f"replace-{replacing}" if replacing else "create"
        with stripe_write(organization=organization, subject="customer", action=action) as key:
            # The demo's customers each live on a test clock of their own, so time can be moved on.
            clock = (
                stripe_gateway.test_clock_create(
                    frozen_time=timezone.now(), name=organization.name, idempotency_key=f"{key}-clock"
                )
                if settings.STRIPE_TEST_CLOCKS and stripe_gateway.is_test_mode()
                else ""
            )
            customer_id = stripe_gateway.customer_create(
                name=organization.name,
                email=_customer_email(organization),
                organization_id=organization.pk,
                idempotency_key=key,
                test_clock=clock,
            )
            # Stored before the write is finished: a holder that dies in between leaves it
            # unfinished, and the next one replays the key. Conditional: only over the state
            # we read, so nothing stored meanwhile is overwritten.
            Organization.objects.filter(pk=organization.pk, stripe_customer_id=current).update(
                stripe_customer_id=customer_id, stripe_account_id=account_id
            )
    organization.stripe_customer_id = customer_id
    organization.stripe_account_id = account_id
    logger.info(
        "billing.customer_created",
        extra={"organization_id": organization.pk, "customer_id": customer_id, "replacing": replacing},
    )
    return customer_id


def customer_replacement_check(*, organization: Organization) -> None:
    """Stripe says the organization's customer does not exist: may it be replaced by a new one?

    Only when the key is of the account that holds the customer. A key of another account
    (or a test key on live data) finds none of our customers; re-creating them there would
    split the organization's billing over two accounts, and switching back would make a third.
    Raises BillingNotConfigured when the key is another account's, or when the account that
    holds the customer is not known (a customer stored before accounts were).
    """
    current = stripe_gateway.account_id()
    if organization.stripe_account_id == current:
        return
    logger.error(
        "billing.customer_in_another_account",
        extra={
            "organization_id": organization.pk,
            "customer_account": organization.stripe_account_id or None,
            "key_account": current,
        },
    )
    raise BillingNotConfigured(
        "Billing is not configured: the Stripe key is not of the account that holds this "
        "organization's customer"
    )


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
