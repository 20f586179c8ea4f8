"""The task queue with real processes: gunicorn answers webhooks, `manage.py worker` applies
them, the Stripe stand-in runs as a process of its own, on the embedded SQLite file (or this
leg's PostgreSQL).

What must hold: a webhook is answered before any Stripe call its effect needs, and the effect
lands once the call does; a Stripe failure is retried with backoff and lands; a storm of
deliveries (out of order, 16 senders) is answered 200 throughout and leaves every subscription
in its newest event's state; the same with the worker SIGKILLed half-way and another started:
nothing lost, nothing applied twice; SIGTERM lets the task in hand finish and exits 0.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench import storm as storm_bench
from tests import figures
from tests.reliability import infra
from tests.reliability.test_webhooks import envelope

pytestmark = pytest.mark.reliability

URL = "/subscriptions/webhook"
SENDERS = 16
T0 = int(time.time()) - 3600
# A worker not seen for this long is taken for dead (the default is 30 s; shorter here, so
# that the test need not wait that long to see the killed worker's task run again).
LOST_AFTER = "3"


@dataclass
class Queue:
    env: dict[str, str]
    server: infra.AppServer
    standin: infra.StandinProcess
    log_dir: Path


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory, standin_process: infra.StandinProcess, log_dir: Path
) -> Iterator[Queue]:
    tmp = tmp_path_factory.mktemp("task-queue")
    with infra.app_database(tmp) as database_url:
        env = infra.app_env(
            database_url=database_url, stripe_api_base=standin_process.url, cache_dir=tmp / "cache"
        )
        infra.manage(env, "-m", "tests.reliability.appdb", "migrate")
        server = infra.AppServer(env, log_dir, name="task-queue")
        try:
            yield Queue(env, server, standin_process, log_dir)
        finally:
            server.stop()


def subscriptions(app: Queue, count: int, tag: str, *, status: str = "active") -> list[dict[str, Any]]:
    """`count` organizations with a customer and a subscription (in `status`) at the stand-in."""
    made = []
    for i in range(count):
        customer = app.standin.post("/_standin/customers", {"name": f"Queue {tag} {i}"})
        subscription = app.standin.post(
            "/_standin/subscriptions", {"customer": customer["id"], "status": status, "created": T0}
        )
        made.append(subscription)
    infra.seed(
        app.env,
        {
            "organizations": [
                {"name": f"Queue {tag} {i}", "stripe_customer_id": s["customer"], "users": []}
                for i, s in enumerate(made)
            ]
        },
    )
    return made


with_state = storm_bench.with_state


def histories(
    subs: list[dict[str, Any]], steps: int, tag: str
) -> tuple[list[bytes], dict[str, tuple[str, int]]]:
    return storm_bench.histories(subs, steps, f"q{tag}")


def send_all(url: str, bodies: list[bytes], *, senders: int = SENDERS) -> list[tuple[int, float]]:
    return storm_bench.send_all(url, bodies, senders=senders, secret=infra.SERVER_WEBHOOK_SECRET)


def queue_report(app: Queue) -> dict[str, Any]:
    response = infra.get(app.server.url + "/healthz", timeout=10)
    report: dict[str, Any] = response.json()["tasks"]
    return report


def drained(app: Queue) -> bool:
    return queue_report(app)["waiting"] == 0


def processed_lines(*workers: infra.WorkerProcess) -> Counter[str]:
    """How many times each event id was applied, by the workers' `billing.webhook_processed` lines."""
    found: Counter[str] = Counter()
    for worker in workers:
        found.update(re.findall(r"billing\.webhook_processed event_id='([^']+)'", worker.log_text()))
    return found


def subscription_states(app: Queue) -> dict[str, tuple[str, int]]:
    return {s["id"]: (s["status"], s["quantity"]) for s in infra.report(app.env)["subscriptions"]}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- one event at a time ------------------------------------------------------------------------


