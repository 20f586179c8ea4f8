"""Writing an organization's capabilities from Stripe's active entitlements.

Every write carries the Stripe time of the entitlements it stores (`state_at`: a summary
event's `created`, or the moment of a fetch, as for subscriptions) and is ignored when the row
holds newer ones, so a late or replayed summary never rolls capabilities back.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import stripe_gateway
from billing.capabilities import feature_item
from billing.errors import CustomerMissing
from billing.models import CapabilitySet
from billing.services.subscriptions import fetch_state_at_after
from organizations.models import Organization

logger = logging.getLogger(__name__)


def capability_items(features: list[stripe_gateway.StripeFeature]) -> list[dict[str, Any]]:
    return [feature_item(feature) for feature in features]


def capabilities_state_at(*, organization: Organization) -> datetime | None:
    """The Stripe time of the capabilities stored for the organization (None: none yet)."""
    return CapabilitySet.objects.filter(organization=organization).values_list("state_at", flat=True).first()


def capabilities_store(
    *, organization: Organization, items: list[dict[str, Any]], state_at: datetime
) -> bool:
    """Store `items` as the organization's capabilities at `state_at`, unless the row holds
    newer ones (a tie is applied: the later delivery of the same second wins). No Stripe call.
    Returns whether anything was written."""
    now = timezone.now()
    with transaction.atomic():
        row = CapabilitySet.objects.select_for_update().filter(organization=organization).first()
        if row is None:
            try:
                with transaction.atomic():
                    CapabilitySet.objects.create(
                        organization=organization, items=items, state_at=state_at, synced_at=now
                    )
            except IntegrityError:  # created concurrently: ordered against that one
                row = CapabilitySet.objects.select_for_update().get(organization=organization)
            else:
                logger.info(
                    "billing.capabilities_stored",
                    extra={"organization_id": organization.pk, "codes": [i["code"] for i in items]},
                )
                return True
        if state_at < row.state_at:
            logger.info(
                "billing.capabilities_stale_state_ignored",
                extra={
                    "organization_id": organization.pk,
                    "state_at": state_at.isoformat(),
                    "row_state_at": row.state_at.isoformat(),
                },
            )
            return False
        row.items = items
        row.state_at = state_at
        row.synced_at = now
        row.save(update_fields=["items", "state_at", "synced_at"])
    logger.info(
        "billing.capabilities_stored",
        extra={"organization_id": organization.pk, "codes": [i["code"] for i in items]},
    )
    return True


def capabilities_refresh(*, organization: Organization, quick: bool = False) -> bool:
    """Fetch the customer's active entitlements from Stripe and store them (outside any
    transaction: the Stripe call comes first, the write after; a tie with the stored state is
    applied). Raises billing errors; a
    customer Stripe no longer knows has no entitlements. Returns whether anything was written."""
    customer_id = organization.stripe_customer_id
    if not customer_id:
        return False
    prior = capabilities_state_at(organization=organization)
    started = timezone.now()
    try:
        features = stripe_gateway.active_entitlements_list(customer_id=customer_id, quick=quick)
    except CustomerMissing:
        features = []
    return capabilities_store(
        organization=organization,
        items=capability_items(features),
        state_at=fetch_state_at_after(started, prior),
    )
