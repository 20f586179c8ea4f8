"""Seats: a per-seat subscription's quantity follows the organization's member count.

Every change of the member count (an invitation accepted, a member removed, one leaving)
calls `seats_changed`, which keeps one `SeatChange` row pending per subscription and queues
one task (`billing.tasks.seats_sync`) for when it is due, `BILLING_SEAT_SYNC_SECONDS` later.
Changes within that window share the row: they make one Stripe update, made at the member
count of the moment it runs. Stripe takes at most 200 quantity changes of a subscription an
hour: whatever the window is set to, an update is put off while the subscription already had
`SEAT_UPDATES_PER_HOUR` in the last hour.

Be careful changing `seats_apply`: it is what keeps one update in flight per subscription.
The row is claimed (`pending` -> `applying`) in a short transaction under a lock on the
subscription's row, never while Stripe is asked; the update carries an idempotency key made
of the row and the quantity sent, so a retry after a lost answer replays it and nothing is
charged twice. It reads the subscription from Stripe first: a plan change that raced the
member change (a new item, a price that is not per seat) is seen as Stripe has it now.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import stripe_gateway
from billing.errors import SubscriptionMissing
from billing.models import SeatChange, Subscription
from billing.services.subscriptions import subscription_fetched_apply
from core import tasks
from organizations.models import Organization
from organizations.selectors import member_count

logger = logging.getLogger(__name__)

# Stripe's limit is 200 quantity changes of a subscription an hour; the margin covers an update
# in flight while the next is scheduled.
SEAT_UPDATES_PER_HOUR = 180
HOUR = timedelta(hours=1)
# A claim older than this was left by a dead worker (longer than a Stripe call and its retries).
SEAT_CLAIM_SECONDS = 120


def seats_for(organization: Organization, period: dict[str, Any]) -> int:
    """The quantity to buy of `period` (a period of the plan list): the member count for a
    per-seat period (pending invitations are not seats), else 1."""
    if not period.get("perSeat"):
        return 1
    return max(1, member_count(organization_id=organization.pk))


def _live_subscription(organization_id: int) -> Subscription | None:
    return (
        Subscription.objects.filter(organization_id=organization_id)
        .exclude(status__in=Subscription.ENDED_STATUSES)
        .order_by("-stripe_created", "-pk")
        .first()
    )


def _due_at(subscription_id: str, now: datetime) -> datetime:
    due = now + timedelta(seconds=settings.BILLING_SEAT_SYNC_SECONDS)
    recent: list[datetime] = [
        applied
        for applied in SeatChange.objects.filter(
            stripe_subscription_id=subscription_id, applied_at__gt=now - HOUR
        )
        .order_by("-applied_at")
        .values_list("applied_at", flat=True)[:SEAT_UPDATES_PER_HOUR]
        if applied is not None
    ]
    if len(recent) >= SEAT_UPDATES_PER_HOUR:
        # The hour's budget is spent: due once the oldest of them is an hour old.
        due = max(due, recent[-1] + HOUR)
    return due


def seats_changed(*, organization_id: int) -> SeatChange | None:
    """The organization's member count changed: make sure one update of its live subscription's
    quantity is pending (a new row and its task, or the row already pending). None when the
    organization has no live subscription. Whether the plan is per seat is decided when the
    update runs, from Stripe's state of then (a plan change may be under way)."""
    subscription = _live_subscription(organization_id)
    if subscription is None:
        return None
    pending = SeatChange.objects.filter(
        stripe_subscription_id=subscription.stripe_subscription_id, status=SeatChange.Status.PENDING
    ).first()
    if pending is not None:
        return pending
    from billing import tasks as billing_tasks  # the task module calls this one

    now = timezone.now()
    queue_in_database = tasks.in_database(billing_tasks.seats_sync)
    try:
        with transaction.atomic():
            row = SeatChange.objects.create(
                organization_id=organization_id,
                stripe_subscription_id=subscription.stripe_subscription_id,
                due_at=_due_at(subscription.stripe_subscription_id, now),
            )
            if queue_in_database:  # in the row's transaction: both or neither
                billing_tasks.seats_sync_enqueue(seat_change_id=row.pk, run_after=row.due_at)
    except IntegrityError:
        # A concurrent change made the pending row first: it carries this change too.
        return SeatChange.objects.filter(
            stripe_subscription_id=subscription.stripe_subscription_id, status=SeatChange.Status.PENDING
        ).first()
    if not queue_in_database:
        billing_tasks.seats_sync_enqueue(seat_change_id=row.pk, run_after=row.due_at)
    logger.info(
        "billing.seat_change_scheduled",
        extra={
            "organization_id": organization_id,
            "subscription_id": subscription.stripe_subscription_id,
            "due_at": row.due_at.isoformat(),
        },
    )
    return row