def test_a_webhook_that_needs_a_stripe_fetch_is_answered_before_the_fetch(app: Queue) -> None:
    (sub,) = subscriptions(app, 1, "fetch", status="past_due")  # what Stripe will answer
    worker = infra.WorkerProcess(app.env, app.log_dir, name="worker-fetch")
    try:
        active = with_state(sub, status="active", quantity=1)  # the state of an hour ago
        created = json.dumps(
            envelope("evt_fetch_created", "customer.subscription.created", active, T0)
        ).encode()
        assert send_all(app.server.url, [created], senders=1)[0][0] == 200
        infra.wait_until(lambda: subscription_states(app).get(sub["id"]) == ("active", 1), timeout=30)

        app.standin.add_fault("latency", method="GET", path_prefix="/v1/subscriptions/", latency_ms=2000)
        parent = {"type": "subscription_details", "subscription_details": {"subscription": sub["id"]}}
        invoice = {"id": "in_fetch", "object": "invoice", "customer": sub["customer"], "parent": parent}
        paid = json.dumps(envelope("evt_fetch_paid", "invoice.paid", invoice, T0 + 100)).encode()

        ((status, seconds),) = send_all(app.server.url, [paid], senders=1)

        fetches = app.standin.requests_report(method="GET", path_prefix=f"/v1/subscriptions/{sub['id']}")
        # Answered while the fetch its effect needs had not been answered (the stand-in holds
        # every such answer 2 s): the request did not wait on Stripe.
        assert status == 200
        assert all(r["status"] is None for r in fetches["requests"]), fetches
        figures.record("webhook needing a Stripe fetch, Stripe at 2 s", answer_ms=round(seconds * 1000, 1))
        infra.wait_until(
            lambda: subscription_states(app)[sub["id"]][0] == "past_due", timeout=30, what="the effect"
        )
        fetches = app.standin.requests_report(method="GET", path_prefix=f"/v1/subscriptions/{sub['id']}")
        assert [r["status"] for r in fetches["requests"]] == [200]  # one fetch, answered
    finally:
        app.standin.clear_faults()
        assert worker.stop() == 0


def test_a_stripe_failure_is_retried_with_backoff_and_lands(app: Queue) -> None:
    (sub,) = subscriptions(app, 1, "retry", status="past_due")
    worker = infra.WorkerProcess(app.env, app.log_dir, name="worker-retry")
    try:
        # Every try of the first two attempts fails (the SDK tries each call 3 times).
        app.standin.add_fault("500", method="GET", path_prefix=f"/v1/subscriptions/{sub['id']}", times=6)
        parent = {"type": "subscription_details", "subscription_details": {"subscription": sub["id"]}}
        invoice = {"id": "in_retry", "object": "invoice", "customer": sub["customer"], "parent": parent}
        paid = json.dumps(envelope("evt_retry_paid", "invoice.paid", invoice, T0 + 100)).encode()

        assert send_all(app.server.url, [paid], senders=1)[0][0] == 200

        infra.wait_until(
            lambda: subscription_states(app).get(sub["id"], ("", 0))[0] == "past_due",
            timeout=60,
            what="the effect after the retries",
        )
        log = worker.log_text()
        assert log.count("tasks.retry_scheduled task='webhook_event_apply' attempt=1") == 1, log[-3000:]
        assert log.count("tasks.retry_scheduled task='webhook_event_apply' attempt=2") == 1, log[-3000:]
        assert processed_lines(worker)["evt_retry_paid"] == 1
    finally:
        app.standin.clear_faults()
        assert worker.stop() == 0


