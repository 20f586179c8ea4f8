"""The webhook storm: renewals at the start of a month, as Stripe delivers them.

    .venv/bin/python -m bench --scenario storm              # SQLite, and PostgreSQL if its binaries are here
    .venv/bin/python -m bench.storm --events 5000 --no-postgres

Starts the Stripe stand-in, migrates a fresh database, seeds `--subscriptions` organizations
with a customer and a subscription each, serves the app under gunicorn (config/gunicorn.py,
shipped defaults) and runs one `manage.py worker`. Then `--senders` threads post `--events`
signed `customer.subscription.*` events, the subscriptions' histories shuffled (out of order),
each sender on a keep-alive connection. Then the same again, on a fresh database of its own,
against the hand-written server (bench/handwritten/: Stripe's documented sample, the
signature checked and the subscription row written in the request; no worker), unless
`--no-hand`. The figures are:

- accepted/s: events answered per second of sending; p50, p99 and max answer time;
- queue peak: the most tasks waiting (`/healthz`), sampled every 0.2 s;
- applied/s and drain: events applied per second, from the first send until the queue is
  empty and every event is processed;
- whether every subscription then holds its newest event's state.

A figure, not a test: tests/reliability/test_task_queue.py asserts the behaviour on fewer events.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import queue
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from bench.procs import Postgres, Server, StandIn

ROOT = Path(__file__).resolve().parents[1]
WEBHOOK_SECRET = "whsec_bench_" + secrets.token_hex(16)
T0 = int(time.time()) - 3600


def sign(body: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header for `body`, as Stripe signs a delivery."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def envelope(event_id: str, type: str, obj: dict[str, Any], created: int) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created,
        "data": {"object": obj, "previous_attributes": {}},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
    }


def with_state(subscription: dict[str, Any], *, status: str, quantity: int) -> dict[str, Any]:
    """A copy of the subscription object with that status and item quantity."""
    obj: dict[str, Any] = json.loads(json.dumps(subscription))
    obj["status"] = status
    obj["items"]["data"][0]["quantity"] = quantity
    return obj


def histories(
    subscriptions: list[dict[str, Any]], steps: int, seed: str
) -> tuple[list[bytes], dict[str, tuple[str, int]]]:
    """Each subscription's `steps` events (a second apart in Stripe time: no tie to settle with
    Stripe), all shuffled; and each subscription's newest (status, quantity)."""
    bodies: list[bytes] = []
    newest: dict[str, tuple[str, int]] = {}
    for i, subscription in enumerate(subscriptions):
        for n in range(steps):
            status = ("active", "past_due", "active", "trialing")[(n + i) % 4]
            obj = with_state(subscription, status=status, quantity=n + 1)
            type = "customer.subscription.created" if n == 0 else "customer.subscription.updated"
            bodies.append(json.dumps(envelope(f"evt_{seed}_{i}_{n}", type, obj, T0 + 10 + n)).encode())
            newest[subscription["id"]] = (status, n + 1)
    random.Random(seed).shuffle(bodies)
    return bodies, newest


def send_all(
    url: str, bodies: list[bytes], *, senders: int, secret: str = WEBHOOK_SECRET
) -> list[tuple[int, float]]:
    """POST every body from `senders` threads at once, each on its own keep-alive connection:
    (status, seconds) of each answer (0: no answer)."""
    work: queue.Queue[bytes] = queue.Queue()
    for body in bodies:
        work.put(body)
    answers: list[tuple[int, float]] = []
    lock = threading.Lock()

    def sender() -> None:
        with requests.Session() as http:
            http.trust_env = False
            while True:
                try:
                    body = work.get_nowait()
                except queue.Empty:
                    return
                headers = {"Content-Type": "application/json", "Stripe-Signature": sign(body, secret=secret)}
                started = time.monotonic()
                try:
                    status = http.post(
                        url + "/subscriptions/webhook", data=body, headers=headers, timeout=30
                    ).status_code
                except requests.RequestException:
                    status = 0
                with lock:
                    answers.append((status, time.monotonic() - started))

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return answers


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else 0.0


