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


def capabilities_store_many(
    *, items: dict[Organization, list[dict[str, Any]]], state_at: datetime
) -> set[int]:
    """Store each organization's `items` at `state_at`, as `capabilities_store` does for one, in one
    transaction: the rows locked and read in one query, the missing ones inserted together, the
    others updated together unless they hold newer ones. A row created meanwhile (a summary webhook)
    is stored afterwards by `capabilities_store`, ordered against it alone. Returns the ids of the
    organizations whose items changed."""
    if not items:
        return set()
    now = timezone.now()
    by_pk = {o.pk: o for o in items}
    changed: set[int] = set()
    later: list[Organization] = []
    with transaction.atomic():
        rows = {
            r.organization_id: r
            for r in CapabilitySet.objects.select_for_update()
            .filter(organization_id__in=sorted(by_pk))
            .order_by("pk")
        }
        created = [
            CapabilitySet(organization=o, items=i, state_at=state_at, synced_at=now)
            for o, i in items.items()
            if o.pk not in rows
        ]
        updated = []
        for pk, row in rows.items():
            if state_at < row.state_at:
                continue  # a newer summary was stored: it wins
            new = items[by_pk[pk]]
            if row.items != new:
                changed.add(pk)
            row.items, row.state_at, row.synced_at = new, state_at, now
            updated.append(row)
        try:
            with transaction.atomic():
                CapabilitySet.objects.bulk_create(created)
        except IntegrityError:
            later = [by_pk[r.organization_id] for r in created]
        else:
            changed.update(r.organization_id for r in created)
        CapabilitySet.objects.bulk_update(updated, fields=["items", "state_at", "synced_at"])
    for organization in later:
        before = capabilities_of(organization)
        if capabilities_store(organization=organization, items=items[organization], state_at=state_at) and (
            before != items[organization]
        ):
            changed.add(organization.pk)
    logger.info(
        "billing.capabilities_batch_stored", extra={"organizations": len(items), "changed": len(changed)}
    )
    return changed


def capabilities_of(organization: Organization) -> list[dict[str, Any]] | None:
    return CapabilitySet.objects.filter(organization=organization).values_list("items", flat=True).first()


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
