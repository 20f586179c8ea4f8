"""The billing app's background tasks (run by `manage.py worker`; docs/background.md).

Each is idempotent by construction: it may run twice (a worker killed mid-task, a retry), and
the second run changes nothing. A failure on Stripe's side (5xx, 429, timeout, connection:
`BillingUnavailable`) is retried with backoff (`core.tasks.retry_later`); other failures are
given up at once and shown in the admin.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from django.db import OperationalError, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_tasks import task

from billing import stripe_gateway
from billing.errors import BillingError, BillingUnavailable
from billing.models import WebhookEvent
from billing.services.subscriptions import SubscriptionOrderUnknown
from core import tasks
from organizations.models import Organization

logger = logging.getLogger(__name__)

# Worth trying again: Stripe down or limiting us, or the database busy.
# Stripe or the database failing for now, or an event whose order kept changing under it: tried
# again later.
_TRANSIENT = (BillingUnavailable, OperationalError, SubscriptionOrderUnknown)


def _error_text(error: BaseException) -> str:
    """What the admin shows: the error's class and code or message, never a payload."""
    code = getattr(error, "error_code", "")
    return f"{type(error).__name__}: {code or error}"[:2000]


@task()
def webhook_event_apply(*, stripe_event_id: str, attempt: int = 0, first_failed_at: str = "") -> str:
    """Apply one recorded webhook event through `billing.webhooks.event_apply` (once in effect:
    the event's `processed_at` is set in the transaction of its change). Returns the outcome."""
    from billing import webhooks  # the webhook module enqueues this task

    record = WebhookEvent.objects.filter(stripe_event_id=stripe_event_id).first()
    if record is None or record.processed_at is not None:
        return str(webhooks.Outcome.DUPLICATE)
    try:
        event = stripe_gateway.event_from_dict(json.loads(record.body))
        outcome = webhooks.event_apply(event)
    except _TRANSIENT as e:
        failed = attempt + 1
        since = tasks.failing_since(first_failed_at)
        WebhookEvent.objects.filter(pk=record.pk, processed_at__isnull=True).update(
            status=WebhookEvent.Status.RETRYING,
            attempts=F("attempts") + 1,
            first_failed_at=Coalesce(F("first_failed_at"), since),
            last_error=_error_text(e),
        )
        try:
            tasks.retry_later(
                webhook_event_apply,
                kwargs={"stripe_event_id": stripe_event_id},
                attempt=failed,
                first_failed_at=since.isoformat(),
                error=e,
            )
        except BaseException:
            _give_up(record.pk)
            raise
        return "retrying"
    except BaseException as e:
        WebhookEvent.objects.filter(pk=record.pk, processed_at__isnull=True).update(
            attempts=F("attempts") + 1,
            first_failed_at=Coalesce(F("first_failed_at"), timezone.now()),
            last_error=_error_text(e),
        )
        _give_up(record.pk)
        raise
    return str(outcome)


def _give_up(pk: int) -> None:
    WebhookEvent.objects.filter(pk=pk, processed_at__isnull=True).update(status=WebhookEvent.Status.FAILED)
    logger.error("billing.webhook_given_up", extra={"webhook_event_pk": pk})


def webhook_event_enqueue(*, stripe_event_id: str) -> None:
    """Queue the event's application; with the queue in the database, the caller does it in
    the transaction that wrote the record (see `billing.webhooks.webhook_event_receive`)."""
    webhook_event_apply.enqueue(stripe_event_id=stripe_event_id)


def webhook_events_retry(*, events: list[WebhookEvent]) -> int:
    """Apply again the events given up (the admin's "retry", or Stripe delivering one again):
    their retries counted anew, their failed tasks replaced. Returns how many were queued."""
    from django_tasks_db.models import DBTaskResult

    queued = 0
    queue_in_database = tasks.in_database(webhook_event_apply)
    for record in events:
        with transaction.atomic():
            reset = WebhookEvent.objects.filter(
                pk=record.pk, status=WebhookEvent.Status.FAILED, processed_at__isnull=True
            ).update(status=WebhookEvent.Status.QUEUED, attempts=0, first_failed_at=None)
            if reset and queue_in_database:
                DBTaskResult.objects.filter(
                    task_path=webhook_event_apply.module_path,
                    status="FAILED",
                    args_kwargs__kwargs__stripe_event_id=record.stripe_event_id,
                ).delete()
                webhook_event_enqueue(stripe_event_id=record.stripe_event_id)
        if reset and not queue_in_database:
            webhook_event_enqueue(stripe_event_id=record.stripe_event_id)
        queued += reset
    return queued


