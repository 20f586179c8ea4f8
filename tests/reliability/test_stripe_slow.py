"""Stripe slow, or frozen, under a real gunicorn server: the rest of the app keeps working.

- Customer creation takes 12 s: webhooks, logins, `GET /subscriptions/my`, portal requests of
  organizations that already have a customer and `/healthz` answer 200 within 2 s meanwhile;
  other organizations' first portal requests answer 200 or 503, never 500.
- Customer creation takes 2 s and 20 first requests for one organization race: one customer.
- Stripe frozen: 140 concurrent portal requests all get 503 within 20 s, while `/healthz`, a
  login, `GET /subscriptions/my`, the billing page and webhooks answer in under a second;
  then the circuit breaker is open: with Stripe still frozen, new portal requests answer 503
  in under a second without calling it.

Runs on the leg's database (a SQLite file, or PostgreSQL in CI's second leg), with the
production defaults for Stripe's timeouts, deadline, bulkhead (its size follows the worker's
threads) and breaker: none of them is set here.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import figures
from tests.accounts.tokens import access_token
from tests.reliability import infra
from tests.reliability.test_webhooks import sign

pytestmark = pytest.mark.reliability

PORTAL = "/subscriptions/portal"
PASSWORD = "slow-stripe-password-0123"


@pytest.fixture(scope="module")
def slow_env(
    tmp_path_factory: pytest.TempPathFactory, standin_process: infra.StandinProcess
) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("stripe-slow")
    with infra.app_database(tmp) as database_url:
        env = infra.app_env(
            database_url=database_url,
            stripe_api_base=standin_process.url,
            cache_dir=tmp / "cache",
            BILLING_PORTAL_RATE="100000/min",
            LOGIN_RATE="100000/min",
            LOGIN_IP_RATE="100000/min",
        )
        infra.manage(env, "-m", "tests.reliability.appdb", "migrate")
        infra.manage(env, "collectstatic", "--noinput", "-v", "0")  # the pages, as in production
        yield env


@pytest.fixture(scope="module")
def seeded(slow_env: dict[str, str], standin_process: infra.StandinProcess) -> dict[str, Any]:
    standin_process.reset()
    with_customer = [standin_process.post("/_standin/customers", {"name": f"Paying {i}"}) for i in range(14)]
    spec: dict[str, Any] = {
        "password": PASSWORD,
        "organizations": [
            *(
                {"name": f"New {i}", "users": [{"email": f"owner@new{i}.example.com", "role": "owner"}]}
                for i in range(4)
            ),
            *(
                {
                    "name": f"Paying {i}",
                    "stripe_customer_id": customer["id"],
                    "users": [
                        {"email": f"owner@paying{i}.example.com", "role": "owner"},
                        {"email": f"member@paying{i}.example.com", "role": "member"},
                    ],
                }
                for i, customer in enumerate(with_customer)
            ),
        ],
    }
    result = infra.seed(slow_env, spec)
    result["customers"] = [c["id"] for c in with_customer]
    return result


@pytest.fixture(scope="module")
def server(slow_env: dict[str, str], seeded: dict[str, Any], log_dir: Path) -> Iterator[infra.AppServer]:
    app = infra.AppServer(slow_env, log_dir, name="stripe-slow")
    yield app
    app.stop()


def _bearer(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token(user['id'])}"}


def _subscription_event(customer_id: str) -> bytes:
    now = int(time.time())
    subscription = {
        "id": f"sub_slow_{now}_{customer_id[-6:]}",
        "object": "subscription",
        "customer": customer_id,
        "status": "active",
        "created": now,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "trial_end": None,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_slow",
                    "price": {"id": "price_slow", "product": "prod_slow"},
                    "quantity": 1,
                    "current_period_end": now + 86400 * 30,
                }
            ],
        },
    }
    return json.dumps(
        {
            "id": f"evt_slow_{now}_{customer_id[-6:]}",
            "object": "event",
            "type": "customer.subscription.created",
            "created": now,
            "data": {"object": subscription},
            "livemode": False,
            "api_version": "2026-10-28.endive",
        }
    ).encode()


def _login_page(http: requests.Session, base: str, email: str) -> requests.Response:
    """The form login, then the billing page, as a browser would."""
    form = http.get(base + "/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token, form.text[:300]
    http.post(
        base + "/accounts/login/",
        data={"csrfmiddlewaretoken": token.group(1), "username": email, "password": PASSWORD},
        headers={"Referer": base + "/accounts/login/"},
        timeout=10,
    )
    return http.get(base + "/billing/", timeout=10)


class Probes:
    """The doors that never call Stripe, each timed again and again while Stripe is slow."""

    def __init__(self, base: str, seeded: dict[str, Any], *, paying: int, with_portal: bool) -> None:
        self.base = base
        self.owner, self.member = seeded["organizations"][4 + paying]["users"]
        self.customer_id = seeded["customers"][paying]
        self.with_portal = with_portal
        self.timings: dict[str, list[tuple[int, float]]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.http = infra.http_session()
        self.browser = infra.http_session()
        _login_page(self.browser, base, self.member["email"])  # before Stripe slows down

    def _time(self, name: str, send: Callable[..., requests.Response], url: str, **kwargs: Any) -> None:
        started = time.monotonic()
        try:
            status = send(self.base + url, timeout=30, **kwargs).status_code
        except requests.RequestException:
            status = 0
        self.timings.setdefault(name, []).append((status, time.monotonic() - started))

    def _run(self) -> None:
        http, member, owner = self.http, _bearer(self.member), _bearer(self.owner)
        login = {"email": self.member["email"], "password": PASSWORD}
        round_no = 0
        while not self.stop.is_set():
            round_no += 1
            self._time("healthz", http.get, "/healthz")
            self._time("login", http.post, "/auth/token/", json=login)
            self._time("subscriptions/my", http.get, "/subscriptions/my", headers=member)
            self._time("billing page", self.browser.get, "/billing/")
            body = _subscription_event(f"{self.customer_id}{round_no}")
            headers = {"Stripe-Signature": sign(body), "Content-Type": "application/json"}
            self._time("webhook", http.post, "/subscriptions/webhook", data=body, headers=headers)
            if self.with_portal:
                self._time("portal, has a customer", http.post, PORTAL, headers=owner)
            self.stop.wait(0.2)

    def __enter__(self) -> Probes:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=120)
        self.http.close()
        self.browser.close()

    def worst(self) -> dict[str, tuple[set[int], float]]:
        return {
            name: ({status for status, _ in answers}, round(max(t for _, t in answers), 2))
            for name, answers in self.timings.items()
        }


def _post_portal(base: str, user: dict[str, Any]) -> tuple[int, str | None, float]:
    started = time.monotonic()
    with infra.http_session() as http:
        try:
            response = http.post(base + PORTAL, headers=_bearer(user), timeout=120)
        except requests.RequestException as e:
            return 0, type(e).__name__, time.monotonic() - started
    code = response.json().get("error_code") if response.status_code != 200 else None
    return response.status_code, code, time.monotonic() - started


def test_a_12_second_customer_creation_holds_up_nothing_else(
    server: infra.AppServer, seeded: dict[str, Any], standin_process: infra.StandinProcess
) -> None:
    standin_process.clear_faults()
    standin_process.add_fault("latency", method="POST", path_prefix="/v1/customers", latency_ms=12_000)
    firsts = [org["users"][0] for org in seeded["organizations"][:3]]
    try:
        with ThreadPoolExecutor(len(firsts)) as pool:
            pending = [pool.submit(_post_portal, server.url, user) for user in firsts]
            time.sleep(0.5)  # the first requests are waiting on Stripe
            with Probes(server.url, seeded, paying=0, with_portal=True) as probes:
                time.sleep(6)
            answers = [f.result() for f in pending]
    finally:
        standin_process.clear_faults()

    worst = probes.worst()
    figures.record(
        "Stripe creating customers in 12 s",
        first_requests=[(status, code, round(seconds, 1)) for status, code, seconds in answers],
        slowest_other_doors=worst,
    )
    assert {status for status, _, _ in answers} <= {200, 503}, answers
    for name, (statuses, slowest) in worst.items():
        assert statuses == {200}, (name, probes.timings[name])
        assert slowest < 2.0, (name, probes.timings[name])


def test_twenty_racing_first_requests_with_a_2_second_creation_make_one_customer(
    server: infra.AppServer, seeded: dict[str, Any], standin_process: infra.StandinProcess
) -> None:
    standin_process.clear_faults()
    standin_process.add_fault("latency", method="POST", path_prefix="/v1/customers", latency_ms=2_000)
    organization = seeded["organizations"][3]
    owner = organization["users"][0]
    try:
        barrier = threading.Barrier(20)

        def race() -> tuple[int, str | None, float]:
            barrier.wait()
            return _post_portal(server.url, owner)

        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda _: race(), range(20)))
    finally:
        standin_process.clear_faults()

    mine = [
        c
        for c in standin_process.customers()
        if c["metadata"].get("organization_id") == str(organization["id"])
    ]
    figures.record(
        "20 first requests racing a 2 s customer creation",
        statuses=dict(Counter(status for status, _, _ in answers)),
        customers_created=len(mine),
    )
    assert [status for status, _, _ in answers] == [200] * 20, answers
    assert len(mine) == 1, mine


def test_a_frozen_stripe_answers_503_to_every_portal_request_and_nothing_else_waits(
    server: infra.AppServer, seeded: dict[str, Any], standin_process: infra.StandinProcess
) -> None:
    standin_process.clear_faults()
    standin_process.add_fault("latency", path_prefix="/v1/", latency_ms=120_000)
    owners = [org["users"][0] for org in seeded["organizations"][4:]]
    callers = [owners[i % len(owners)] for i in range(140)]
    try:
        with Probes(server.url, seeded, paying=1, with_portal=False) as probes:
            started = time.monotonic()
            with ThreadPoolExecutor(len(callers)) as pool:
                answers = list(pool.map(lambda user: _post_portal(server.url, user), callers))
            took = time.monotonic() - started
        # Still frozen: the timeouts opened each worker's breaker (refusals by the full
        # bulkhead do not count against them), so Stripe is no longer called.
        calls_before = standin_process.stats()["requests"]
        after_breaker = [_post_portal(server.url, owners[i % len(owners)]) for i in range(8)]
        calls_after = standin_process.stats()["requests"] - calls_before
    finally:
        standin_process.clear_faults()

    worst = probes.worst()
    outcomes = Counter((status, code) for status, code, _ in answers)
    figures.record(
        "Stripe frozen, 140 concurrent portal requests",
        outcomes={f"{s} {c}": n for (s, c), n in outcomes.items()},
        slowest_portal_answer_s=round(max(seconds for _, _, seconds in answers), 1),
        all_answered_in_s=round(took, 1),
        slowest_other_doors=worst,
        breaker_open_answers=[(status, code, round(seconds, 2)) for status, code, seconds in after_breaker],
        stripe_calls_once_open=calls_after,
    )
    assert outcomes == Counter({(503, "BILLING_UNAVAILABLE"): 140}), outcomes
    assert max(seconds for _, _, seconds in answers) < 20, answers
    assert [(status, code) for status, code, _ in after_breaker] == [(503, "BILLING_UNAVAILABLE")] * 8
    assert calls_after == 0, after_breaker  # the stand-in's own control calls are not counted
    assert max(seconds for _, _, seconds in after_breaker) < 1.0, after_breaker
    for name, (statuses, slowest) in worst.items():
        assert statuses == {200}, (name, probes.timings[name])
        # A login hashes its password (PBKDF2: about 0.4 s of CPU on its own), and while the
        # 140 requests arrive at once it shares two cores with them (and, on CI's PostgreSQL
        # leg, with two database servers): seen up to 2 s there, so it is held to 2.5 s.
        assert slowest < (2.5 if name == "login" else 1.0), (name, probes.timings[name])


@pytest.fixture(scope="module")
def small_postgres() -> Iterator[infra.PgCluster]:
    """A PostgreSQL of its default size: max_connections=100."""
    with infra.throwaway_pg_cluster(max_connections=100) as cluster:
        yield cluster


def _connections(server_url: str, database_url: str) -> int:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(
        infra.postgres_url(server_url, "postgres"), autocommit=True, connect_timeout=5
    ) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)).fetchone()
    return int(row[0]) if row else 0


def test_postgresql_pool_keeps_an_instance_within_its_connections(
    small_postgres: infra.PgCluster,
    standin_process: infra.StandinProcess,
    tmp_path: Path,
    log_dir: Path,
) -> None:
    """140 concurrent portal requests at 1 s Stripe latency against max_connections=100: no 500,
    and the app never holds more than workers x DATABASE_POOL_MAX_SIZE connections."""
    workers, pool_max = 2, 16
    standin_process.reset()
    customers = [standin_process.post("/_standin/customers", {"name": f"Pooled {i}"}) for i in range(14)]
    with infra.postgres_database(small_postgres.server_url) as database_url:
        env = infra.app_env(
            database_url=database_url,
            stripe_api_base=standin_process.url,
            cache_dir=tmp_path / "cache",
            BILLING_PORTAL_RATE="100000/min",
            GUNICORN_WORKERS=str(workers),
            DATABASE_POOL_MAX_SIZE=str(pool_max),
            # Every request in flight at once reaches Stripe: the pool, not the bulkhead, is tested.
            STRIPE_MAX_CONCURRENT_CALLS="128",
        )
        infra.manage(env, "-m", "tests.reliability.appdb", "migrate")
        seeded = infra.seed(
            env,
            {
                "password": "",
                "organizations": [
                    {
                        "name": f"Pooled {i}",
                        "stripe_customer_id": customer["id"],
                        "users": [{"email": f"owner@pooled{i}.example.com", "role": "owner"}],
                    }
                    for i, customer in enumerate(customers)
                ],
            },
        )
        owners = [org["users"][0] for org in seeded["organizations"]]
        standin_process.add_fault("latency", path_prefix="/v1/", latency_ms=1000)
        server = infra.AppServer(env, log_dir, name="pooled")
        peak = 0
        sampling = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not sampling.is_set():
                peak = max(peak, _connections(small_postgres.server_url, database_url))
                sampling.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        try:
            sampler.start()
            with ThreadPoolExecutor(140) as pool:
                answers = list(
                    pool.map(lambda n: _post_portal(server.url, owners[n % len(owners)]), range(140))
                )
            after = _connections(small_postgres.server_url, database_url)
        finally:
            sampling.set()
            sampler.join(timeout=10)
            standin_process.clear_faults()
            server.stop()
        psql_ok = _connections(small_postgres.server_url, database_url) >= 0  # still accepts a client

    outcomes = Counter((status, code) for status, code, _ in answers)
    figures.record(
        "PostgreSQL max_connections=100, 140 portal requests at 1 s Stripe latency",
        outcomes={f"{s} {c}": n for (s, c), n in outcomes.items()},
        peak_app_connections=peak,
        connections_after=after,
        pool_limit=workers * pool_max,
    )
    assert not [o for o in outcomes if o[0] >= 500 and o != (503, "BILLING_UNAVAILABLE")], outcomes
    assert outcomes[(200, None)] > 0, outcomes
    assert peak <= workers * pool_max, peak
    assert psql_ok
