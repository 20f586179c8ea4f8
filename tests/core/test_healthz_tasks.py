"""GET /healthz reports the background queue: with no worker running, work waits (nothing is
lost) and the health check turns 503 once the oldest task has waited past TASKS_STALE_SECONDS."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from billing.models import WebhookEvent
from tests.billing.stripe_events import deliver, event

pytestmark = pytest.mark.django_db

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture
def no_worker(settings):
    """The production queue (a table of the database), and no worker to drain it."""
    settings.TASKS = DATABASE_QUEUE


def subscription_event(n: int) -> dict:
    return event("customer.subscription.updated", {"id": f"sub_{n}", "object": "subscription"})


def test_with_no_worker_the_queue_grows_and_turns_the_health_check_503(client, settings, no_worker):
    for n in range(1, 4):
        assert deliver(client, subscription_event(n)).json()["outcome"] == "queued"
        response = client.get("/healthz")
        assert response.status_code == 200, response.content  # younger than the default 300 s
        report = response.json()["tasks"]
        assert report["waiting"] == n, report
        assert 0 <= report["oldest_seconds"] < 60
    # Nothing was applied: the events wait, recorded, each with its task.
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"queued"}
    assert DBTaskResult.objects.filter(status="READY").count() == 3

    settings.TASKS_STALE_SECONDS = 1
    time.sleep(1.1)
    response = client.get("/healthz")

    assert response.status_code == 503, response.content
    body = response.json()
    assert body["checks"] == {"database": "ok", "cache": "ok", "tasks": "failed"}
    assert body["tasks"]["waiting"] == 3 and body["tasks"]["oldest_seconds"] > 1


def test_a_task_deferred_for_a_retry_is_not_waiting_before_its_time(client, settings, no_worker):
    settings.TASKS_STALE_SECONDS = 1
    deliver(client, subscription_event(1))
    DBTaskResult.objects.update(
        run_after=timezone.now() + timedelta(seconds=30), enqueued_at=timezone.now() - timedelta(hours=1)
    )

    response = client.get("/healthz")

    assert response.status_code == 200, response.content
    assert response.json()["tasks"] == {"waiting": 0, "oldest_seconds": None, "failed": 0}


def test_tasks_given_up_are_reported_but_cause_no_503(client, settings, no_worker):
    settings.TASKS_STALE_SECONDS = 1
    deliver(client, subscription_event(1))
    DBTaskResult.objects.update(status="FAILED", finished_at=timezone.now() - timedelta(hours=1))

    response = client.get("/healthz")

    assert response.status_code == 200, response.content
    assert response.json()["tasks"] == {"waiting": 0, "oldest_seconds": None, "failed": 1}