def _claim(seat_change_id: int) -> tuple[SeatChange | None, str]:
    """Claim the row for its update: (row, "") or (None, why not). Under a lock on the
    subscription's row, so two rows of one subscription are never in flight together."""
    now = timezone.now()
    with transaction.atomic():
        row = SeatChange.objects.filter(pk=seat_change_id).first()
        if row is None or row.status in (SeatChange.Status.DONE, SeatChange.Status.FAILED):
            return None, "settled"
        Subscription.objects.select_for_update().filter(
            stripe_subscription_id=row.stripe_subscription_id
        ).first()
        row.refresh_from_db()
        stale = now - timedelta(seconds=SEAT_CLAIM_SECONDS)
        if row.status == SeatChange.Status.APPLYING and row.claimed_at and row.claimed_at > stale:
            return None, "in_flight"
        if (
            SeatChange.objects.filter(
                stripe_subscription_id=row.stripe_subscription_id,
                status=SeatChange.Status.APPLYING,
                claimed_at__gt=stale,
            )
            .exclude(pk=row.pk)
            .exists()
        ):
            return None, "other_in_flight"
        row.status = SeatChange.Status.APPLYING
        row.claimed_at = now
        row.save(update_fields=["status", "claimed_at"])
    return row, ""


def _settle(row: SeatChange, *, quantity: int | None) -> None:
    now = timezone.now()
    SeatChange.objects.filter(pk=row.pk).update(
        status=SeatChange.Status.DONE,
        quantity=quantity,
        applied_at=now if quantity is not None else None,
        claimed_at=None,
    )


def seats_release(*, seat_change_id: int, error: str) -> None:
    """An update that failed on Stripe's side goes back to pending, for its retry; changes made
    meanwhile join it."""
    SeatChange.objects.filter(pk=seat_change_id, status=SeatChange.Status.APPLYING).update(
        status=SeatChange.Status.PENDING, claimed_at=None, last_error=error[:2000]
    )


def seats_give_up(*, seat_change_id: int, error: str) -> None:
    SeatChange.objects.filter(pk=seat_change_id).exclude(status=SeatChange.Status.DONE).update(
        status=SeatChange.Status.FAILED, claimed_at=None, last_error=error[:2000]
    )
    logger.error("billing.seat_change_given_up", extra={"seat_change_id": seat_change_id})


def seats_apply(*, seat_change_id: int) -> str:
    """Carry the row's change to Stripe: the subscription's item quantity set to the member
    count of now, prorated as `BILLING_SEAT_PRORATION` says. Returns what happened: "updated",
    "unchanged" (Stripe already had that count), "not_per_seat", "ended", or why it was not
    claimed ("settled", "in_flight", "other_in_flight": the caller tries again later). Raises
    `BillingUnavailable` when Stripe fails (the row is pending again, for the retry)."""
    row, why = _claim(seat_change_id)
    if row is None:
        return why
    SeatChange.objects.filter(pk=row.pk).update(attempts=row.attempts + 1)
    organization = Organization.objects.filter(pk=row.organization_id).first()
    try:
        started = timezone.now()
        try:
            data = stripe_gateway.subscription_retrieve(subscription_id=row.stripe_subscription_id)
        except SubscriptionMissing:
            _settle(row, quantity=None)
            return "ended"
        subscription_fetched_apply(organization=organization, data=data, started=started)
        if data.status in Subscription.ENDED_STATUSES:
            _settle(row, quantity=None)
            return "ended"
        if not data.per_seat:
            _settle(row, quantity=None)
            return "not_per_seat"
        # Read after the claim: every change committed before now is counted.
        seats = max(1, member_count(organization_id=row.organization_id))
        if data.quantity == seats:
            _settle(row, quantity=None)
            return "unchanged"
        started = timezone.now()
        updated = stripe_gateway.subscription_quantity_update(
            subscription_id=data.id,
            item_id=data.item_id,
            quantity=seats,
            proration_behavior=settings.BILLING_SEAT_PRORATION,
            idempotency_key=row.idempotency_key_for(seats),
        )
        subscription_fetched_apply(organization=organization, data=updated, started=started)
    except BaseException as e:
        seats_release(seat_change_id=row.pk, error=f"{type(e).__name__}: {getattr(e, 'error_code', '') or e}")
        raise
    _settle(row, quantity=seats)
    logger.info(
        "billing.seats_updated",
        extra={
            "organization_id": row.organization_id,
            "subscription_id": data.id,
            "quantity": seats,
            "previous_quantity": data.quantity,
            "proration_behavior": settings.BILLING_SEAT_PRORATION,
        },
    )
    return "updated"