def capabilities_refresh_enqueue(*, organization_id: int) -> None:
    """Queue a refresh of the organization's capabilities, unless one is queued and not started
    yet (it will read Stripe's state after this change anyway): a storm of changes to one
    organization costs one Stripe read, not one per change."""
    if tasks.in_database(capabilities_refresh):
        from django_tasks_db.models import DBTaskResult

        if DBTaskResult.objects.filter(
            task_path=capabilities_refresh.module_path,
            status="READY",
            args_kwargs__kwargs__organization_id=organization_id,
        ).exists():
            return
    capabilities_refresh.enqueue(organization_id=organization_id)


@task()
def capabilities_refresh(*, organization_id: int, attempt: int = 0, first_failed_at: str = "") -> bool:
    """Read the organization's entitlements from Stripe and store them (after a change of plan
    or status). Idempotent: a refresh stores Stripe's state of now, never older state."""
    from billing.services.capabilities import capabilities_refresh as refresh

    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return False
    try:
        return refresh(organization=organization)
    except BillingUnavailable as e:
        tasks.retry_later(
            capabilities_refresh,
            kwargs={"organization_id": organization_id},
            attempt=attempt + 1,
            first_failed_at=first_failed_at,
            error=e,
        )
        return False


@task()
def plans_refresh(*, attempt: int = 0, first_failed_at: str = "") -> int:
    """Read the plan list afresh from Stripe into the cache (after `product.*`/`price.*`), so
    that the next page or API request does not wait on Stripe for it. Returns how many plans."""
    from billing.services.plans import plans_list

    try:
        return len(plans_list())
    except BillingUnavailable as e:
        tasks.retry_later(
            plans_refresh, kwargs={}, attempt=attempt + 1, first_failed_at=first_failed_at, error=e
        )
        return 0
    except BillingError:
        logger.warning("billing.plans_refresh_failed", exc_info=True)
        return 0


@task()
def subscriptions_sync(*, attempt: int = 0, first_failed_at: str = "") -> dict[str, int]:
    """`sync_subscriptions` on the worker (the admin's "sync now"): every organization with a
    customer, read from Stripe in pages. It goes on with an unfinished run (a worker killed
    mid-way, a retry) from its checkpoint. The wrong-account guard holds as in the command: when
    every customer checked, or more than a tenth, is missing at Stripe, nothing is changed and
    the task is given up, its message in the admin; clearing them stays the command's
    `--clear-missing`, a decision for a person. Returns the run's counts."""
    from billing.services.sync import subscriptions_sync_all, sync_checkpoint_start

    checkpoint = sync_checkpoint_start(resume=True)
    try:
        subscriptions_sync_all(checkpoint=checkpoint, clear_missing=False)
    except BillingUnavailable as e:
        tasks.retry_later(
            subscriptions_sync, kwargs={}, attempt=attempt + 1, first_failed_at=first_failed_at, error=e
        )
    logger.info("billing.sync_task_finished", extra={"phase": checkpoint.phase, **checkpoint.counts})
    return {key: int(value) for key, value in checkpoint.counts.items()}


def seats_sync_enqueue(*, seat_change_id: int, run_after: datetime | None = None) -> None:
    """Queue the seat change's update for `run_after` (at once where the queue cannot defer,
    as the immediate backend of the tests). With the queue in the database, the caller does
    it in the transaction that wrote the row."""
    task = seats_sync
    if run_after is not None and task.get_backend().supports_defer:
        task = task.using(run_after=run_after)
    task.enqueue(seat_change_id=seat_change_id)


@task()
def seats_sync(*, seat_change_id: int, attempt: int = 0, first_failed_at: str = "") -> str:
    """Set a per-seat subscription's quantity at Stripe to the member count (one `SeatChange`
    row: `billing.services.seats`). Stripe failing: retried with backoff until it lands (given
    up after a day, the row then `failed` and shown in the admin). Idempotent: a second run of
    a settled row changes nothing."""
    from billing.services import seats

    try:
        outcome = seats.seats_apply(seat_change_id=seat_change_id)
    except _TRANSIENT as e:
        try:
            tasks.retry_later(
                seats_sync,
                kwargs={"seat_change_id": seat_change_id},
                attempt=attempt + 1,
                first_failed_at=first_failed_at,
                error=e,
            )
        except BaseException:
            seats.seats_give_up(seat_change_id=seat_change_id, error=_error_text(e))
            raise
        return "retrying"
    except BaseException as e:
        seats.seats_give_up(seat_change_id=seat_change_id, error=_error_text(e))
        raise
    if outcome == "other_in_flight" and seats_sync.get_backend().supports_defer:
        # Another update of the subscription is under way: this one follows it.
        seats_sync.using(run_after=timezone.now() + timedelta(seconds=5)).enqueue(
            seat_change_id=seat_change_id, attempt=attempt, first_failed_at=first_failed_at
        )
    return outcome
