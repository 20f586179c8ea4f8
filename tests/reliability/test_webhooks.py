"""Stripe webhook deliveries flooding two gunicorn servers that share one database: every
genuine event delivered three times, out of order, at once, mixed with forged, stale and
oversized deliveries.

What must hold: each genuine event changes state once (one `queued` answer, the others
`duplicate`, and one `billing.webhook_processed` log line of the two workers applying them),
the newest state wins whatever the arrival order, nothing forged, stale or oversized is
processed or even recorded, and every answer is a documented answer (JSON, 200 / 400 / 413
with its `error_code`).
"""

from __future__ import annotations

import json
import queue
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from bench import storm
from tests import figures
from tests.reliability import infra

pytestmark = pytest.mark.reliability

ORGANIZATIONS = 6
REDELIVERIES = 3
CLIENTS = 32
T0 = int(time.time()) - 3600  # the subscriptions' creation; events follow it
URL = "/subscriptions/webhook"
MIB = 1024 * 1024


def sign(body: bytes, *, secret: str = infra.SERVER_WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    return storm.sign(body, secret=secret, timestamp=timestamp)


envelope = storm.envelope


def with_state(subscription: dict[str, Any], *, status: str, quantity: int) -> dict[str, Any]:
    obj = json.loads(json.dumps(subscription))
    obj["status"] = status
    obj["items"]["data"][0]["quantity"] = quantity
    if status == "canceled":
        obj["canceled_at"] = T0 + 40
    return obj


@dataclass
class Delivery:
    kind: str  # genuine, forged:<how>, stale, oversized:<how>, ignored
    event_id: str
    body: bytes | None  # None: built at send time (the chunked oversized one)
    signature: str | None  # None: no header; "" : sign at send time (a fresh `t`, as Stripe does)
    expected: tuple[int, str | None]  # (status, error_code); None code for a 200

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.signature == "" and self.body is not None:
            headers["Stripe-Signature"] = sign(self.body)
        elif self.signature:
            headers["Stripe-Signature"] = self.signature
        return headers


@pytest.fixture(scope="module")
def webhook_servers(
    tmp_path_factory: pytest.TempPathFactory, standin_process: infra.StandinProcess, log_dir: Path
) -> Iterator[tuple[dict[str, str], list[infra.AppServer], list[infra.WorkerProcess]]]:
    tmp = tmp_path_factory.mktemp("webhooks")
    with infra.app_database(tmp) as database_url:
        env = infra.app_env(
            database_url=database_url,
            stripe_api_base=standin_process.url,
            cache_dir=tmp / "cache",
            GUNICORN_WORKERS="2",
        )
        infra.manage(env, "-m", "tests.reliability.appdb", "migrate")
        servers = [infra.AppServer(env, log_dir, name=f"webhooks-{n}") for n in ("a", "b")]
        workers = [infra.WorkerProcess(env, log_dir, name=f"webhooks-worker-{n}") for n in ("a", "b")]
        try:
            yield env, servers, workers
        finally:
            for worker in workers:
                worker.stop()
            for server in servers:
                server.stop()


def _plan(standin: infra.StandinProcess, env: dict[str, str]) -> tuple[list[Delivery], dict[str, Any]]:
    """The organizations, their subscriptions' event histories, and every delivery to send."""
    standin.reset()
    orgs = []
    for i in range(ORGANIZATIONS):
        customer = standin.post("/_standin/customers", {"name": f"Webhook Org {i}"})
        subscription = standin.post(
            "/_standin/subscriptions", {"customer": customer["id"], "status": "active", "created": T0}
        )
        orgs.append({"name": f"Webhook Org {i}", "customer": customer, "subscription": subscription})
    seeded = infra.seed(
        env,
        {
            "organizations": [
                {"name": o["name"], "stripe_customer_id": o["customer"]["id"], "users": []} for o in orgs
            ]
        },
    )
    for org, created in zip(orgs, seeded["organizations"], strict=True):
        org["id"] = created["id"]

    deliveries: list[Delivery] = []
    newest: dict[str, tuple[str, int]] = {}  # subscription id -> (status, quantity) of its newest event
    genuine_ids: set[str] = set()
    history = [
        ("customer.subscription.created", "active", 1),
        ("customer.subscription.updated", "active", 2),
        ("customer.subscription.updated", "past_due", 2),
        ("customer.subscription.updated", "active", 3),
        ("customer.subscription.deleted", "canceled", 3),
    ]
    for i, org in enumerate(orgs):
        sub = org["subscription"]
        steps = history if i % 2 == 0 else history[:4]  # half end canceled, half active
        for n, (type, status, quantity) in enumerate(steps):
            event_id = f"evt_genuine_{i}_{n}"
            body = json.dumps(
                envelope(event_id, type, with_state(sub, status=status, quantity=quantity), T0 + 10 * n)
            )
            genuine_ids.add(event_id)
            for _ in range(REDELIVERIES):
                deliveries.append(Delivery("genuine", event_id, body.encode(), "", (200, None)))
            newest[sub["id"]] = (status, quantity)

        # Forgeries: each would make the subscription active with 999 seats, newer than anything.
        forged_obj = with_state(sub, status="active", quantity=999)
        forged_body = json.dumps(
            envelope(f"evt_forged_{i}", "customer.subscription.updated", forged_obj, T0 + 999)
        )
        fb = forged_body.encode()
        genuine_body = deliveries[-1].body or b""
        refused = (400, "INVALID_SIGNATURE")
        deliveries += [
            Delivery(
                "forged:other-secret", f"evt_forged_{i}", fb, sign(fb, secret="whsec_attacker_guess"), refused
            ),
            Delivery("forged:no-signature", f"evt_forged_{i}", fb, None, refused),
            Delivery("forged:tampered-after-signing", f"evt_forged_{i}", fb, sign(genuine_body), refused),
            Delivery("forged:v0-scheme", f"evt_forged_{i}", fb, sign(fb).replace("v1=", "v0="), refused),
            Delivery("forged:garbage-header", f"evt_forged_{i}", fb, "t=abc,v1=zzz", refused),
            Delivery(
                "stale:signed-6-minutes-ago",
                f"evt_forged_{i}",
                fb,
                sign(fb, timestamp=int(time.time()) - 360),
                refused,
            ),
        ]
        padded = json.loads(forged_body)
        padded["data"]["object"]["metadata"] = {"padding": "x" * (MIB + 10)}
        big = json.dumps(padded).encode()
        deliveries.append(
            Delivery("oversized:signed", f"evt_forged_{i}", big, "", (413, "PAYLOAD_TOO_LARGE"))
        )

    # One organization's customer is deleted at Stripe, after its subscription's last event.
    gone = orgs[1]
    customer_event = json.dumps(
        envelope("evt_genuine_customer_deleted", "customer.deleted", {**gone["customer"]}, T0 + 60)
    )
    genuine_ids.add("evt_genuine_customer_deleted")
    for _ in range(REDELIVERIES):
        deliveries.append(
            Delivery("genuine", "evt_genuine_customer_deleted", customer_event.encode(), "", (200, None))
        )
    # A type we do not handle: acknowledged, never recorded.
    ignored = json.dumps(
        envelope("evt_ignored_invoice", "invoice.finalized", {"id": "in_1", "object": "invoice"}, T0 + 5)
    )
    deliveries += [
        Delivery("ignored", "evt_ignored_invoice", ignored.encode(), "", (200, None)) for _ in range(2)
    ]
    return deliveries, {"orgs": orgs, "newest": newest, "genuine_ids": genuine_ids, "gone": gone}


def _send(
    server_urls: list[str], deliveries: list[Delivery]
) -> list[tuple[Delivery, int, dict[str, Any] | None, str]]:
    work: queue.Queue[tuple[int, Delivery]] = queue.Queue()
    for n, d in enumerate(deliveries):
        work.put((n, d))
    results: list[tuple[Delivery, int, dict[str, Any] | None, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS)

    def client() -> None:
        http = infra.http_session()
        barrier.wait()
        while True:
            try:
                n, d = work.get_nowait()
            except queue.Empty:
                break
            url = server_urls[n % len(server_urls)] + URL
            # gunicorn drains at most 64 KiB of a body the app left unread, then closes the
            # connection although its answer said keep-alive: the oversized deliveries get a
            # connection of their own, or the next delivery on theirs would get no answer.
            sender = infra.http_session() if d.kind.startswith("oversized") else http
            try:
                response = sender.post(url, data=d.body, headers=d.headers(), timeout=60)
                try:
                    body = response.json()
                except ValueError:
                    body = None
                answer = (d, response.status_code, body, response.headers.get("Content-Type", ""))
            except requests.RequestException as e:
                answer = (d, 0, None, type(e).__name__)
            finally:
                if sender is not http:
                    sender.close()
            with lock:
                results.append(answer)
        http.close()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return results


def test_a_flood_of_genuine_forged_stale_and_oversized_deliveries(
    webhook_servers: tuple[dict[str, str], list[infra.AppServer], list[infra.WorkerProcess]],
    standin_process: infra.StandinProcess,
) -> None:
    env, servers, workers = webhook_servers
    deliveries, plan = _plan(standin_process, env)
    random.Random(5).shuffle(deliveries)  # out of order: a deletion may arrive before its creation
    started = time.monotonic()
    results = _send([s.url for s in servers], deliveries)
    duration = time.monotonic() - started
    # A body over the cap without a declared length (chunked). Django reads a WSGI body with no
    # Content-Length as empty, so it is refused for its signature (400), never buffered.
    # Stripe always sends Content-Length.
    chunked = infra.http_session().post(
        servers[0].url + URL,
        data=iter([b"{" + b" " * 65536] * 20),
        headers={"Content-Type": "application/json", "Stripe-Signature": sign(b"{}")},
        timeout=60,
    )
    infra.wait_until(
        lambda: infra.get(servers[0].url + "/healthz", timeout=10).json()["tasks"]["waiting"] == 0,
        timeout=120,
        interval=0.5,
        what="the workers to apply every event",
    )
    db = infra.report(env)
    logs = "\n".join([*(s.log_text() for s in servers), *(w.log_text() for w in workers)])

    outcomes: dict[str, Counter[str]] = {}
    by_kind: Counter[str] = Counter()
    unexpected = []
    for d, status, body, content_type in results:
        by_kind[f"{d.kind.split(':')[0]} -> {status}"] += 1
        code = body.get("error_code") if isinstance(body, dict) and status != 200 else None
        if (status, code) != d.expected or content_type != "application/json" or body is None:
            unexpected.append((d.kind, d.event_id, status, content_type, str(body)[:200]))
        if status == 200 and isinstance(body, dict):
            outcomes.setdefault(d.event_id, Counter())[str(body.get("outcome"))] += 1
    processed_lines = Counter(re.findall(r"billing\.webhook_processed event_id='([^']+)'", logs))
    figures.record(
        "webhooks: two instances, one database",
        deliveries_sent=len(results) + 1,
        genuine_events=len(plan["genuine_ids"]),
        deliveries_by_kind_and_status=dict(by_kind),
        chunked_oversized=chunked.status_code,
        duration_s=round(duration, 1),
        webhook_events_recorded=len(db["webhook_events"]),
        state_changes_logged=sum(processed_lines.values()),
        forged_events_recorded=sum(1 for e in db["webhook_events"] if not e.startswith("evt_genuine_")),
    )

    assert not unexpected, unexpected[:20]
    assert (chunked.status_code, chunked.json()["error_code"]) in {
        (400, "INVALID_SIGNATURE"),
        (413, "PAYLOAD_TOO_LARGE"),
    }, chunked.text
    # Each genuine event: queued once and applied once, every other delivery a duplicate.
    for event_id in plan["genuine_ids"]:
        seen = outcomes[event_id]
        assert seen == {"queued": 1, "duplicate": REDELIVERIES - 1}, (event_id, seen)
        assert processed_lines[event_id] == 1, (event_id, processed_lines[event_id])
    assert outcomes["evt_ignored_invoice"] == {"ignored": 2}
    # Recorded: the genuine handled events, and nothing else.
    assert sorted(db["webhook_events"]) == sorted(plan["genuine_ids"])
    assert set(processed_lines) == plan["genuine_ids"]
    # The newest state won, whatever the arrival order; no forgery left a trace.
    subs = {s["id"]: s for s in db["subscriptions"]}
    for org in plan["orgs"]:
        sub = subs.get(org["subscription"]["id"])
        if org is plan["gone"]:
            # Canceled as of the customer's deletion, its other fields from whichever older
            # event arrived first; or never stored, when the deletion arrived before them all
            # (the customer is no longer the organization's, so its events are not either).
            assert sub is None or sub["status"] == "canceled", sub
        else:
            assert sub is not None and sub["organization_id"] == org["id"], (org["name"], sub)
            assert (sub["status"], sub["quantity"]) == plan["newest"][sub["id"]], (org["name"], sub)
        assert sub is None or sub["quantity"] != 999
    assert db["organizations"][str(plan["gone"]["id"])] is None
    assert all(s.alive() for s in servers)
    assert all(w.alive() for w in workers)
    assert set(db["webhook_statuses"]) == {"processed"}, db["webhook_statuses"]