def test_sigterm_lets_the_task_in_hand_finish_and_exits_0(app: Queue) -> None:
    (sub,) = subscriptions(app, 1, "term", status="past_due")
    worker = infra.WorkerProcess(app.env, app.log_dir, name="worker-term")
    try:
        app.standin.add_fault(
            "latency", method="GET", path_prefix=f"/v1/subscriptions/{sub['id']}", latency_ms=3000
        )
        parent = {"type": "subscription_details", "subscription_details": {"subscription": sub["id"]}}
        invoice = {"id": "in_term", "object": "invoice", "customer": sub["customer"], "parent": parent}
        paid = json.dumps(envelope("evt_term_paid", "invoice.paid", invoice, T0 + 100)).encode()
        assert send_all(app.server.url, [paid], senders=1)[0][0] == 200
        infra.wait_until(
            lambda: app.standin.requests_report(method="GET", path_prefix=f"/v1/subscriptions/{sub['id']}")[
                "requests"
            ],
            timeout=30,
            what="the worker's fetch",
        )

        started = time.monotonic()
        code = worker.stop(timeout=15)  # the Stripe timeout (10 s) + 5 s

        assert code == 0, worker.log_text()[-3000:]
        figures.record(
            "worker SIGTERM with a task in hand", exit_seconds=round(time.monotonic() - started, 1)
        )
        assert subscription_states(app)[sub["id"]][0] == "past_due"  # the task in hand finished
        assert processed_lines(worker)["evt_term_paid"] == 1
    finally:
        app.standin.clear_faults()
        worker.stop()


# --- storms ---------------------------------------------------------------------------------------


def storm(app: Queue, tag: str, *, subs: int, steps: int, kill_half_way: bool) -> None:
    subscriptions_made = subscriptions(app, subs, tag)
    bodies, newest = histories(subscriptions_made, steps, tag)
    workers = [
        infra.WorkerProcess(app.env, app.log_dir, name=f"worker-{tag}-1", args=("--lost-after", LOST_AFTER))
    ]
    try:
        started = time.monotonic()
        answers = send_all(app.server.url, bodies)
        sent_seconds = time.monotonic() - started
        peak = queue_report(app)["waiting"]

        assert Counter(status for status, _ in answers) == {200: len(bodies)}
        if kill_half_way:
            infra.wait_until(
                lambda: len(processed_lines(*workers)) >= len(bodies) // 2,
                timeout=120,
                interval=0.05,
                what="half the events applied",
            )
            workers[0].kill()
            killed_at = len(processed_lines(*workers))
            workers.append(
                infra.WorkerProcess(
                    app.env, app.log_dir, name=f"worker-{tag}-2", args=("--lost-after", LOST_AFTER)
                )
            )
        infra.wait_until(lambda: drained(app), timeout=180, interval=0.5, what="the queue drained")
        drain_seconds = time.monotonic() - started

        report = infra.report(app.env)
        ours = {s["id"]: (s["status"], s["quantity"]) for s in report["subscriptions"] if s["id"] in newest}
        assert ours == newest  # every subscription holds its newest event's state
        assert report["webhook_statuses"].get("queued", 0) == 0
        assert report["webhook_statuses"].get("failed", 0) == 0
        assert set(report["webhook_events"]) >= {json.loads(b)["id"] for b in bodies}  # nothing lost
        applied = processed_lines(*workers)
        ids = {json.loads(b)["id"] for b in bodies}
        twice = {event_id: n for event_id, n in applied.items() if n > 1}
        assert not twice, twice  # nothing applied twice
        if not kill_half_way:
            assert set(applied) >= ids  # with no kill, each applied (and logged) exactly once
        seconds = [s for _, s in answers]
        figures.record(
            f"webhook storm{' with the worker SIGKILLed half-way' if kill_half_way else ''}",
            events=len(bodies),
            accepted_per_s=round(len(bodies) / sent_seconds),
            p99_ms=round(percentile(seconds, 99) * 1000, 1),
            max_ms=round(max(seconds) * 1000, 1),
            queue_peak=peak,
            applied_per_s=round(len(bodies) / drain_seconds),
            drain_s=round(drain_seconds, 1),
            **({"applied_before_kill": killed_at} if kill_half_way else {}),
        )
    finally:
        for worker in workers:
            worker.stop()


def test_a_storm_out_of_order_from_16_senders_is_answered_and_applied(app: Queue) -> None:
    storm(app, "storm", subs=200, steps=5, kill_half_way=False)


def test_a_storm_survives_its_worker_killed_half_way(app: Queue) -> None:
    storm(app, "kill", subs=200, steps=5, kill_half_way=True)
