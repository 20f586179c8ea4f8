"""Webhook events on the task queue, in-process: recorded with their body and queued in the
request, applied once by the task however often it runs, and an event given up kept for the
admin, whose "retry" applies it. (The queue with a real worker process, its retries with
backoff and a worker killed mid-task: tests/reliability/test_task_queue.py.)"""

from __future__ import annotations

import json
import time

import pytest
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from billing import tasks
from billing.models import Subscription, WebhookEvent
from tests.admin_pages import assert_admin_pages_load
from tests.billing.stripe_events import deliver, event, give_customer, outcome_of

pytestmark = pytest.mark.django_db

T0 = int(time.time()) - 3600
DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture
def stripe_sub(organization, stripe_standin) -> dict:
    customer_id = give_customer(organization, stripe_standin)
    return stripe_standin.create_subscription(customer=customer_id, status="active", created=T0)


def test_a_delivery_is_recorded_with_its_body_and_its_task_in_one_commit(
    client, settings, stripe_sub, stripe_standin
):
    settings.TASKS = DATABASE_QUEUE  # no worker: what the request alone leaves behind
    evt = event("invoice.paid", {"id": "in_1", "object": "invoice", "customer": stripe_sub["customer"]})
    before = len(stripe_standin.requests)

    response = deliver(client, evt)

    assert response.json() == {"success": True, "outcome": "queued"}
    assert len(stripe_standin.requests) == before  # no Stripe call in the request
    record = WebhookEvent.objects.get()
    assert (record.stripe_event_id, record.status, record.processed_at) == (evt["id"], "queued", None)
    assert json.loads(record.body) == evt
    task = DBTaskResult.objects.get()
    assert (task.status, task.task_path) == ("READY", "billing.tasks.webhook_event_apply")
    assert task.args_kwargs == {"args": [], "kwargs": {"stripe_event_id": evt["id"]}}

    again = deliver(client, evt)  # Stripe delivers it again before the worker ran it

    assert again.json()["outcome"] == "duplicate"
    assert DBTaskResult.objects.count() == 1


def test_the_task_applies_an_event_once_however_often_it_runs(client, settings, stripe_sub):
    settings.TASKS = DATABASE_QUEUE
    evt = event("customer.subscription.created", {**stripe_sub, "status": "past_due"}, created=T0 + 5)
    deliver(client, evt)
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}

    # The first run applies it; a second (a worker killed after the commit, its task run again
    # by another) finds it processed.
    assert tasks.webhook_event_apply.call(stripe_event_id=evt["id"]) == "processed"
    assert tasks.webhook_event_apply.call(stripe_event_id=evt["id"]) == "duplicate"

    assert Subscription.objects.get().status == "past_due"
    record = WebhookEvent.objects.get()
    assert (record.status, record.attempts, record.last_error) == ("processed", 0, "")


