"""Background work: Django's tasks interface (django-tasks, the backport of Django 6's
`django.tasks`) on its database backend (django-tasks-db). See docs/background.md.

What the library gives, and what this module adds to it:

- The library runs a task at least once only while its worker lives: a worker killed mid-task
  leaves the task's row RUNNING forever. Each `manage.py worker` here keeps a heartbeat row
  (`WorkerHeartbeat`), and every worker puts back in the queue the tasks left running by a
  worker whose heartbeat stopped (`lost_tasks_requeue`). Tasks must therefore be idempotent:
  one may run twice (the webhook's event record makes its effect happen once).
- The library has no retries: a task that fails on Stripe's side enqueues itself again with a
  backoff (`retry_later`), capped at `RETRY_CAP_SECONDS`, and gives up (raises, so its result
  is FAILED and shown in the admin) once it has kept failing for `GIVE_UP_AFTER`.
"""

from __future__ import annotations

import logging
import os
import random
import socket
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Case, Count, F, Min, Q, When
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_tasks.base import Task, TaskResultStatus
from django_tasks_db import DatabaseBackend
from django_tasks_db.models import DBTaskResult, get_date_max

from core.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

RETRY_CAP_SECONDS = 30.0
GIVE_UP_AFTER = timedelta(hours=24)
HEARTBEAT_SECONDS = 5.0
# A worker not seen for this long is taken for dead and its running task is run again: long
# enough that a worker busy on one slow Stripe call (it beats from a thread of its own) is
# never mistaken for one, short enough that the task runs again within a minute.
LOST_AFTER_SECONDS = 30.0
# Finished results are kept this long (the admin shows them), then pruned by the workers.
KEEP_FINISHED = timedelta(days=7)


def in_database(task: Task[Any, Any]) -> bool:
    """Whether the task's queue is a table of the app's database (enqueueing then joins the
    caller's transaction: the task exists if and only if the caller's writes commit)."""
    return isinstance(task.get_backend(), DatabaseBackend)


def backoff_seconds(attempt: int) -> float:
    """1, 2, 4, 8, 16, then 30 s, each less up to a tenth at random (retries of a storm spread)."""
    # The exponent is bounded: a task failing every 30 s for a day reaches attempt ~2,900, and
    # 2.0 ** 1024 overflows a float.
    base = min(RETRY_CAP_SECONDS, 2.0 ** min(max(0, attempt - 1), 16))
    return base * (1 - random.random() / 10)  # noqa: S311 - jitter, not a secret


def failing_since(first_failed_at: str) -> datetime:
    parsed = parse_datetime(first_failed_at) if first_failed_at else None
    return parsed or timezone.now()


def retry_later(
    task: Task[Any, Any], *, kwargs: dict[str, Any], attempt: int, first_failed_at: str, error: Exception
) -> str:
    """Enqueue the task again after a backoff (`attempt`: how many tries failed, this one included),
    carrying when it first failed; past `GIVE_UP_AFTER`, or on a backend that cannot defer,
    raise `error`: the task is given up (FAILED, shown in the admin). Returns the new task's
    result id."""
    now = timezone.now()
    since = failing_since(first_failed_at)
    if now - since > GIVE_UP_AFTER or not task.get_backend().supports_defer:
        raise error
    run_after = now + timedelta(seconds=backoff_seconds(attempt))
    result = task.using(run_after=run_after).enqueue(
        **kwargs, attempt=attempt, first_failed_at=since.isoformat()
    )
    logger.warning(
        "tasks.retry_scheduled",
        extra={"task": task.name, "attempt": attempt, "error": type(error).__name__},
    )
    return str(result.id)


# --- The queue's state: /healthz and the admin ------------------------------------------------


def _waiting() -> Any:
    """Tasks due (ready, their time come) or running."""
    now = timezone.now()
    due = Q(status=TaskResultStatus.READY) & (Q(run_after=get_date_max()) | Q(run_after__lte=now))
    return DBTaskResult.objects.filter(due | Q(status=TaskResultStatus.RUNNING))


def queue_report() -> dict[str, Any]:
    """`{"waiting", "oldest_seconds", "failed"}`: tasks due or running, how long the oldest of
    them has been due (None when none is), and tasks given up. Two queries."""
    # A deferred task is due from its `run_after`, any other from its enqueueing.
    due_since = Case(When(run_after=get_date_max(), then=F("enqueued_at")), default=F("run_after"))
    agg = _waiting().aggregate(waiting=Count("id"), oldest=Min(due_since))
    oldest = agg["oldest"]
    oldest_seconds = None if oldest is None else max(0.0, (timezone.now() - oldest).total_seconds())
    failed = DBTaskResult.objects.filter(status=TaskResultStatus.FAILED).count()
    return {"waiting": agg["waiting"], "oldest_seconds": oldest_seconds, "failed": failed}


# --- Workers: heartbeats, lost tasks, pruning ----------------------------------------------------


def heartbeat(*, worker_id: str, started_at: datetime) -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={"seen_at": now},
        create_defaults={
            "seen_at": now,
            "started_at": started_at,
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
        },
    )


def heartbeat_stop(*, worker_id: str) -> None:
    WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()


def lost_tasks_requeue(*, lost_after: float = LOST_AFTER_SECONDS) -> int:
    """Put back in the queue the tasks running on a worker not seen for `lost_after` seconds
    (killed, or its host lost), and forget that worker. Returns how many were put back.

    The update is conditional on the row still being RUNNING on the same workers, so two
    workers sweeping at once put a task back once, and a task that finished meanwhile stays
    finished."""
    cutoff = timezone.now() - timedelta(seconds=lost_after)
    alive = set(WorkerHeartbeat.objects.filter(seen_at__gte=cutoff).values_list("worker_id", flat=True))
    requeued = 0
    running = DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING, started_at__lt=cutoff)
    for pk, worker_ids in running.values_list("id", "worker_ids"):
        if worker_ids and worker_ids[-1] in alive:
            continue
        requeued += DBTaskResult.objects.filter(pk=pk, status=TaskResultStatus.RUNNING).update(
            status=TaskResultStatus.READY, started_at=None
        )
        logger.warning("tasks.lost_task_requeued", extra={"task_result_id": str(pk)})
    WorkerHeartbeat.objects.filter(seen_at__lt=cutoff).delete()
    return requeued


def finished_prune() -> int:
    """Delete successful results older than `KEEP_FINISHED` (failed ones stay for the admin)."""
    cutoff = timezone.now() - KEEP_FINISHED
    deleted, _ = DBTaskResult.objects.filter(
        status=TaskResultStatus.SUCCESSFUL, finished_at__lt=cutoff
    ).delete()
    return deleted


def failed_retry(results: Any) -> int:
    """Enqueue afresh each given-up task of `results` (its first try again, its retries counted
    anew) and delete its failed result. Returns how many."""
    retried = 0
    for result in results.filter(status=TaskResultStatus.FAILED):
        kwargs = dict(result.args_kwargs.get("kwargs") or {})
        kwargs.pop("attempt", None)
        kwargs.pop("first_failed_at", None)
        with transaction.atomic():
            result.task.using(run_after=None).enqueue(*result.args_kwargs.get("args") or [], **kwargs)
            result.delete()
        retried += 1
    return retried
