"""Concurrent first requests for one organization create exactly one Stripe customer.

Runs against the real database of the leg (a SQLite file, or PostgreSQL), with each
request on its own thread and database connection, as under gunicorn's threaded workers.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from billing.models import PortalSession
from tests.conftest import access_token_for

CONCURRENT = 20


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_first_requests_create_one_customer(make_user, organization, stripe_standin):
    stripe_standin.set_latency(50)  # widen the race window: every request is in flight at once
    users = [
        make_user(role=("owner", "admin", "billing")[i % 3], organization=organization)
        for i in range(CONCURRENT)
    ]
    tokens = [access_token_for(user) for user in users]
    barrier = threading.Barrier(CONCURRENT)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def request(token: str) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        barrier.wait()
        try:
            response = client.post("/subscriptions/portal")
            with lock:
                results.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=request, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(results) == CONCURRENT
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * CONCURRENT, results
    assert all(body["success"] is True for _, body in results)

    organization.refresh_from_db()
    customers = stripe_standin.customers
    assert len(customers) == 1, customers
    assert organization.stripe_customer_id == customers[0]["id"]
    sessions = stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")
    assert {s.params["customer"] for s in sessions} == {organization.stripe_customer_id}
    assert PortalSession.objects.count() == CONCURRENT
