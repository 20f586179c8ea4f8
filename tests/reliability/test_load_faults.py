"""Thousands of portal requests from 40 concurrent clients against a real gunicorn server, while
the Stripe stand-in (a process of its own) answers with a mix of 500s, 429s, dropped connections
and slow answers.

What must hold: every response is a documented response (status, JSON, `error_code` of the
documented table), each organization gets exactly one Stripe customer although its first
requests race, every 200 has its audit row (and no row lacks its 200), every portal URL
handed out opens the caller's own customer, and the server process stays up.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import figures
from tests.accounts.tokens import access_token, bad_authorization_headers
from tests.reliability import infra

pytestmark = pytest.mark.reliability

ORGANIZATIONS = 8
BILLING_USERS_PER_ORG = 4  # owner, admin, billing, billing: 32 clients racing in 8 groups
REQUESTS_PER_CLIENT = 64
WORKERS = 2
# Stripe answers slower than this time out: the latency faults straddle it.
STRIPE_TIMEOUT_SECONDS = 2

URL = "/subscriptions/portal"


@dataclass
class Client:
    name: str
    authorization: str
    # (status, error_code) this client may get; error_code None for a 200.
    expected: set[tuple[int, str | None]]
    user_id: int | None = None
    organization_id: int | None = None
    statuses: Counter[tuple[int, str | None]] = field(default_factory=Counter)
    urls: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def check_response(client: Client, response: requests.Response) -> None:
    """Record one response; anything outside the documented API goes to `client.unexpected`."""
    status = response.status_code
    problems = []
    if response.headers.get("Content-Type") != "application/json":
        problems.append(f"Content-Type {response.headers.get('Content-Type')!r}")
    try:
        body = response.json()
    except ValueError:
        body = None
        problems.append("body is not JSON")
    code: str | None = None
    if isinstance(body, dict):
        if status == 200:
            if body.get("success") is not True or not str(body.get("url", "")).startswith("http"):
                problems.append("200 without success and url")
            if response.headers.get("Cache-Control") != "no-store":
                problems.append("200 without Cache-Control: no-store")
            else:
                client.urls.append(body["url"])
        else:
            code = body.get("error_code")
            if body.get("success") is not False or not body.get("message"):
                problems.append("error without success=false and a message")
            if status in (429, 503) and not response.headers.get("Retry-After", "").isdigit():
                problems.append(f"{status} without Retry-After")
    if (status, code) not in client.expected:
        problems.append(f"({status}, {code}) is not one of {sorted(client.expected, key=str)}")
    client.statuses[(status, code)] += 1
    if problems:
        client.unexpected.append(f"{client.name}: {status} {'; '.join(problems)}: {response.text[:200]!r}")


def run_client(client: Client, base_url: str, barrier: threading.Barrier) -> None:
    http = infra.http_session()
    headers = {"Authorization": client.authorization, "Accept": "application/json"}
    barrier.wait()  # every client's first request at once: the first-request race
    try:
        for _ in range(REQUESTS_PER_CLIENT):
            started = time.monotonic()
            try:
                # The reference client: POST, no body, no Content-Type.
                response = http.post(base_url + URL, headers=headers, timeout=120)
            except requests.RequestException as e:
                client.statuses[(0, type(e).__name__)] += 1
                client.unexpected.append(f"{client.name}: no response: {type(e).__name__}")
                continue
            client.latencies.append(time.monotonic() - started)
            check_response(client, response)
    finally:
        http.close()


class Chaos:
    """Faults at the stand-in: a few queued for the customers' creation (the first-request
    race), then a steady drizzle on portal sessions while the clients run, roughly one
    Stripe request in five."""

    KINDS = (("500", 3), ("429", 2), ("drop", 2), ("latency", 3))  # (kind, weight)
    FIRST_CUSTOMERS = (("500", 2, None), ("drop", 1, None), ("latency", 1, 2500), ("429", 1, None))

    def __init__(self, standin: infra.StandinProcess, seed: int) -> None:
        self.standin = standin
        self.rng = random.Random(seed)
        self.added: Counter[str] = Counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="chaos", daemon=True)

    def _add(self, kind: str, times: int, path_prefix: str, latency_ms: int | None = None) -> None:
        fields: dict[str, Any] = {"times": times, "path_prefix": path_prefix}
        if latency_ms is not None:
            fields["latency_ms"] = latency_ms
        self.standin.add_fault(kind, **fields)
        self.added[kind] += times

    def start(self) -> None:
        for kind, times, latency_ms in self.FIRST_CUSTOMERS:
            self._add(kind, times, "/v1/customers", latency_ms)
        self.thread.start()

    def _run(self) -> None:
        kinds = [kind for kind, _ in self.KINDS]
        weights = [weight for _, weight in self.KINDS]
        while not self.stop.wait(self.rng.uniform(0.03, 0.12)):
            pending = sum(
                f["times"] or 0 for f in self.standin.faults() if f["path_prefix"] == "/v1/billing_portal"
            )
            if pending >= 3:
                continue
            kind = self.rng.choices(kinds, weights)[0]
            latency = self.rng.randint(300, int(STRIPE_TIMEOUT_SECONDS * 1300)) if kind == "latency" else None
            self._add(kind, self.rng.randint(1, 2), "/v1/billing_portal", latency)

    def injected(self) -> Counter[str]:
        """Faults that hit a request: added minus those still waiting for one."""
        remaining: Counter[str] = Counter()
        for fault in self.standin.faults():
            remaining[fault["kind"]] += fault["times"] or 0
        return self.added - remaining


@pytest.fixture(scope="module")
def app_env(
    tmp_path_factory: pytest.TempPathFactory, standin_process: infra.StandinProcess
) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("load")
    with infra.app_database(tmp) as database_url:
        env = infra.app_env(
            database_url=database_url,
            stripe_api_base=standin_process.url,
            cache_dir=tmp / "cache",
            BILLING_PORTAL_RATE="100000/min",  # the rate is proven in test_two_instances.py
            STRIPE_TIMEOUT_SECONDS=str(STRIPE_TIMEOUT_SECONDS),
            STRIPE_MAX_NETWORK_RETRIES="2",
            GUNICORN_WORKERS=str(WORKERS),
            # Every logger at its most talkative, for the secrets scan (test_zz_secrets.py).
            DJANGO_LOG_LEVEL="DEBUG",
        )
        infra.manage(env, "-m", "tests.reliability.appdb", "migrate")
        yield env


def _seed_spec() -> dict[str, Any]:
    roles = ("owner", "admin", "billing", "billing")
    organizations = [
        {
            "name": f"Load Org {i}",
            "billing_email": f"billing{i}@load.example.com" if i % 2 else "",
            "users": [{"email": f"u{j}@org{i}.load.example.com", "role": roles[j]} for j in range(4)],
        }
        for i in range(ORGANIZATIONS)
    ]
    organizations.append(
        {
            "name": "Members Only",
            "users": [{"email": f"m{j}@members.load.example.com", "role": "member"} for j in range(2)],
        }
    )
    return {
        "password": "",
        "organizations": organizations,
        "loners": [{"email": f"loner{j}@load.example.com"} for j in range(2)],
    }


def test_thousands_of_portal_requests_under_stripe_faults(
    app_env: dict[str, str], standin_process: infra.StandinProcess, log_dir: Path
) -> None:
    standin = standin_process
    standin.reset()
    seeded = infra.seed(app_env, _seed_spec())
    server = infra.AppServer(app_env, log_dir, name="load")
    try:
        _run_and_check(server, standin, seeded)
    finally:
        server.stop()


def _run_and_check(server: infra.AppServer, standin: infra.StandinProcess, seeded: dict[str, Any]) -> None:
    billing_orgs = seeded["organizations"][:ORGANIZATIONS]
    clients: list[Client] = []
    for org in billing_orgs:
        for user in org["users"]:
            clients.append(
                Client(
                    name=user["email"],
                    authorization=f"Bearer {access_token(user['id'])}",
                    expected={(200, None), (503, "BILLING_UNAVAILABLE")},
                    user_id=user["id"],
                    organization_id=org["id"],
                )
            )
    for user in seeded["organizations"][ORGANIZATIONS]["users"]:
        clients.append(
            Client(
                name=user["email"],
                authorization=f"Bearer {access_token(user['id'])}",
                expected={(403, "BILLING_PERMISSION_DENIED")},
            )
        )
    for user in seeded["loners"]:
        clients.append(
            Client(
                name=user["email"],
                authorization=f"Bearer {access_token(user['id'])}",
                expected={(400, "NO_ORGANIZATION")},
            )
        )
    victim = billing_orgs[0]["users"][0]["id"]
    for name, (header, refused_status, refused_code) in list(bad_authorization_headers(victim).items())[:4]:
        clients.append(
            Client(name=f"attacker:{name}", authorization=header, expected={(refused_status, refused_code)})
        )

    chaos = Chaos(standin, seed=7)
    barrier = threading.Barrier(len(clients))
    threads = [
        threading.Thread(target=run_client, args=(c, server.url, barrier), name=c.name) for c in clients
    ]
    started = time.monotonic()
    chaos.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    duration = time.monotonic() - started
    chaos.stop.set()
    chaos.thread.join(timeout=30)
    latency_hits = chaos.injected()["latency"]
    standin.clear_faults()
    assert not any(t.is_alive() for t in threads), "clients still running after 10 minutes"

    # Every portal URL handed out opens the caller's own customer (the stand-in records visits).
    url_owner = {url: c for c in clients for url in c.urls}
    local = threading.local()
    sessions: list[requests.Session] = []

    def open_portal(url: str) -> int:
        if not hasattr(local, "http"):  # one kept-alive connection per visiting thread
            local.http = infra.http_session()
            sessions.append(local.http)
        return int(local.http.get(url, timeout=30).status_code)

    with ThreadPoolExecutor(16) as pool:
        visit_statuses = list(pool.map(open_portal, list(url_owner)))
    for session in sessions:
        session.close()
    recorded = standin.requests_report()
    visits = {v["token"]: v for v in recorded["portal_visits"]}
    stripe_requests = recorded["requests"]
    # Error faults as the stand-in answered them; latency ones by what the chaos queued.
    injected = Counter(r["fault"] for r in stripe_requests if r["fault"])
    injected["latency"] = latency_hits
    customers = standin.customers()
    stats = standin.stats()
    db = infra.report(server.env)
    healthz = infra.get(server.url + "/healthz", timeout=10)

    # --- figures first, so that a failing run still reports them ---------------------------
    statuses: Counter[str] = Counter()
    for c in clients:
        for (status, code), n in c.statuses.items():
            statuses[f"{status} {code}" if code else str(status)] += n
    ok = sum(c.statuses[(200, None)] for c in clients)
    latencies = sorted(x for c in clients for x in c.latencies)
    sessions_created = [
        r for r in stripe_requests if r["path"] == "/v1/billing_portal/sessions" and r["status"] == 200
    ]
    audit_session_ids = {row["stripe_session_id"] for row in db["portal_sessions"]}
    returned_session_ids = {
        visits[url.rsplit("/", 1)[1]]["session"] for url in url_owner if url.rsplit("/", 1)[1] in visits
    }
    rows_lost = len(returned_session_ids - audit_session_ids)
    rows_without_200 = len(audit_session_ids - returned_session_ids)
    figures.record(
        "faults under load (one gunicorn, 2 workers x 64 threads)",
        clients=len(clients),
        requests_sent=sum(sum(c.statuses.values()) for c in clients),
        duration_s=round(duration, 1),
        requests_per_s=round(sum(sum(c.statuses.values()) for c in clients) / duration, 1),
        latency_p50_ms=round(1000 * statistics.median(latencies)) if latencies else None,
        latency_max_ms=round(1000 * latencies[-1]) if latencies else None,
        responses_by_status=statuses,
        faults_injected=dict(injected),
        stripe_requests_received=stats["requests"],
        stripe_answers_by_status=stats["by_status"],
        customers_created=len(customers),
        organizations_with_billing_users=len(billing_orgs),
        audit_rows=len(db["portal_sessions"]),
        rows_lost=rows_lost,
        audit_rows_without_a_200=rows_without_200,
        stripe_sessions_never_handed_out=max(0, len(sessions_created) - len(db["portal_sessions"])),
        worker_restarts=server.workers_booted() - WORKERS,
    )

    # --- the documented API ---------------------------------------------------------------------
    unexpected = [u for c in clients for u in c.unexpected]
    assert not unexpected, f"{len(unexpected)} responses outside the documented API:\n" + "\n".join(
        unexpected[:30]
    )
    assert sum(injected.values()) >= 100, f"too few faults hit a request to mean anything: {injected}"
    assert all(injected[kind] > 0 for kind in ("500", "429", "drop", "latency")), injected
    assert ok >= len(url_owner) > 0

    # --- one customer per organization -----------------------------------------------------
    by_org: dict[str, list[str]] = {}
    for customer in customers:
        by_org.setdefault(customer["metadata"].get("organization_id", "?"), []).append(customer["id"])
    expected_orgs = {str(org["id"]) for org in billing_orgs}
    assert set(by_org) == expected_orgs, by_org
    assert all(len(ids) == 1 for ids in by_org.values()), {k: v for k, v in by_org.items() if len(v) > 1}
    for org_id in expected_orgs:
        assert db["organizations"][org_id] == by_org[org_id][0], (org_id, db["organizations"][org_id])
    others = {k: v for k, v in db["organizations"].items() if k not in expected_orgs}
    assert all(v is None for v in others.values()), others

    # --- one audit row per 200, each for the caller's own organization and customer ----------
    rows_by_user = Counter(row["user_id"] for row in db["portal_sessions"])
    for c in clients:
        if c.user_id is not None:
            assert rows_by_user[c.user_id] == c.statuses[(200, None)], (c.name, c.statuses)
    assert len(audit_session_ids) == len(db["portal_sessions"]) == ok
    assert rows_lost == 0 and rows_without_200 == 0
    for row in db["portal_sessions"]:
        assert row["stripe_customer_id"] == db["organizations"][str(row["organization_id"])], row

    # --- tenant isolation under load: each URL opens its caller's customer -----------------
    assert set(visit_statuses) == {200}, Counter(visit_statuses)
    for url, c in url_owner.items():
        visit = visits[url.rsplit("/", 1)[1]]
        assert visit["customer"] == db["organizations"][str(c.organization_id)], (c.name, visit)
    org_customers = {db["organizations"][org_id] for org_id in expected_orgs}
    asked_for = {
        r["params"].get("customer") for r in stripe_requests if r["path"] == "/v1/billing_portal/sessions"
    }
    assert asked_for <= org_customers, asked_for - org_customers

    # --- the process stayed up -------------------------------------------------------------
    assert server.alive()
    assert server.workers_booted() == WORKERS, server.log_text()[-3000:]
    assert healthz.status_code == 200
    assert "WORKER TIMEOUT" not in server.log_text()
