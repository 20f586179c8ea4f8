"""The controls a sync at scale needs: a rate limit at N requests a second, and a bulk seed."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from typing import Any

import pytest
import stripe

from stripe_standin import StripeStandIn
from stripe_standin.control_catalogue import BULK_PRICES
from tests import figures


def control(standin: StripeStandIn, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"{standin.url}/_standin/{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def burst(standin: StripeStandIn, client: stripe.StripeClient, n: int) -> list[stripe.RateLimitError]:
    """`n` list calls within one second of the clock (the burst is redone if it straddled one)."""
    for _ in range(5):
        time.sleep(1 - time.time() % 1)  # start at the top of a second
        standin.reset()
        per_second = n - 5
        standin.add_fault("rate_limit", per_second=per_second, path_prefix="/v1/prices")
        refused: list[stripe.RateLimitError] = []
        for _ in range(n):
            try:
                client.v1.prices.list({"limit": 1})
            except stripe.RateLimitError as e:
                refused.append(e)
        seconds = {int(r.time) for r in standin.requests_to("GET", "/v1/prices")}
        if len(seconds) == 1:
            return refused
    pytest.fail("no burst fitted in one second")


def test_requests_past_the_rate_in_one_second_get_stripes_429(standin, client):
    refused = burst(standin, client, 15)  # 10 a second allowed

    assert len(refused) == 5
    for error in refused:
        assert error.http_status == 429
        assert error.headers is not None and error.headers["Stripe-Should-Retry"] == "false"
        assert isinstance(error.json_body, dict)
        assert error.json_body["error"] == {
            "message": "Too many requests hit the API too quickly. We recommend an exponential backoff of "
            "your requests.",
            "type": "invalid_request_error",
            "code": "rate_limit",
            "doc_url": "https://stripe.com/docs/error-codes/rate-limit",
        }
    statuses = [r.status for r in standin.requests_to("GET", "/v1/prices")]
    assert statuses == [200] * 10 + [429] * 5


def test_the_rate_starts_again_each_second_and_spares_other_paths(standin, client):
    standin.add_fault("rate_limit", per_second=1, path_prefix="/v1/prices")
    time.sleep(1 - time.time() % 1)
    client.v1.prices.list({"limit": 1})
    client.v1.products.list({"limit": 1})  # another path: not counted, not refused
    time.sleep(1 - time.time() % 1)
    client.v1.prices.list({"limit": 1})  # a new second

    assert [r.status for r in standin.requests] == [200, 200, 200]


def test_a_rate_limit_fault_is_set_over_http_and_needs_its_rate(standin):
    fault = control(standin, "faults", {"kind": "rate_limit", "per_second": 3})
    assert (fault["kind"], fault["per_second"]) == ("rate_limit", 3)
    with pytest.raises(ValueError, match="per_second"):
        standin.add_fault("rate_limit")


def test_a_bulk_seed_makes_customers_with_one_subscription_each_without_events(standin, client):
    started = time.perf_counter()
    ids = standin.seed_bulk(2_000)
    seconds = time.perf_counter() - started
    figures.record("stand-in bulk seed", customers=len(ids), seconds=seconds)

    assert len(ids) == len(set(ids)) == 2_000
    subscriptions = standin.subscriptions
    assert [s["customer"] for s in subscriptions] == ids
    statuses = Counter(s["status"] for s in subscriptions)
    assert statuses == {"active": 1_600, "past_due": 200, "trialing": 100, "canceled": 100}
    assert {s["items"]["data"][0]["price"]["id"] for s in subscriptions} == set(BULK_PRICES)
    assert standin.events("customer.*") == []  # no customer or subscription events
    assert standin.events("entitlements.active_entitlement_summary.*") == []
    # The API answers them as any other: listed, retrieved, changed with an event.
    listed = client.v1.subscriptions.list({"customer": ids[-1], "status": "all"})
    assert [s.id for s in listed.data] == [subscriptions[-1]["id"]]
    assert client.v1.customers.retrieve(ids[0]).email == "bulk1@example.com"
    standin.update_subscription(subscriptions[0]["id"], cancel_at_period_end=True)
    assert [e["type"] for e in standin.events("customer.subscription.*")] == ["customer.subscription.updated"]
    assert standin.events("entitlements.active_entitlement_summary.*") == []  # entitled already


def test_a_bulk_seed_over_http_returns_the_customer_ids_and_may_emit_events(standin):
    answer = control(standin, "seed_bulk", {"n": 3, "emit_events": True})

    assert len(answer["customers"]) == 3
    created = [e["data"]["object"]["id"] for e in standin.events("customer.created")]
    assert created == answer["customers"]
    assert len(standin.events("customer.subscription.created")) == 3


def test_a_bulk_seed_pages_through_every_subscription_in_order(standin, client):
    ids = standin.seed_bulk(250)
    made = [s["id"] for s in standin.subscriptions]

    listed = client.v1.subscriptions.list({"limit": 100, "status": "all"})
    paged = [s.id for s in listed.auto_paging_iter()]
    assert paged == made[::-1]  # one second: the later made first
    back = client.v1.subscriptions.list({"limit": 3, "status": "all", "ending_before": paged[10]})
    assert [s.id for s in back.data] == paged[7:10]
    # A subscription whose `created` changes takes its new place; a new one comes first.
    standin.update_subscription(made[0], created=int(time.time()) + 60)
    assert [s.id for s in client.v1.subscriptions.list({"limit": 1, "status": "all"}).data] == [made[0]]
    newest = standin.create_subscription(customer=ids[5], created=int(time.time()) + 120)
    first = client.v1.subscriptions.list({"limit": 2, "status": "all"})
    assert [s.id for s in first.data] == [newest["id"], made[0]]
    after = client.v1.subscriptions.list({"limit": 2, "status": "all", "starting_after": made[0]})
    assert [s.id for s in after.data] == paged[:2]
