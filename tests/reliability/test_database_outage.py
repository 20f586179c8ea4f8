"""PostgreSQL stopped under a running gunicorn server, then started again.

While it is down: every API answer is a JSON error envelope (never an HTML page), the
portal's a 503 `SERVICE_UNAVAILABLE`, and `/healthz` answers 503. Once it is back, the same
server processes (their pools, with CONN_HEALTH_CHECKS) serve every client again without a
restart, and no 200 lacks its audit row.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import figures
from tests.accounts.tokens import access_token
from tests.reliability import infra

pytestmark = pytest.mark.reliability

CLIENTS = 8
WORKERS = 2


@pytest.fixture
def outage_env(
    pg_cluster: infra.PgCluster,
    standin_process: infra.StandinProcess,
    tmp_path: Path,
) -> Iterator[dict[str, str]]:
    with infra.postgres_database(pg_cluster.server_url) as database_url:
        env = infra.app_env(
            database_url=database_url,
            stripe_api_base=standin_process.url,
            cache_dir=tmp_path / "cache",
            BILLING_PORTAL_RATE="100000/min",
            GUNICORN_WORKERS=str(WORKERS),
        )
        infra.manage(env, "-m", "tests.reliability.appdb", "migrate")
        yield env
        if not pg_cluster.is_running():  # a failed test must not leave the cluster down
            pg_cluster.start()


class Load:
    """Clients posting to the portal API in a loop; every answer recorded with its phase."""

    def __init__(self, base_url: str, tokens: list[str]) -> None:
        self.base_url = base_url
        self.tokens = tokens
        self.phase = "before"
        self.answers: list[tuple[str, int, str, str]] = []  # (phase, status, content type, body)
        self.served_after: Counter[str] = Counter()  # 200s answered in the "after" phase, per client
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(t,), daemon=True) for t in tokens]

    def _run(self, token: str) -> None:
        http = infra.http_session()
        while not self.stop.is_set():
            started_in = self.phase
            try:
                response = http.post(
                    self.base_url + "/subscriptions/portal",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=60,
                )
                answer = (
                    self._phase_of(started_in),
                    response.status_code,
                    response.headers.get("Content-Type", ""),
                    response.text,
                )
            except requests.RequestException as e:
                answer = (self._phase_of(started_in), 0, "", type(e).__name__)
            with self.lock:
                self.answers.append(answer)
                if answer[:2] == ("after", 200):
                    self.served_after[token] += 1
            time.sleep(0.02)
        http.close()

    def _phase_of(self, started_in: str) -> str:
        """The phase a request belongs to: the one it started and was answered in, else
        "across" (one that started while the database was down may wait for a pooled
        connection, and be served, or time out, once it is back)."""
        return started_in if self.phase == started_in else "across"

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=90)


def _is_json_error(content_type: str, body: str) -> bool:
    import json

    if content_type != "application/json":
        return False
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("success") is False and bool(parsed.get("error_code"))


def test_postgresql_stopped_mid_run_then_back(
    outage_env: dict[str, str],
    pg_cluster: infra.PgCluster,
    standin_process: infra.StandinProcess,
    log_dir: Path,
) -> None:
    standin_process.reset()
    seeded = infra.seed(
        outage_env,
        {
            "password": "",
            "organizations": [
                {
                    "name": f"Outage Org {i}",
                    "users": [
                        {"email": f"u{j}@outage{i}.example.com", "role": "owner"} for j in range(CLIENTS // 2)
                    ],
                }
                for i in range(2)
            ],
        },
    )
    tokens = [access_token(u["id"]) for org in seeded["organizations"] for u in org["users"]]
    server = infra.AppServer(outage_env, log_dir, name="outage")
    http = infra.http_session()
    load = Load(server.url, tokens)
    try:
        load.start()
        time.sleep(3)

        load.phase = "stopping"  # requests started now may still finish before it is down
        down_at = time.monotonic()
        pg_cluster.stop("fast")
        load.phase = "down"
        time.sleep(0.5)
        health_down = http.get(server.url + "/healthz", timeout=30)
        # The other API doors, while the database is down.
        others = {
            "POST /auth/token/": http.post(
                server.url + "/auth/token/",
                json={"email": "u0@outage0.example.com", "password": "x"},
                timeout=30,
            ),
            "POST /auth/token/refresh/": http.post(
                server.url + "/auth/token/refresh/", json={"refresh": "not-a-token"}, timeout=30
            ),
            "GET /subscriptions/my": http.get(
                server.url + "/subscriptions/my", headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=30
            ),
        }
        time.sleep(3)

        load.phase = "restarting"
        pg_cluster.start()
        up_at = time.monotonic()
        infra.wait_until(
            lambda: http.get(server.url + "/healthz", timeout=10).status_code == 200,
            timeout=60,
            what="/healthz to answer 200 again",
        )
        recovered_at = time.monotonic()
        load.phase = "after"
        time.sleep(3)
    finally:
        load.finish()
        if not pg_cluster.is_running():
            pg_cluster.start()
    db = infra.report(server.env)
    alive = server.alive()
    booted = server.workers_booted()
    server.stop()
    http.close()

    by_phase: dict[str, Counter[str]] = {}
    for phase, status, content_type, body in load.answers:
        kind = str(status)
        if status not in (0, 200):
            kind += " " + ("JSON" if _is_json_error(content_type, body) else f"NOT JSON ({content_type})")
        by_phase.setdefault(phase, Counter())[kind] += 1
    ok = sum(1 for a in load.answers if a[1] == 200)
    figures.record(
        "PostgreSQL stopped mid-run (one gunicorn, own throwaway cluster)",
        requests_sent=len(load.answers),
        responses_by_phase={k: dict(v) for k, v in by_phase.items()},
        down_for_s=round(up_at - down_at, 1),
        healthz_while_down=health_down.status_code,
        seconds_from_start_to_healthy=round(recovered_at - up_at, 1),
        other_doors_while_down={
            k: f"{r.status_code} {r.headers.get('Content-Type')}" for k, r in others.items()
        },
        audit_rows=len(db["portal_sessions"]),
        rows_lost=ok - len(db["portal_sessions"]),
        worker_restarts=booted - WORKERS,
    )

    assert health_down.status_code == 503, health_down.text
    assert health_down.headers["Content-Type"] == "application/json"
    not_json = [a for a in load.answers if a[1] not in (0, 200) and not _is_json_error(a[2], a[3])]
    assert not not_json, not_json[:5]
    assert all(a[1] != 0 for a in load.answers), Counter(a[3] for a in load.answers if a[1] == 0)
    down = by_phase.get("down", Counter())
    assert sum(down.values()) > 0 and "200" not in down, down
    for name, response in others.items():
        assert response.status_code >= 400 and _is_json_error(
            response.headers.get("Content-Type", ""), response.text
        ), (name, response.status_code, response.text[:300])
    assert by_phase["before"]["200"] > 0, by_phase
    after = by_phase.get("after", Counter())
    assert set(after) == {"200"}, after
    # Every client is served again once /healthz is: no worker's pool still waiting out its
    # reconnection backoff while the database is back (each client's requests reach both).
    assert len(load.served_after) == len(tokens), (dict(load.served_after), after)
    assert ok == len(db["portal_sessions"])
    assert alive and booted == WORKERS
    codes = Counter(_error_code(a[3]) for a in load.answers if a[0] == "down")
    figures.record("PostgreSQL stopped mid-run (one gunicorn, own throwaway cluster)", codes_while_down=codes)
    # A database that does not answer is a 503 to retry, not a crash.
    assert set(down) == {"503 JSON"} and set(codes) == {"SERVICE_UNAVAILABLE"}, (down, codes)
    assert others["POST /auth/token/"].status_code == 503, others["POST /auth/token/"].text


def _error_code(body: str) -> Any:
    import json

    try:
        return json.loads(body).get("error_code")
    except (ValueError, AttributeError):
        return None
