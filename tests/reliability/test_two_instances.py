"""Two gunicorn servers on different ports sharing one PostgreSQL and one Redis (`REDIS_URL`),
as two instances behind a load balancer would.

Concurrent first requests split across both create one Stripe customer per organization, and
the per-user rate holds across both: exactly N successes for `N/min`, however the requests
are spread.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests import figures, logscan
from tests.accounts.tokens import access_token
from tests.reliability import infra

pytestmark = pytest.mark.reliability

RATE = 5  # per user per minute
LOGIN_RATE = 4  # per email per minute
PASSWORD = "two-instances-Password-0f7c2a"
logscan.KNOWN_SECRETS.add(PASSWORD)
RACING_ORGS = 4
USERS_PER_ORG = 6
RATE_USERS = 4
REQUESTS_PER_RATE_USER = 20


@pytest.fixture
def two_servers(
    pg_cluster_or_leg: str,
    redis_url: str,
    standin_process: infra.StandinProcess,
    tmp_path: Path,
    log_dir: Path,
) -> Iterator[tuple[dict[str, Any], list[infra.AppServer]]]:
    infra.redis_flush(redis_url)  # counters left by an earlier database with the same user ids
    standin_process.reset()
    with infra.postgres_database(pg_cluster_or_leg) as database_url:
        env = infra.app_env(
            database_url=database_url,
            stripe_api_base=standin_process.url,
            cache_dir=tmp_path / "unused-cache",
            redis_url=redis_url,
            BILLING_PORTAL_RATE=f"{RATE}/min",
            LOGIN_RATE=f"{LOGIN_RATE}/min",
            GUNICORN_WORKERS="2",
        )
        infra.manage(env, "-m", "tests.reliability.appdb", "migrate")
        roles = ("owner", "admin", "billing")
        seeded = infra.seed(
            env,
            {
                "password": PASSWORD,
                "organizations": [
                    {
                        "name": f"Two Instances Org {i}",
                        "users": [
                            {"email": f"u{j}@two{i}.example.com", "role": roles[j % 3]}
                            for j in range(USERS_PER_ORG)
                        ],
                    }
                    for i in range(RACING_ORGS)
                ],
            },
        )
        servers = [infra.AppServer(env, log_dir, name=name) for name in ("a", "b")]
        try:
            yield seeded, servers
        finally:
            for server in servers:
                server.stop()
        infra.redis_flush(redis_url)


class Answer(NamedTuple):
    base_url: str
    token: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def _fire(requests_to_send: list[tuple[str, str]]) -> list[Answer]:
    """POST each (base URL, token) at once, one thread each."""
    barrier = threading.Barrier(len(requests_to_send))
    results: list[Answer] = []
    lock = threading.Lock()

    def one(base_url: str, token: str) -> None:
        http = infra.http_session()
        try:
            barrier.wait()
            response = http.post(
                base_url + "/subscriptions/portal", headers={"Authorization": f"Bearer {token}"}, timeout=60
            )
            answer = Answer(base_url, token, response.status_code, response.json(), dict(response.headers))
            with lock:
                results.append(answer)
        finally:
            http.close()

    threads = [threading.Thread(target=one, args=pair) for pair in requests_to_send]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == len(requests_to_send), "some requests got no answer"
    return results


def test_first_requests_split_across_two_instances_create_one_customer_each(
    two_servers: tuple[dict[str, Any], list[infra.AppServer]], standin_process: infra.StandinProcess
) -> None:
    seeded, servers = two_servers
    standin_process.post("/_standin/latency", {"ms": 150})  # every first request in flight at once
    try:
        batch = [
            (servers[(i + j) % 2].url, access_token(user["id"]))
            for i, org in enumerate(seeded["organizations"])
            for j, user in enumerate(org["users"])
        ]
        results = _fire(batch)
    finally:
        standin_process.post("/_standin/latency", {"ms": 0})
    statuses = Counter(a.status for a in results)
    served_by = Counter(a.base_url for a in results)
    customers = standin_process.customers()
    db = infra.report(servers[0].env)
    figures.record(
        "two instances: first requests racing",
        requests_sent=len(results),
        served_by_instance=dict(
            Counter({"a" if u == servers[0].url else "b": n for u, n in served_by.items()})
        ),
        responses_by_status=dict(statuses),
        organizations=RACING_ORGS,
        customers_created=len(customers),
        customer_create_calls=len(
            standin_process.requests_report(method="POST", path_prefix="/v1/customers")["requests"]
        ),
        audit_rows=len(db["portal_sessions"]),
    )
    assert statuses == {200: len(batch)}, [a[:4] for a in results if a.status != 200]
    assert len(served_by) == 2
    per_org = Counter(c["metadata"]["organization_id"] for c in customers)
    assert per_org == {str(org["id"]): 1 for org in seeded["organizations"]}, per_org
    for customer in customers:
        assert db["organizations"][customer["metadata"]["organization_id"]] == customer["id"]
    assert len(db["portal_sessions"]) == len(batch)


def test_per_user_rate_holds_across_two_instances(
    two_servers: tuple[dict[str, Any], list[infra.AppServer]], standin_process: infra.StandinProcess
) -> None:
    seeded, servers = two_servers
    users = [org["users"][0] for org in seeded["organizations"][:RATE_USERS]]
    tokens = {user["id"]: access_token(user["id"]) for user in users}
    batch = [
        (servers[i % 2].url, tokens[user["id"]]) for user in users for i in range(REQUESTS_PER_RATE_USER)
    ]
    results = _fire(batch)
    by_token: dict[str, Counter[int]] = {}
    retry_after: list[int] = []
    for answer in results:
        by_token.setdefault(answer.token, Counter())[answer.status] += 1
        if answer.status == 429:
            assert answer.body["error_code"] == "RATE_LIMITED", answer.body
            retry_after.append(int(answer.headers["Retry-After"]))
    db = infra.report(servers[0].env)
    rows = Counter(row["user_id"] for row in db["portal_sessions"])
    statuses = Counter(a.status for a in results)
    figures.record(
        "two instances: per-user rate across both",
        rate=f"{RATE}/min",
        users=len(users),
        requests_sent=len(results),
        responses_by_status=dict(statuses),
        successes_per_user=sorted(c[200] for c in by_token.values()),
        retry_after_range_s=f"{min(retry_after)}..{max(retry_after)}" if retry_after else "-",
    )
    assert set(statuses) <= {200, 429}, statuses
    for token, counter in by_token.items():
        assert counter[200] == RATE, (token[-8:], counter)
    for user in users:
        assert rows[user["id"]] == RATE
    assert all(1 <= s <= 60 for s in retry_after), retry_after


def test_login_rate_holds_across_two_instances(
    two_servers: tuple[dict[str, Any], list[infra.AppServer]],
) -> None:
    """12 wrong passwords for one account at once, split across both instances: exactly
    LOGIN_RATE failures are checked (401), the rest are 429 RATE_LIMITED, and the account's
    right password is then refused too from that address (no token minted)."""
    seeded, servers = two_servers
    email = seeded["organizations"][0]["users"][1]["email"]
    attempts = 12
    barrier = threading.Barrier(attempts)
    answers: list[tuple[int, dict[str, Any], str]] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        http = infra.http_session()
        try:
            barrier.wait()
            password = "wrong-guess"
            response = http.post(
                servers[n % 2].url + "/auth/token/", json={"email": email, "password": password}, timeout=60
            )
            with lock:
                answers.append(
                    (response.status_code, response.json(), response.headers.get("Retry-After", ""))
                )
        finally:
            http.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    statuses = Counter(status for status, _, _ in answers)
    figures.record(
        "two instances: login rate across both",
        rate=f"{LOGIN_RATE}/min per email",
        attempts=attempts,
        responses_by_status=dict(statuses),
    )
    assert len(answers) == attempts
    assert statuses == Counter({401: LOGIN_RATE, 429: attempts - LOGIN_RATE}), statuses
    with infra.http_session() as http:
        right = http.post(
            servers[1].url + "/auth/token/", json={"email": email, "password": PASSWORD}, timeout=60
        )
    assert right.status_code == 429 and "access" not in right.json(), right.text
    for status, body, retry_after in answers:
        if status == 429:
            assert body["error_code"] == "RATE_LIMITED" and "access" not in body, body
            assert retry_after.isdigit() and 1 <= int(retry_after) <= 60, retry_after
