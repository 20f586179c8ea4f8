"""Concurrent buys for one organization: at most one live subscription and one open Checkout
session, whatever the interleaving. Each request on its own thread and database connection."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from billing.models import CheckoutSession, Subscription
from tests.billing.plans_helpers import FREE_MONTHLY, PRO_YEARLY, STARTER_MONTHLY, buy


def run_concurrently(users, prices):
    barrier = threading.Barrier(len(users))
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def request(user, price) -> None:
        barrier.wait()
        try:
            response = buy(user, price)
            with lock:
                results.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=request, args=pair) for pair in zip(users, prices, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == len(users)
    return results


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_buys_of_two_periods_leave_one_open_session(
    make_user, organization, stripe_standin
):
    stripe_standin.seed_demo_catalogue()
    stripe_standin.set_latency(20)  # every request in flight at once
    users = [
        make_user(role=("owner", "admin", "billing")[i % 3], organization=organization) for i in range(20)
    ]
    prices = [(STARTER_MONTHLY, PRO_YEARLY)[i % 2] for i in range(20)]
    results = run_concurrently(users, prices)
    assert {status for status, _ in results} == {200}, results
    open_sessions = [s for s in stripe_standin.checkout_sessions if s["status"] == "open"]
    assert len(open_sessions) == 1, open_sessions
    assert CheckoutSession.objects.filter(status="open").count() == 1
    assert CheckoutSession.objects.get(status="open").stripe_session_id == open_sessions[0]["id"]
    assert CheckoutSession.objects.filter(status="creating").count() == 0
    assert stripe_standin.subscriptions == []
    assert len(stripe_standin.customers) == 1


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_free_buys_make_one_subscription(make_user, organization, stripe_standin):
    stripe_standin.seed_demo_catalogue()
    stripe_standin.set_latency(20)
    users = [make_user(role="owner", organization=organization) for _ in range(10)]
    results = run_concurrently(users, [FREE_MONTHLY] * 10)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * 9, results
    assert len(stripe_standin.subscriptions) == 1
    assert Subscription.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_free_and_a_paid_plan_at_once_leave_at_most_one_live_subscription(
    make_user, organization, stripe_standin
):
    stripe_standin.seed_demo_catalogue()
    stripe_standin.set_latency(20)
    users = [make_user(role="owner", organization=organization) for _ in range(10)]
    run_concurrently(users, [(FREE_MONTHLY, STARTER_MONTHLY)[i % 2] for i in range(10)])
    live = [s for s in stripe_standin.subscriptions if s["status"] not in ("canceled", "incomplete_expired")]
    open_sessions = [s for s in stripe_standin.checkout_sessions if s["status"] == "open"]
    assert len(live) <= 1
    assert len(open_sessions) <= 1
    assert len(live) + len(open_sessions) >= 1
    if live:  # once subscribed, a paid buy is a change (the portal), never a Checkout left open
        assert CheckoutSession.objects.filter(status="open").count() == len(open_sessions)
