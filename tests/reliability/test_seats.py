"""Seats with real processes: gunicorn takes the member changes, `manage.py worker` carries them to
the Stripe stand-in (a process of its own), on the embedded SQLite file (or this leg's PostgreSQL),
with a window of `BILLING_SEAT_SYNC_SECONDS` = 3.

What must hold: an accepted invitation and a removal each bring the quantity at Stripe to the member
count within the window plus 10 s; five changes in one window make at most two updates; with Stripe
failing for a while during a change, the quantity is right within a minute of its recovery.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import figures
from tests.reliability import infra
from tests.reliability.test_webhooks import envelope, sign

pytestmark = pytest.mark.reliability

WINDOW = 3
PASSWORD = "seats-pass-phrase-1"
PRICE = "price_rel_team_monthly"
LINK = re.compile(r"/invitations/([A-Za-z0-9_\-]{40,})/")


@dataclass
class Seats:
    env: dict[str, str]
    server: infra.AppServer
    worker: infra.WorkerProcess
    standin: infra.StandinProcess


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory, standin_process: infra.StandinProcess, log_dir: Path
) -> Iterator[Seats]:
    tmp = tmp_path_factory.mktemp("seats")
    standin_process.post("/_standin/products", {"name": "Team", "id": "prod_rel_team"})
    standin_process.post(
        "/_standin/prices",
        {"product": "prod_rel_team", "unit_amount": 900, "id": PRICE, "metadata": {"per_seat": "true"}},
    )
    with infra.app_database(tmp) as database_url:
        env = infra.app_env(
            database_url=database_url,
            stripe_api_base=standin_process.url,
            cache_dir=tmp / "cache",
            BILLING_SEAT_SYNC_SECONDS=str(WINDOW),
        )
        infra.manage(env, "-m", "tests.reliability.appdb", "migrate")
        server = infra.AppServer(env, log_dir, name="seats")
        worker = infra.WorkerProcess(env, log_dir, name="worker-seats")
        try:
            yield Seats(env, server, worker, standin_process)
        finally:
            assert worker.stop() == 0
            server.stop()


def team(app: Seats, tag: str, members: int) -> dict[str, Any]:
    """An organization of `members` (its owner first) on the per-seat plan at that quantity, the
    subscription recorded by the app (its webhook, applied by the worker)."""
    customer = app.standin.post("/_standin/customers", {"name": f"Seats {tag}"})
    subscription = app.standin.post(
        "/_standin/subscriptions",
        {"customer": customer["id"], "price_id": PRICE, "product": "prod_rel_team", "quantity": members},
    )
    assert subscription["items"]["data"][0]["price"]["metadata"] == {"per_seat": "true"}, subscription
    users = [{"email": f"owner-{tag}@example.com", "role": "owner"}] + [
        {"email": f"m{n}-{tag}@example.com", "role": "member"} for n in range(1, members)
    ]
    seeded = infra.seed(
        app.env,
        {
            "password": PASSWORD,
            "organizations": [{"name": f"Seats {tag}", "stripe_customer_id": customer["id"], "users": users}],
            "loners": [{"email": f"newcomer-{tag}@example.com"}],
        },
    )
    body = json.dumps(
        envelope(f"evt_seats_{tag}", "customer.subscription.created", subscription, int(time.time()))
    ).encode()
    http = infra.http_session()
    answer = http.post(
        app.server.url + "/subscriptions/webhook",
        data=body,
        headers={"Stripe-Signature": sign(body), "Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    infra.wait_until(lambda: stored_quantity(app, subscription["id"]) == members, timeout=30, what="recorded")
    return {"subscription": subscription["id"], "organization": seeded["organizations"][0], "http": http}


def token(app: Seats, email: str) -> str:
    answer = infra.http_session().post(
        app.server.url + "/auth/token/", json={"email": email, "password": PASSWORD}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access"])


def call(app: Seats, method: str, path: str, email: str, body: dict[str, Any] | None = None) -> Any:
    answer = infra.http_session().request(
        method,
        app.server.url + path,
        json=body,
        headers={"Authorization": f"Bearer {token(app, email)}"},
        timeout=15,
    )
    assert answer.status_code in (200, 201), (path, answer.status_code, answer.text)
    return answer.json()


def stripe_quantity(app: Seats, subscription_id: str) -> int:
    (found,) = [s for s in app.standin.get("/_standin/subscriptions") if s["id"] == subscription_id]
    return int(found["items"]["data"][0]["quantity"])


def stored_quantity(app: Seats, subscription_id: str) -> int | None:
    for row in infra.report(app.env)["subscriptions"]:
        if row["id"] == subscription_id:
            return int(row["quantity"]) if row["quantity"] is not None else None
    return None


def quantity_updates(app: Seats, subscription_id: str) -> list[dict[str, Any]]:
    report = app.standin.requests_report(method="POST", path_prefix=f"/v1/subscriptions/{subscription_id}")
    return [r for r in report["requests"] if "items" in r["params"] and r["status"] == 200]


def members(app: Seats, owner: str) -> list[dict[str, Any]]:
    return list(call(app, "GET", "/organizations/members", owner)["data"])


def test_an_accepted_invitation_and_a_removal_land_within_the_window(app: Seats) -> None:
    made = team(app, "join", 3)
    owner, newcomer, sub = "owner-join@example.com", "newcomer-join@example.com", made["subscription"]

    call(app, "POST", "/organizations/invitations", owner, {"email": newcomer})
    # The worker sends the invitation e-mail (the console backend: its output).
    infra.wait_until(lambda: LINK.findall(app.worker.log_text()), timeout=15, what="the invitation e-mail")
    links = LINK.findall(app.worker.log_text())
    started = time.monotonic()
    joined = call(app, "POST", f"/invitations/{links[-1]}/accept", newcomer)
    infra.wait_until(lambda: stripe_quantity(app, sub) == 4, timeout=WINDOW + 10, what="4 seats at Stripe")
    joined_after = time.monotonic() - started
    infra.wait_until(lambda: stored_quantity(app, sub) == 4, timeout=10, what="4 seats stored")

    started = time.monotonic()
    call(app, "DELETE", f"/organizations/members/{joined['data']['id']}", owner)
    infra.wait_until(lambda: stripe_quantity(app, sub) == 3, timeout=WINDOW + 10, what="3 seats at Stripe")
    removed_after = time.monotonic() - started

    updates = quantity_updates(app, sub)
    assert [u["params"]["items"][0]["quantity"] for u in updates] == ["4", "3"], updates
    assert {u["params"]["proration_behavior"] for u in updates} == {"create_prorations"}
    figures.record(
        "seats (real worker)",
        window_seconds=WINDOW,
        accept_to_stripe_seconds=round(joined_after, 2),
        removal_to_stripe_seconds=round(removed_after, 2),
    )


def test_five_changes_in_one_window_make_at_most_two_updates(app: Seats) -> None:
    made = team(app, "five", 8)
    owner, sub = "owner-five@example.com", made["subscription"]
    others = [m for m in members(app, owner) if m["role"] == "member"][:5]

    for member in others:
        call(app, "DELETE", f"/organizations/members/{member['id']}", owner)
    infra.wait_until(lambda: stripe_quantity(app, sub) == 3, timeout=WINDOW + 20, what="3 seats at Stripe")
    time.sleep(WINDOW + 1)  # any second update would have come by now

    updates = quantity_updates(app, sub)
    assert 1 <= len(updates) <= 2, updates
    assert updates[-1]["params"]["items"][0]["quantity"] == "3"
    figures.record("seats (real worker)", five_changes_updates=len(updates))


def test_stripe_failing_during_a_change_lands_within_a_minute_of_recovery(app: Seats) -> None:
    made = team(app, "down", 3)
    owner, sub = "owner-down@example.com", made["subscription"]
    member = next(m for m in members(app, owner) if m["role"] == "member")
    app.standin.add_fault("500", method="POST", path_prefix=f"/v1/subscriptions/{sub}")
    try:
        call(app, "DELETE", f"/organizations/members/{member['id']}", owner)
        time.sleep(WINDOW + 20)  # Stripe down well past the window: the update keeps failing
        assert stripe_quantity(app, sub) == 3
        assert "tasks.retry_scheduled task='seats_sync'" in app.worker.log_text()
    finally:
        app.standin.clear_faults()
    recovered = time.monotonic()
    infra.wait_until(lambda: stripe_quantity(app, sub) == 2, timeout=60, what="2 seats after the recovery")
    landed_after = time.monotonic() - recovered
    infra.wait_until(lambda: stored_quantity(app, sub) == 2, timeout=10, what="2 seats stored")
    assert len(quantity_updates(app, sub)) == 1
    figures.record(
        "seats (real worker)",
        stripe_down_seconds=WINDOW + 20,
        landed_after_recovery_seconds=round(landed_after, 2),
    )
