"""Pulling subscription state from Stripe: the sync command, and the refresh after a portal visit."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef
from django.utils import timezone

from billing import stripe_gateway
from billing.capabilities import access_statuses
from billing.errors import BillingError, CustomerMissing, ProductMissing, SubscriptionMissing
from billing.models import (
    CheckoutSession,
    PortalSession,
    Subscription,
    SyncCheckpoint,
    SyncCustomerSeen,
)
from billing.services.capabilities import capabilities_store_many, capability_items
from billing.services.checkout import checkout_session_store
from billing.services.subscriptions import (
    fetch_state_at,
    subscription_fetched_apply,
    subscriptions_fetched_apply,
)
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


# ---- The sync command at scale: Stripe read in pages, a checkpoint after each -----------------
#
# One run lists, 100 objects a call: the account's customers (which of ours Stripe no longer
# has: the wrong-account guard), every subscription (matched to organizations by customer id),
# the open Checkout sessions, and the features of each product that grants access (once per
# product). 3,000 organizations cost about 2 x 30 calls plus a few, not 9,000. After each page
# its cursor and counts are stored (`SyncCheckpoint`): an interrupted run resumes from the page
# after the last one stored.

# Past this share of customers missing at Stripe, the key is more likely wrong (another
# account's, or the other mode's) than that many customers deleted at once: nothing is cleared.
MISSING_SHARE_LIMIT = 0.1

# Organizations whose capabilities are written per checkpoint.
_CAPABILITIES_BATCH = 100

Progress = Callable[[SyncCheckpoint], None]
ShouldStop = Callable[[], bool]


class SyncStopped(Exception):
    """The run was asked to stop (SIGINT); it stopped between pages, the checkpoint holds where."""


class SyncKeySuspect(Exception):
    """Too many of our customers are missing at Stripe: the key is likely for the wrong account."""

    def __init__(self, *, missing: int, checked: int) -> None:
        super().__init__(f"Stripe does not know {missing} of the {checked} customers checked")
        self.missing = missing
        self.checked = checked


@dataclass(frozen=True)
class SyncNotice:
    """Something an operator should read about one organization (a customer cleared)."""

    organization: Organization
    message: str


def _synced_organizations() -> Any:
    return Organization.objects.filter(is_active=True, stripe_customer_id__isnull=False)


def _missing_organizations() -> Any:
    """Organizations whose customer Stripe did not list in this run."""
    seen = SyncCustomerSeen.objects.filter(customer_id=OuterRef("stripe_customer_id"))
    return _synced_organizations().exclude(Exists(seen)).order_by("pk")


def sync_checkpoint_start(*, resume: bool) -> SyncCheckpoint:
    """The run to do: with `resume`, the latest one if it did not finish; else a fresh one (and
    then the customers seen by an earlier run are forgotten)."""
    if resume:
        latest = SyncCheckpoint.objects.first()
        if latest is not None and latest.finished_at is None:
            return latest
    SyncCustomerSeen.objects.all().delete()
    now = timezone.now()
    return SyncCheckpoint.objects.create(
        started_at=now,
        phase_started_at=now,
        counts={"organizations": _synced_organizations().count()},
    )


def _count(checkpoint: SyncCheckpoint, name: str, n: int = 1) -> None:
    checkpoint.counts[name] = checkpoint.counts.get(name, 0) + n


def _next_phase(checkpoint: SyncCheckpoint, phase: str) -> None:
    checkpoint.phase = phase
    checkpoint.cursor = ""
    checkpoint.phase_started_at = timezone.now()
    checkpoint.save()


def _pages(
    checkpoint: SyncCheckpoint,
    fetch: Callable[..., stripe_gateway.StripePage[Any]],
    store: Callable[[list[Any]], None],
    *,
    progress: Progress,
    should_stop: ShouldStop,
) -> None:
    """List from the checkpoint's cursor to the end, one page a call: store each page, then the
    cursor of the next (a page is listed again only if the run stopped while it was in flight)."""
    while True:
        if should_stop():
            raise SyncStopped()
        page = fetch(starting_after=checkpoint.cursor or None)
        _count(checkpoint, "calls")
        store(page.items)
        if page.last_id:
            checkpoint.cursor = page.last_id
        checkpoint.save(update_fields=["cursor", "counts", "updated_at"])
        progress(checkpoint)
        if not page.has_more or not page.last_id:
            return


def _guard(checkpoint: SyncCheckpoint, *, clear_missing: bool) -> None:
    """The wrong-account guard: when every customer checked, or more than a tenth, is missing at
    Stripe, nothing is changed (unless the operator says the key is right)."""
    checked = checkpoint.counts.get("organizations", 0)
    missing = _missing_organizations().count()
    checkpoint.counts["missing"] = missing
    if missing and not clear_missing and (missing == checked or missing > MISSING_SHARE_LIMIT * checked):
        raise SyncKeySuspect(missing=missing, checked=checked)


def _customers_phase(checkpoint: SyncCheckpoint, *, progress: Progress, should_stop: ShouldStop) -> None:
    ours = set(_synced_organizations().values_list("stripe_customer_id", flat=True))

    def store(customer_ids: list[str]) -> None:
        _count(checkpoint, "customers_listed", len(customer_ids))
        SyncCustomerSeen.objects.bulk_create(
            [SyncCustomerSeen(customer_id=c) for c in customer_ids if c in ours], ignore_conflicts=True
        )

    _pages(checkpoint, stripe_gateway.customer_page, store, progress=progress, should_stop=should_stop)


def _subscriptions_phase(checkpoint: SyncCheckpoint, *, progress: Progress, should_stop: ShouldStop) -> None:
    by_customer = {o.stripe_customer_id: o for o in _synced_organizations()}
    started = timezone.now()

    def fetch(*, starting_after: str | None) -> stripe_gateway.StripePage[stripe_gateway.StripeSubscription]:
        nonlocal started
        started = timezone.now()  # each page is a read that left now
        return stripe_gateway.subscription_page(starting_after=starting_after)

    def store(subscriptions: list[stripe_gateway.StripeSubscription]) -> None:
        # Not ours (or an inactive organization's) when the customer matches no organization.
        reads = [(by_customer[d.customer_id], d) for d in subscriptions if d.customer_id in by_customer]
        _count(checkpoint, "subscriptions", len(reads))
        # The one ordering rule: a read wins over older state, never over a newer webhook's.
        _count(checkpoint, "subscriptions_written", subscriptions_fetched_apply(reads=reads, started=started))

    _pages(checkpoint, fetch, store, progress=progress, should_stop=should_stop)
    # The portal sessions this run's listing covers no longer call for a refresh.
    PortalSession.objects.filter(
        organization__in=_synced_organizations(),
        subscriptions_synced_at__isnull=True,
        created_at__lte=checkpoint.phase_started_at,
    ).update(subscriptions_synced_at=timezone.now())


def _checkout_rows() -> Any:
    """The unsettled Checkout sessions Stripe has answered, of organizations the run covers and
    whose customer Stripe still has."""
    return (
        CheckoutSession.objects.filter(
            status__in=CheckoutSession.UNSETTLED_STATUSES,
            organization__in=_synced_organizations().exclude(pk__in=_missing_organizations().values("pk")),
        )
        .exclude(stripe_session_id__isnull=True)
        .exclude(stripe_session_id="")
        .select_related("organization")
    )


def _checkout_phase(checkpoint: SyncCheckpoint, *, progress: Progress, should_stop: ShouldStop) -> None:
    """Open sessions come with the list; a local one Stripe no longer lists as open has settled
    (completed or expired) and is asked for by its id: a completed one's subscription is
    recorded. Those are the sessions whose webhooks were missed: few, not one per organization.
    A session stored from the list during this phase is recognised by its `updated_at`, so a
    resumed run needs no list of the ids seen."""

    def store(sessions: list[stripe_gateway.StripeCheckoutSession]) -> None:
        rows = {
            r.stripe_session_id: r
            for r in _checkout_rows().filter(stripe_session_id__in=[s.id for s in sessions])
        }
        for session in sessions:
            if (row := rows.get(session.id)) is not None:
                checkout_session_store(row=row, session=session)

    _pages(
        checkpoint,
        stripe_gateway.checkout_session_open_page,
        store,
        progress=progress,
        should_stop=should_stop,
    )
    for row in _checkout_rows().filter(updated_at__lt=checkpoint.phase_started_at).order_by("pk"):
        if should_stop():
            raise SyncStopped()
        before = row.status
        session = stripe_gateway.checkout_session_retrieve(session_id=row.stripe_session_id or "", sync=True)
        _count(checkpoint, "calls")
        checkout_session_store(row=row, session=session)
        if row.status != before:
            _count(checkpoint, "checkout_settled")
    checkpoint.save(update_fields=["counts", "updated_at"])


def _capabilities_phase(checkpoint: SyncCheckpoint, *, progress: Progress, should_stop: ShouldStop) -> None:
    """Each organization's capabilities, from its subscriptions as just stored.

    For an organization whose subscriptions grant access, they are the features of their
    products (each product's features read once in the run, through the one mapping,
    `billing.features`); otherwise none. Stripe's active entitlements, which the summary
    webhook and `capabilities_refresh` store, can differ: with several subscriptions or items
    this takes the union of their products' features (Stripe too, but with its own rules for
    a quota granted twice), and an entitlement Stripe grants otherwise than through a product
    (by hand, or a product's feature attached after the subscription was read) is not seen
    here. The next summary webhook stores Stripe's own, newer, set.

    The state time is a fetch's, at the run's start (the earliest read this rests on): a
    summary webhook stored since wins over it.
    """
    features: dict[str, list[dict[str, Any]]] = {}
    state_at = fetch_state_at(checkpoint.started_at)
    statuses = access_statuses()
    missing = _missing_organizations().values("pk")

    def items_of(product: str) -> list[dict[str, Any]]:
        if product not in features:
            _count(checkpoint, "calls")
            try:
                found = stripe_gateway.product_feature_list(product_id=product, sync=True)
            except ProductMissing:
                logger.warning("billing.sync_product_unknown", extra={"product": product})
                found = []  # a product Stripe does not know grants nothing
            features[product] = capability_items(found)
        return features[product]

    while True:
        if should_stop():
            raise SyncStopped()
        after = int(checkpoint.cursor or 0)
        batch = list(
            _synced_organizations()
            .exclude(pk__in=missing)
            .filter(pk__gt=after)
            .order_by("pk")[:_CAPABILITIES_BATCH]
        )
        if not batch:
            return
        products: dict[int, list[str]] = {}
        for organization_id, product in (
            Subscription.objects.filter(organization__in=batch, status__in=statuses)
            .order_by("organization_id", "-stripe_created", "pk")
            .values_list("organization_id", "product")
        ):
            if product and product not in products.setdefault(organization_id, []):
                products[organization_id].append(product)
        items = {o: _union(items_of(p) for p in products.get(o.pk, [])) for o in batch}
        _count(
            checkpoint, "capabilities_written", len(capabilities_store_many(items=items, state_at=state_at))
        )
        _count(checkpoint, "capabilities_done", len(batch))
        checkpoint.cursor = str(batch[-1].pk)
        checkpoint.save(update_fields=["cursor", "counts", "updated_at"])
        progress(checkpoint)


def _union(item_lists: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The features of several products, each feature once."""
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item_list in item_lists:
        for item in item_list:
            if item["feature_id"] not in seen:
                seen.add(item["feature_id"])
                items.append(item)
    return items


def _clear_phase(checkpoint: SyncCheckpoint, notices: list[SyncNotice]) -> None:
    """Clear the customers Stripe no longer has (the guard let it). Their subscriptions were
    listed with the rest (Stripe lists a deleted customer's, canceled); `customer_missing_settle`
    asks only for the live ones the list did not include."""
    for organization in _missing_organizations():
        customer_id = organization.stripe_customer_id or ""
        customer_missing_settle(organization=organization, customer_id=customer_id)
        _count(checkpoint, "cleared")
        checkpoint.save(update_fields=["counts", "updated_at"])
        notices.append(
            SyncNotice(organization, f"the customer {customer_id} no longer exists in Stripe: cleared")
        )


def subscriptions_sync_all(
    *,
    checkpoint: SyncCheckpoint,
    clear_missing: bool = False,
    progress: Progress = lambda checkpoint: None,
    should_stop: ShouldStop = lambda: False,
) -> list[SyncNotice]:
    """Run (or go on with) the sync of every active organization with a customer, from the
    checkpoint's phase and cursor, storing it after each page. Raises `SyncStopped` when
    `should_stop` says so between pages, `SyncKeySuspect` when the wrong-account guard holds
    (before anything is changed), and billing errors when Stripe fails for good (the checkpoint
    then holds the last page stored). Stripe's 429 is waited out (`sync_call`)."""
    notices: list[SyncNotice] = []
    Phase = SyncCheckpoint.Phase
    if checkpoint.counts.get("organizations", 0) == 0:
        _next_phase(checkpoint, Phase.DONE)  # nothing to ask Stripe about
    progress(checkpoint)
    if checkpoint.phase == Phase.CUSTOMERS:
        _customers_phase(checkpoint, progress=progress, should_stop=should_stop)
        _next_phase(checkpoint, Phase.SUBSCRIPTIONS)  # a run the guard stops resumes here
    if checkpoint.phase != Phase.DONE:
        _guard(checkpoint, clear_missing=clear_missing)  # before anything is changed
    if checkpoint.phase == Phase.SUBSCRIPTIONS:
        _subscriptions_phase(checkpoint, progress=progress, should_stop=should_stop)
        _next_phase(checkpoint, Phase.CHECKOUT)
    if checkpoint.phase == Phase.CHECKOUT:
        _checkout_phase(checkpoint, progress=progress, should_stop=should_stop)
        _next_phase(checkpoint, Phase.CAPABILITIES)
    if checkpoint.phase == Phase.CAPABILITIES:
        _capabilities_phase(checkpoint, progress=progress, should_stop=should_stop)
        _next_phase(checkpoint, Phase.CLEAR)
    if checkpoint.phase == Phase.CLEAR:
        _clear_phase(checkpoint, notices)
        _next_phase(checkpoint, Phase.DONE)
    if checkpoint.finished_at is None:
        checkpoint.finished_at = timezone.now()
        checkpoint.save(update_fields=["finished_at", "updated_at"])
        SyncCustomerSeen.objects.all().delete()
    progress(checkpoint)
    return notices
