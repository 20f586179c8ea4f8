"""Concurrent first requests for one organization create exactly one Stripe customer.

Runs against the real database of the leg (a SQLite file, or PostgreSQL), with each
request on its own thread and database connection, as under gunicorn's threaded workers.

Written against behaviour, not against how `customer_ensure` serializes (a row lock, a
lease, a claim): Stripe is slow to create the customer (longer than the client's timeout
would allow a retry to catch up), and every racer must still get its portal session, with
one `customers.create` executed at Stripe (idempotent replays aside) and its id stored.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from billing.models import PortalSession
from tests.conftest import access_token_for

CONCURRENT = 20
CUSTOMER_CREATION_MS = 400  # every racer arrives while the first customer is being created


def race_first_portal_requests(tokens: list[str]) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(len(tokens))
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
    return results


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_first_requests_create_one_customer(make_user, organization, stripe_standin):
    stripe_standin.set_latency(20)  # every request to Stripe takes a moment
    # The first customers.create is slow; answers to the racers' own Stripe calls are not, so
    # an SDK retry alone (no back-off in the test process) never outlasts the first creation.
    stripe_standin.add_fault(
        "latency", method="POST", path_prefix="/v1/customers", latency_ms=CUSTOMER_CREATION_MS, times=1
    )
    users = [
        make_user(role=("owner", "admin", "billing")[i % 3], organization=organization)
        for i in range(CONCURRENT)
    ]

    results = race_first_portal_requests([access_token_for(user) for user in users])

    assert len(results) == CONCURRENT
    assert [status for status, _ in results] == [200] * CONCURRENT, results
    assert all(body["success"] is True and body["url"] for _, body in results), results
    urls = [body["url"] for _, body in results]
    assert len(set(urls)) == CONCURRENT  # a portal session each

    # One customer at Stripe, created once, and that is the one stored.
    customers = stripe_standin.customers
    assert len(customers) == 1, [c["id"] for c in customers]
    (customer,) = customers
    executed = [
        r for r in stripe_standin.requests_to("POST", "/v1/customers") if r.status == 200 and not r.replayed
    ]
    assert len(executed) == 1, [(r.status, r.replayed, r.headers.get("idempotency-key")) for r in executed]
    organization.refresh_from_db()
    assert organization.stripe_customer_id == customer["id"]

    sessions = stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")
    assert [s.status for s in sessions] == [200] * CONCURRENT
    assert {s.params["customer"] for s in sessions} == {customer["id"]}
    assert PortalSession.objects.count() == CONCURRENT
    assert set(PortalSession.objects.values_list("user_id", flat=True)) == {user.pk for user in users}
