"""The task queue's upkeep (core/tasks.py): retries with backoff capped at 30 s and given up
after 24 hours, and the tasks of a dead worker put back in the queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from billing import tasks as billing_tasks
from billing.errors import BillingUnavailable
from core import tasks
from core.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture(autouse=True)
def database_queue(settings):
    settings.TASKS = DATABASE_QUEUE


def test_backoff_doubles_up_to_30_seconds():
    ceilings = [tasks.backoff_seconds(n) for n in range(1, 9)]
    for n, seconds in enumerate(ceilings, start=1):
        ceiling = min(30.0, 2.0 ** (n - 1))
        assert 0.9 * ceiling <= seconds <= ceiling, (n, seconds)


def test_backoff_stays_at_30_seconds_however_many_attempts_failed():
    for attempt in (17, 1025, 3000):
        assert 27.0 <= tasks.backoff_seconds(attempt) <= 30.0


def test_a_retry_is_deferred_and_carries_when_it_first_failed():
    before = timezone.now()
    tasks.retry_later(
        billing_tasks.plans_refresh, kwargs={}, attempt=6, first_failed_at="", error=BillingUnavailable()
    )

    task = DBTaskResult.objects.get()
    assert task.status == "READY"
    assert before + timedelta(seconds=26) <= task.run_after <= timezone.now() + timedelta(seconds=30)
    kwargs = task.args_kwargs["kwargs"]
    assert kwargs["attempt"] == 6 and kwargs["first_failed_at"] >= before.isoformat()


def test_a_task_failing_for_over_24_hours_is_given_up():
    error = BillingUnavailable()
    since = (timezone.now() - timedelta(hours=24, minutes=1)).isoformat()

    with pytest.raises(BillingUnavailable):
        tasks.retry_later(
            billing_tasks.plans_refresh, kwargs={}, attempt=40, first_failed_at=since, error=error
        )
    assert not DBTaskResult.objects.exists()


def running(worker_id: str, started_ago: float) -> DBTaskResult:
    result = billing_tasks.plans_refresh.enqueue()
    DBTaskResult.objects.filter(pk=result.id).update(
        status="RUNNING", worker_ids=[worker_id], started_at=timezone.now() - timedelta(seconds=started_ago)
    )
    return DBTaskResult.objects.get(pk=result.id)


def test_the_task_of_a_worker_no_longer_seen_is_put_back_in_the_queue():
    now = timezone.now()
    tasks.heartbeat(worker_id="w-alive", started_at=now)
    tasks.heartbeat(worker_id="w-killed", started_at=now)
    WorkerHeartbeat.objects.filter(worker_id="w-killed").update(seen_at=now - timedelta(seconds=45))
    of_the_killed = running("w-killed", started_ago=50)
    of_the_living = running("w-alive", started_ago=50)  # a long task of a worker still beating
    just_claimed = running("w-new", started_ago=1)  # its worker's first beat may not be in yet

    assert tasks.lost_tasks_requeue(lost_after=30) == 1

    statuses = dict(DBTaskResult.objects.values_list("pk", "status"))
    assert statuses[of_the_killed.pk] == "READY"
    assert statuses[of_the_living.pk] == "RUNNING"
    assert statuses[just_claimed.pk] == "RUNNING"
    assert set(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == {"w-alive"}
    assert tasks.lost_tasks_requeue(lost_after=30) == 0  # once


def test_the_queue_report_counts_due_and_running_tasks_and_the_given_up():
    billing_tasks.plans_refresh.enqueue()
    billing_tasks.plans_refresh.using(run_after=timezone.now() + timedelta(minutes=1)).enqueue()  # not due
    running("w-x", started_ago=5)
    failed = billing_tasks.plans_refresh.enqueue()
    DBTaskResult.objects.filter(pk=failed.id).update(status="FAILED")
    DBTaskResult.objects.filter(status="RUNNING").update(enqueued_at=timezone.now() - timedelta(seconds=20))

    report = tasks.queue_report()

    assert report["waiting"] == 2 and report["failed"] == 1
    assert 19 <= report["oldest_seconds"] < 60