def _manage(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


# --- inside the app's environment (`python -m bench.storm --seed` / `--report`) -------------------


def _seed(customers: list[str]) -> None:
    import django

    django.setup()
    from organizations.models import Organization

    Organization.objects.bulk_create(
        Organization(name=f"Storm {n}", stripe_customer_id=customer) for n, customer in enumerate(customers)
    )


def _report() -> dict[str, Any]:
    import django

    django.setup()
    from billing.models import Subscription, WebhookEvent

    return {
        "subscriptions": {
            s.stripe_subscription_id: [s.status, s.quantity] for s in Subscription.objects.all()
        },
        "events": dict(Counter(WebhookEvent.objects.values_list("status", flat=True))),
    }


# --- one storm ------------------------------------------------------------------------------------


def storm(
    *,
    label: str,
    database_url: str,
    workdir: Path,
    events: int,
    subscriptions: int,
    senders: int,
    worker_after_send: bool = False,
    hand: bool = False,
) -> dict[str, Any]:
    """One storm against the app (with its worker), or with `hand` against the hand-written
    server, which applies each event in its request."""
    standin = StandIn(workdir / f"standin-{label}.log")
    worker = None
    server = None
    try:
        env = {
            key: os.environ[key]
            for key in ("PATH", "HOME", "LANG", "TMPDIR", "VIRTUAL_ENV")
            if key in os.environ
        }
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
            DJANGO_SECURE_SSL_REDIRECT="0",
            DJANGO_CACHE_DIR=str(workdir / f"cache-{label}"),
            DATABASE_URL=database_url,
            STRIPE_SECRET_KEY="sk_test_bench_" + secrets.token_hex(8),
            STRIPE_API_BASE=standin.url,
            STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            PYTHONUNBUFFERED="1",
        )
        _manage(env, "manage.py", "migrate", "--noinput", "-v", "0")
        made = []
        for n in range(subscriptions):
            customer = standin.create_customer(name=f"Storm {n}")
            made.append(
                standin._control(
                    "POST", "subscriptions", {"customer": customer, "status": "active", "created": T0}
                )
            )
        _manage(env, "-m", "bench.storm", "--seed", stdin=json.dumps([s["customer"] for s in made]))
        bodies, newest = histories(made, max(1, events // subscriptions), label)

        module = "bench.handwritten.wsgi" if hand else "config.wsgi"
        server = Server(f"storm-{label}{'-hand' if hand else ''}", module, env, workdir)
        server.wait_ready()
        worker_log = (workdir / f"worker-{label}.log").open("wb")

        def worker_start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "manage.py", "worker"],
                cwd=ROOT,
                env=env,
                stdout=worker_log,
                stderr=subprocess.STDOUT,
            )

        if not (worker_after_send or hand):
            worker = worker_start()

        peak = 0
        sampling = threading.Event()

        def sample() -> None:
            nonlocal peak
            if hand:  # no queue: each event is applied in its request
                return
            with requests.Session() as http:
                http.trust_env = False
                while not sampling.wait(0.2):
                    try:
                        waiting = http.get(server.url + "/healthz", timeout=10).json()["tasks"]["waiting"]
                    except (requests.RequestException, ValueError, KeyError, TypeError):
                        continue
                    peak = max(peak, waiting)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        answers = send_all(server.url, bodies, senders=senders)
        sent_seconds = time.monotonic() - started
        if worker_after_send and not hand:
            worker = worker_start()
        while True:
            report = _report_of(env)
            if hand:
                break
            if report["events"].get("queued", 0) + report["events"].get("retrying", 0) == 0 and sum(
                report["events"].values()
            ) >= len(bodies):
                break
            time.sleep(0.5)
        drain_seconds = time.monotonic() - started
        sampling.set()
        sampler.join(timeout=5)
        seconds = [s for _, s in answers]
        held = {sid: tuple(state) for sid, state in report["subscriptions"].items()}
        return {
            "database": label,
            "server": "hand" if hand else "app",
            "events": len(bodies),
            "subscriptions": len(made),
            "senders": senders,
            "answers": dict(Counter(status for status, _ in answers)),
            "accepted_per_s": round(len(bodies) / sent_seconds),
            "p50_ms": round(percentile(seconds, 50) * 1000, 1),
            "p99_ms": round(percentile(seconds, 99) * 1000, 1),
            "max_ms": round(max(seconds) * 1000, 1),
            "queue_peak": peak,
            "applied_per_s": round(len(bodies) / drain_seconds),
            "drain_s": round(drain_seconds, 1),
            "events_by_status": report["events"],
            "newest_state_everywhere": all(held.get(sid) == state for sid, state in newest.items()),
        }
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        if server is not None:
            server.stop()
        standin.stop()


def _report_of(env: dict[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(_manage(env, "-m", "bench.storm", "--report"))
    return result


def table(results: list[dict[str, Any]]) -> str:
    columns = (
        "database",
        "server",
        "events",
        "answers",
        "accepted_per_s",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "queue_peak",
        "applied_per_s",
        "drain_s",
        "newest_state_everywhere",
    )
    lines = [" | ".join(columns)]
    for result in results:
        lines.append(" | ".join(str(result[c]) for c in columns))
    return "\n".join(lines)


def run(
    *,
    events: int,
    subscriptions: int,
    senders: int,
    postgres: bool,
    sqlite: bool = True,
    worker_after_send: bool = False,
    hand: bool = True,
) -> list[dict[str, Any]]:
    results = []
    servers = [False, True] if hand else [False]
    with tempfile.TemporaryDirectory(prefix="billing-storm-") as tmp:
        workdir = Path(tmp)

        def run(label: str, database_url: str, is_hand: bool) -> None:
            results.append(
                storm(
                    label=label,
                    database_url=database_url,
                    workdir=workdir,
                    events=events,
                    subscriptions=subscriptions,
                    senders=senders,
                    worker_after_send=worker_after_send,
                    hand=is_hand,
                )
            )

        if sqlite:
            for is_hand in servers:
                name = "storm-hand.sqlite3" if is_hand else "storm.sqlite3"
                run("SQLite", f"sqlite:///{workdir / name}", is_hand)
        if postgres:
            bin_dir = Postgres.find_bin()
            if bin_dir is None:
                print("PostgreSQL: no server binaries, skipped", file=sys.stderr)
            else:
                pg = Postgres(bin_dir)
                try:
                    for is_hand in servers:
                        run("PostgreSQL", pg.create_database("storm_hand" if is_hand else "storm"), is_hand)
                finally:
                    pg.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--subscriptions", type=int, default=200)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument(
        "--worker-after-send",
        action="store_true",
        help="start the worker once every event is answered (the answers without a worker beside them)",
    )
    parser.add_argument(
        "--no-hand", action="store_true", help="leave out the storm against the hand-written server"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    parser.add_argument("--seed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--report", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed:
        _seed(json.loads(sys.stdin.read()))
        return 0
    if args.report:
        print(json.dumps(_report()))
        return 0
    results = run(
        events=args.events,
        subscriptions=args.subscriptions,
        senders=args.senders,
        postgres=not args.no_postgres,
        sqlite=not args.no_sqlite,
        worker_after_send=args.worker_after_send,
        hand=not args.no_hand,
    )
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
