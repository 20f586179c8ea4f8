"""Subscription state: the ordering rule every write of it goes through.

Be extremely careful changing `subscription_state_apply`: webhooks, the sync command and the
refresh after the portal all write subscription state through it, and its ordering rule is
what keeps a late or replayed state from overwriting a newer one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import stripe_gateway
from billing.errors import SubscriptionMissing
from billing.models import Subscription
from organizations.models import Organization

logger = logging.getLogger(__name__)

# Every write of subscription state carries the Stripe time of that state (`state_at`): an
# event's `created`, or for a fetch the moment the request left (minus a margin, below).
# The ordering rule (`_verdict`) compares it with the row's under a row lock:
#   - a canceled/incomplete_expired subscription never comes back (Stripe never revives
#     one), so a non-ended state never overwrites an ended one;
#   - a newer state is applied, an older one ignored;
#   - a tie (Stripe's times are whole seconds, and e.g. `created` and `updated` often share
#     one) is settled by Stripe itself: an ended state is applied as is (it is final),
#     otherwise the webhook re-fetches the subscription and stores what Stripe says now;
#     a fetch applies (it is Stripe's state of that moment).
#
# A read from Stripe (a fetch, or the answer to a write) has no Stripe time of its own, only
# ours: when it left (`read_started`) and when it came back. Two rules make its order with
# events exact where the clocks cannot:
#   - a read that left after the row was last written is newer than what the row holds,
#     whatever the times say: Stripe had made that state before it told us about it. So an
#     event applied a moment before the Checkout return page's fetch never makes the fetch
#     look stale (its `created` may be ahead of the fetch's margin-early state time);
#   - the other way round is ambiguous: an event whose time falls inside a stored read's
#     window (`read_until` plus the margin), or a row written while a read was in flight,
#     may be older or newer than the read. Stripe settles it: the subscription is fetched
#     again, and that read left after everything stored.

# A fetch reflects Stripe at some moment after the request left. Its state time is taken a
# margin *before* that, on our clock: if our clock runs ahead of Stripe's, a state time that
# is too late would make the event of a change that happened after the fetch look older and
# be ignored for good; a state time that is too early only lets an event already reflected
# in the fetch be applied again, and the events after it then put the row right.
FETCH_STATE_MARGIN = timedelta(seconds=2)


class _Verdict(StrEnum):
    APPLY = "apply"
    STALE = "stale"
    REFETCH = "refetch"


def fetch_state_at(started: datetime) -> datetime:
    return started.replace(microsecond=0) - FETCH_STATE_MARGIN


def fetch_state_at_after(started: datetime, prior: datetime | None) -> datetime:
    """The state time of a fetch: the fetch's own (a margin early, see `FETCH_STATE_MARGIN`),
    but never older than what was stored before it started (`prior`). Stripe's state at the
    fetch includes whatever the stored state reflected, so an event stored a moment ago (its
    `created` ahead of the margin) does not make the fresher fetch look stale; a tie applies."""
    at = fetch_state_at(started)
    return at if prior is None else max(at, prior)


@dataclass(frozen=True)
class SubscriptionState:
    """A subscription's state to store: an event's (its `created` as `state_at`), or a read
    from Stripe that left at `read_started` (our clock)."""

    data: stripe_gateway.StripeSubscription
    state_at: datetime
    read_started: datetime | None = None

    @classmethod
    def read(cls, data: stripe_gateway.StripeSubscription, *, started: datetime) -> SubscriptionState:
        return cls(data=data, state_at=fetch_state_at(started), read_started=started)


def _verdict(
    row: Subscription,
    *,
    status: str,
    state_at: datetime,
    on_tie: _Verdict,
    read_started: datetime | None = None,
) -> _Verdict:
    """APPLY, STALE, or (only where `on_tie` is REFETCH) REFETCH: ask Stripe."""
    incoming_ended = status in Subscription.ENDED_STATUSES
    if row.status in Subscription.ENDED_STATUSES and not incoming_ended:
        return _Verdict.STALE
    if read_started is not None:
        if incoming_ended or row.synced_at <= read_started:
            return _Verdict.APPLY  # final, or the read left after the row's state was stored
        # The row was written while the read was in flight: which came first is unknown.
        if state_at >= row.state_at:
            return _Verdict.APPLY
        return _Verdict.REFETCH if on_tie is _Verdict.REFETCH else _Verdict.STALE
    if (
        not incoming_ended
        and row.read_until is not None
        and row.state_at <= state_at <= row.read_until + FETCH_STATE_MARGIN
    ):
        return on_tie  # an event made around the time of the stored read
    if state_at > row.state_at:
        return _Verdict.APPLY
    if state_at < row.state_at:
        return _Verdict.STALE
    return _Verdict.APPLY if incoming_ended else on_tie


_FIELDS = (
    "status",
    "price_id",
    "product",
    "quantity",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "canceled_at",
    "trial_end",
    "stripe_created",
)


def _subscription_fields(data: stripe_gateway.StripeSubscription) -> dict[str, Any]:
    return {
        "status": data.status,
        "price_id": data.price_id,
        "product": data.product,
        "quantity": data.quantity,
        "current_period_start": data.current_period_start,
        "current_period_end": data.current_period_end,
        "cancel_at_period_end": data.cancel_at_period_end,
        "canceled_at": data.canceled_at,
        "trial_end": data.trial_end,
        "stripe_created": data.created,
    }


def subscription_event_state(
    *, data: stripe_gateway.StripeSubscription, state_at: datetime
) -> SubscriptionState:
    """The state an event should store: its own, or, when its order with the stored state is
    unknown (a tie, or an event made around the time of a stored read), Stripe's of now.

    Calls Stripe then, so it runs before the webhook's transaction, never inside it (a
    transaction held across the call would lock the row, and on SQLite the whole database,
    for as long as Stripe takes). Raises billing errors when Stripe cannot be reached.
    """
    row = Subscription.objects.filter(stripe_subscription_id=data.id).first()
    if row is None or _same_state(row, data):
        return SubscriptionState(data=data, state_at=state_at)
    if _verdict(row, status=data.status, state_at=state_at, on_tie=_Verdict.REFETCH) is not _Verdict.REFETCH:
        return SubscriptionState(data=data, state_at=state_at)
    started = timezone.now()
    try:
        fetched = stripe_gateway.subscription_retrieve(subscription_id=data.id)
    except SubscriptionMissing:
        return SubscriptionState(data=data, state_at=state_at)  # gone from Stripe: the event's own state
    # Stored as a read: it left after the row was written, so it wins over what the row holds.
    # A write that lands between this fetch and the store is ordered against it as usual.
    return SubscriptionState(
        data=fetched, state_at=max(state_at, fetch_state_at(started)), read_started=started
    )


def _same_state(row: Subscription, data: stripe_gateway.StripeSubscription) -> bool:
    return all(getattr(row, name) == value for name, value in _subscription_fields(data).items())


def subscription_state_apply(
    *,
    organization: Organization | None,
    data: stripe_gateway.StripeSubscription,
    state_at: datetime,
) -> bool:
    """Store an event's state `data` at `state_at`, unless the row holds newer state.

    An existing row keeps its organization (events keep reaching it after the organization's
    customer id was cleared); a new one is created for `organization`, or not at all when
    that is None (a customer we do not know). Returns whether anything was written. A tie is
    applied (an event's tie is settled by `subscription_event_state` first). No Stripe call.
    """
    state = SubscriptionState(data=data, state_at=state_at)
    return _store(organization, state, on_tie=_Verdict.APPLY) is _Verdict.APPLY


class SubscriptionOrderUnknown(Exception):
    """The row changed after the event's order was settled (`subscription_event_state`): a read
    was stored meanwhile, and which of the two is newer is unknown again. The caller rolls back
    and settles it afresh (that asks Stripe)."""


def subscription_state_store(
    *, organization: Organization | None, state: SubscriptionState, settle_ties: bool = False
) -> bool:
    """Store an event's state or a read as `subscription_state_apply` does. No Stripe call:
    for inside a transaction. A tie is applied, or with `settle_ties` (the state was settled
    before the transaction, against the row as it was then) raises `SubscriptionOrderUnknown`."""
    verdict = _store(organization, state, on_tie=_Verdict.REFETCH if settle_ties else _Verdict.APPLY)
    if verdict is _Verdict.REFETCH:
        raise SubscriptionOrderUnknown()
    return verdict is _Verdict.APPLY


def subscription_fetched_apply(
    *, organization: Organization | None, data: stripe_gateway.StripeSubscription, started: datetime
) -> bool:
    """Store a read from Stripe (a fetch, or a write's answer) that left at `started`.

    It wins over whatever the row held when it left. If the row was written while it was in
    flight (a webhook landed meanwhile) and the times cannot tell which is newer, Stripe is
    asked once more. Outside any transaction. Returns whether anything was written.
    """
    verdict = _store(organization, SubscriptionState.read(data, started=started), on_tie=_Verdict.REFETCH)
    if verdict is not _Verdict.REFETCH:
        return verdict is _Verdict.APPLY
    again = timezone.now()
    try:
        data = stripe_gateway.subscription_retrieve(subscription_id=data.id)
    except SubscriptionMissing:
        return False
    return _store(organization, SubscriptionState.read(data, started=again), on_tie=_Verdict.APPLY) is (
        _Verdict.APPLY
    )


def subscriptions_fetched_apply(
    *, reads: list[tuple[Organization, stripe_gateway.StripeSubscription]], started: datetime
) -> int:
    """Store a page of reads that left at `started` (the sync's list), as `subscription_fetched_apply`
    stores one, in one transaction: the page's rows locked and read in one query, the new ones
    inserted together, the changed ones updated together, under the same rules (`_verdict`).

    Locks are taken in the order a customer's deletion takes them: the organizations of the new
    rows first (each new row only while its organization still holds the customer), then the
    page's rows. A read whose order against its row cannot be told, or a new row created
    meanwhile by a webhook, is stored afterwards by `subscription_fetched_apply`, outside the
    transaction (it may ask Stripe). Returns how many rows were written.
    """
    if not reads:
        return 0
    state_at = fetch_state_at(started)
    later: list[tuple[Organization, stripe_gateway.StripeSubscription]] = []
    created: list[Subscription] = []
    inserting: list[tuple[Organization, stripe_gateway.StripeSubscription]] = []  # what `created` holds
    changed: list[Subscription] = []
    with transaction.atomic():
        known = set(
            Subscription.objects.filter(stripe_subscription_id__in=[d.id for _, d in reads]).values_list(
                "stripe_subscription_id", flat=True
            )
        )
        new = [(o, d) for o, d in reads if d.id not in known]
        holding = set(
            Organization.objects.select_for_update()
            .filter(pk__in=sorted({o.pk for o, _ in new}))
            .order_by("pk")
            .values_list("pk", "stripe_customer_id")
        )
        rows = {
            r.stripe_subscription_id: r
            for r in Subscription.objects.select_for_update()
            .filter(stripe_subscription_id__in=sorted(known))
            .order_by("pk")
        }
        now = timezone.now()
        for organization, data in reads:
            row = rows.get(data.id)
            if row is None:
                if data.id in known:  # deleted since: the one-row path settles it
                    later.append((organization, data))
                elif (organization.pk, data.customer_id) in holding:
                    inserting.append((organization, data))
                    created.append(
                        Subscription(
                            organization=organization,
                            stripe_subscription_id=data.id,
                            state_at=state_at,
                            synced_at=now,
                            read_until=now,
                            **_subscription_fields(data),
                        )
                    )
                continue
            verdict = _verdict(
                row, status=data.status, state_at=state_at, on_tie=_Verdict.REFETCH, read_started=started
            )
            if verdict is _Verdict.REFETCH:
                later.append((organization, data))
            elif verdict is _Verdict.APPLY:
                _state_set(row, data, state_at=state_at, read=True, now=now, read_until=now)
                row.updated_at = now  # bulk_update leaves auto_now fields alone
                changed.append(row)
        try:
            with transaction.atomic():
                Subscription.objects.bulk_create(created)
        except IntegrityError:  # a webhook created one meanwhile: each is ordered against it alone
            later += inserting
            created = []
        Subscription.objects.bulk_update(
            changed, fields=[*_FIELDS, "state_at", "synced_at", "read_until", "updated_at"]
        )
    logger.info(
        "billing.subscriptions_page_stored",
        extra={
            "listed": len(reads),
            "inserted": len(created),
            "updated": len(changed),
            "deferred": len(later),
        },
    )
    written = len(created) + len(changed)
    for organization, data in later:
        written += subscription_fetched_apply(organization=organization, data=data, started=started)
    return written


def _state_set(
    row: Subscription,
    data: stripe_gateway.StripeSubscription,
    *,
    state_at: datetime,
    read: bool,
    now: datetime,
    read_until: datetime | None,
) -> None:
    """Give the row the state it was judged to take (not saved)."""
    for name, value in _subscription_fields(data).items():
        setattr(row, name, value)
    # A read that left after the row's state is at least as new as it.
    row.state_at = max(state_at, row.state_at) if read else state_at
    row.synced_at = now
    row.read_until = read_until


def _store(organization: Organization | None, state: SubscriptionState, *, on_tie: _Verdict) -> _Verdict:
    """The one write of subscription state, under the row's lock. Returns APPLY when written,
    STALE when the row holds newer state (or the subscription is not ours), REFETCH (only
    with `on_tie` REFETCH) when Stripe must be asked. No Stripe call."""
    data, state_at = state.data, state.state_at
    now = timezone.now()
    read_until = now if state.read_started is not None else None
    with transaction.atomic():
        row = Subscription.objects.select_for_update().filter(stripe_subscription_id=data.id).first()
        if row is None:
            if organization is None:
                return _Verdict.STALE
            # A new row only while the organization still holds this customer, checked under
            # the organization's row lock: `customer_forget` takes it too, so a concurrent
            # deletion either ran first (no row: the customer is no longer ours) or waits for
            # this row and then cancels it. Unlocked, the deletion could commit in between and
            # miss the uncommitted row, leaving a live subscription without a customer.
            holds_customer = (
                Organization.objects.select_for_update()
                .filter(pk=organization.pk, stripe_customer_id=data.customer_id)
                .values_list("pk", flat=True)
                .first()
            )
            if holds_customer is None:
                return _Verdict.STALE
            try:
                with transaction.atomic():
                    Subscription.objects.create(
                        organization=organization,
                        stripe_subscription_id=data.id,
                        state_at=state_at,
                        synced_at=now,
                        read_until=read_until,
                        **_subscription_fields(data),
                    )
            except IntegrityError:  # created concurrently: it is ordered against that one
                row = Subscription.objects.select_for_update().get(stripe_subscription_id=data.id)
            else:
                logger.info(
                    "billing.subscription_created",
                    extra={
                        "organization_id": organization.pk,
                        "subscription_id": data.id,
                        "status": data.status,
                    },
                )
                return _Verdict.APPLY

        verdict = _verdict(
            row, status=data.status, state_at=state_at, on_tie=on_tie, read_started=state.read_started
        )
        log_fields = {
            "organization_id": row.organization_id,
            "subscription_id": data.id,
            "status": data.status,
            "state_at": state_at.isoformat(),
            "row_state_at": row.state_at.isoformat(),
            "read": state.read_started is not None,
        }
        if verdict is _Verdict.STALE:
            logger.info("billing.subscription_stale_state_ignored", extra=log_fields)
            return verdict
        if verdict is _Verdict.REFETCH:
            logger.info("billing.subscription_state_order_unknown", extra=log_fields)
            return verdict
        _state_set(
            row, data, state_at=state_at, read=state.read_started is not None, now=now, read_until=read_until
        )
        row.save()
    logger.info("billing.subscription_updated", extra=log_fields)
    return _Verdict.APPLY