def test_an_event_given_up_shows_in_the_admin_and_its_retry_applies_it(
    client, admin_client, stripe_sub, stripe_standin
):
    stripe_standin.add_fault("500", method="GET", path_prefix="/v1/subscriptions/")
    evt = event("invoice.paid", {"id": "in_1", "object": "invoice", "customer": stripe_sub["customer"]})
    evt["data"]["object"]["parent"] = {
        "type": "subscription_details",
        "subscription_details": {"subscription": stripe_sub["id"]},
    }
    stripe_standin.update_subscription(stripe_sub["id"], status="past_due")
    assert outcome_of(deliver(client, evt)) == "failed"  # the tests' queue gives up at once
    record = WebhookEvent.objects.get()
    assert record.status == "failed" and record.last_error == "BillingUnavailable: BILLING_UNAVAILABLE"

    changelist = admin_client.get(reverse("admin:billing_webhookevent_changelist"), {"status": "failed"})
    assert changelist.status_code == 200
    assert evt["id"] in changelist.content.decode()
    assert "BillingUnavailable: BILLING_UNAVAILABLE" in changelist.content.decode()

    stripe_standin.clear_faults()
    response = admin_client.post(
        reverse("admin:billing_webhookevent_changelist"),
        {"action": "retry", "_selected_action": [record.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "1 event(s) queued to be applied again." in response.content.decode()
    record.refresh_from_db()
    assert (record.status, record.last_error) == ("processed", "")
    assert record.processed_at is not None
    assert Subscription.objects.get().status == "past_due"


def test_the_retry_action_leaves_events_not_given_up_alone(client, admin_client, stripe_sub):
    evt = event("customer.subscription.created", stripe_sub, created=T0)
    assert outcome_of(deliver(client, evt)) == "processed"
    record = WebhookEvent.objects.get()

    response = admin_client.post(
        reverse("admin:billing_webhookevent_changelist"),
        {"action": "retry", "_selected_action": [record.pk]},
        follow=True,
    )

    assert "0 event(s) queued to be applied again." in response.content.decode()
    assert WebhookEvent.objects.get().status == "processed"


def test_task_results_and_workers_show_in_the_admin(client, settings, admin_client, stripe_sub, populated):
    from core import tasks as core_tasks

    settings.TASKS = DATABASE_QUEUE
    deliver(client, event("customer.subscription.created", stripe_sub, created=T0))
    core_tasks.heartbeat(worker_id="w-admin", started_at=timezone.now())

    assert_admin_pages_load(admin_client, "django_tasks_database", "dbtaskresult")
    assert_admin_pages_load(admin_client, "core", "workerheartbeat")


def test_a_retry_replaces_the_task_given_up(client, settings, stripe_sub):
    settings.TASKS = DATABASE_QUEUE
    evt = event("customer.subscription.created", stripe_sub, created=T0)
    deliver(client, evt)
    DBTaskResult.objects.update(status="FAILED")  # as a worker leaves a task it gave up
    WebhookEvent.objects.update(
        status="failed", attempts=7, last_error="BillingUnavailable: BILLING_UNAVAILABLE"
    )

    assert tasks.webhook_events_retry(events=list(WebhookEvent.objects.all())) == 1

    task = DBTaskResult.objects.get()  # the failed one deleted, a new one queued
    assert (task.status, task.args_kwargs["kwargs"]) == ("READY", {"stripe_event_id": evt["id"]})
    record = WebhookEvent.objects.get()
    assert (record.status, record.attempts) == ("queued", 0)


def test_changes_in_a_row_queue_one_capabilities_refresh(settings, organization):
    settings.TASKS = DATABASE_QUEUE
    for _ in range(3):
        tasks.capabilities_refresh_enqueue(organization_id=organization.pk)

    assert DBTaskResult.objects.filter(status="READY").count() == 1
    DBTaskResult.objects.update(status="RUNNING")  # started: it may have read Stripe already
    tasks.capabilities_refresh_enqueue(organization_id=organization.pk)
    assert DBTaskResult.objects.filter(status="READY").count() == 1


def test_two_runs_of_one_event_racing_apply_it_once(monkeypatch, stripe_sub):
    """A webhook task and a replay of the same event (`sync_subscriptions --since`), or a task
    run again while its first run is still going: both pass the "processed already?" check,
    and the claim in the transaction lets one apply it."""
    from billing import stripe_gateway, webhooks

    real = webhooks.HANDLERS["customer.subscription.updated"]
    applied: list[str] = []
    other_run: list[webhooks.Outcome] = []
    racing: list[bool] = []

    def counted(evt, prepared):
        applied.append(evt.id)
        return real.apply(evt, prepared)

    def prepare_while_another_run_applies_it(evt):
        prepared = real.prepare(evt)
        if not racing:
            racing.append(True)
            other_run.append(webhooks.event_apply(evt))  # the other run gets there first
        return prepared

    monkeypatch.setitem(
        webhooks.HANDLERS,
        "customer.subscription.updated",
        webhooks.Handler(prepare=prepare_while_another_run_applies_it, apply=counted, after=real.after),
    )
    evt = stripe_gateway.event_from_dict(
        event("customer.subscription.updated", {**stripe_sub, "status": "past_due"}, created=T0 + 5)
    )

    assert webhooks.event_apply(evt) == webhooks.Outcome.DUPLICATE
    assert other_run == [webhooks.Outcome.PROCESSED]
    assert applied == [evt.id]
    assert Subscription.objects.get().status == "past_due"
    assert WebhookEvent.objects.get().status == "processed"
