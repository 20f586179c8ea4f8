"""Webhook deliveries racing each other: each on its own thread and database connection,
as under gunicorn's threaded workers (a SQLite file, or PostgreSQL in CI's second leg)."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client

from billing.models import Subscription, WebhookEvent
from tests.billing.stripe_events import deliver, event, give_customer

pytestmark = pytest.mark.django_db(transaction=True)

CONCURRENT = 12
T0 = int(time.time()) - 3600


def race(payloads: list[dict]) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(len(payloads))
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def send(payload: dict) -> None:
        barrier.wait()
        try:
            response = deliver(Client(), payload)
            with lock:
                body = json.loads(response.content)
                if response.applied is not None:
                    body["applied"] = response.applied  # what the tests' queue made of it
                results.append((response.status_code, body))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == len(payloads)
    return results


def status_for(i: int) -> str:
    return ("active", "past_due", "unpaid")[i % 3]


@pytest.fixture
def stripe_sub(organization, stripe_standin) -> dict:
    customer_id = give_customer(organization, stripe_standin)
    return stripe_standin.create_subscription(customer=customer_id, status="active", created=T0)


def test_the_same_event_delivered_concurrently_is_processed_once(stripe_sub):
    evt = event("customer.subscription.created", stripe_sub, created=T0)

    results = race([evt] * CONCURRENT)

    assert all(status == 200 for status, _ in results), results
    outcomes = Counter(body["outcome"] for _, body in results)
    assert outcomes == {"queued": 1, "duplicate": CONCURRENT - 1}, outcomes
    assert [body["applied"] for _, body in results if "applied" in body] == ["processed"], results
    assert WebhookEvent.objects.count() == 1
    assert Subscription.objects.count() == 1


def test_states_racing_in_any_order_leave_the_newest(stripe_sub):
    events = [
        event(
            "customer.subscription.updated",
            {**stripe_sub, "status": status_for(i), "metadata": {"n": str(i)}},
            created=T0 + i,
        )
        for i in range(1, CONCURRENT + 1)
    ]
    random.shuffle(events)

    results = race(events)

    assert all(status == 200 for status, _ in results), results
    row = Subscription.objects.get()
    assert row.state_at == datetime.fromtimestamp(T0 + CONCURRENT, tz=UTC)
    assert row.status == status_for(CONCURRENT)
    assert WebhookEvent.objects.count() == CONCURRENT
