"""Redis (REDIS_URL, where the rate limits live) killed under a running gunicorn server, then
started again, empty.

While it is down, the rate limit cannot be checked: portal requests and logins are refused
(fail closed: no unlimited portal sessions or password guesses), as JSON errors of the
documented API, quickly, and nothing reaches Stripe. When it is back, the same server serves again.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import figures
from tests.accounts.tokens import access_token
from tests.reliability import infra

pytestmark = pytest.mark.reliability


@pytest.fixture
def own_redis(log_dir: Path) -> Iterator[infra.RedisProcess]:
    """A redis-server of this test's own: it gets killed."""
    try:
        server = infra.RedisProcess(log_dir)
    except FileNotFoundError:
        pytest.skip("no redis-server")
    yield server
    server.stop()


def _json_code(response: Any) -> str | None:
    if response.headers.get("Content-Type") != "application/json":
        return None
    body = response.json()
    return body.get("error_code") if isinstance(body, dict) else None


def test_redis_down_fails_closed_with_json_and_recovers(
    own_redis: infra.RedisProcess,
    standin_process: infra.StandinProcess,
    tmp_path: Path,
    log_dir: Path,
) -> None:
    standin_process.reset()
    with infra.app_database(tmp_path) as database_url:
        env = infra.app_env(
            database_url=database_url,
            stripe_api_base=standin_process.url,
            cache_dir=tmp_path / "unused-cache",
            redis_url=own_redis.url,
            BILLING_PORTAL_RATE="1000/min",
        )
        infra.manage(env, "-m", "tests.reliability.appdb", "migrate")
        seeded = infra.seed(
            env,
            {
                "organizations": [
                    {"name": "Redis Org", "users": [{"email": "o@redis.example.com", "role": "owner"}]}
                ]
            },
        )
        token = access_token(seeded["organizations"][0]["users"][0]["id"])
        server = infra.AppServer(env, log_dir, name="redis-outage")
        http = infra.http_session()
        auth = {"Authorization": f"Bearer {token}"}
        try:
            before = http.post(server.url + "/subscriptions/portal", headers=auth, timeout=30)
            stripe_calls_before = standin_process.stats()["requests"]

            own_redis.kill()
            down: list[tuple[str, int, str | None, float]] = []
            for _ in range(5):
                for name, call in (
                    (
                        "portal",
                        lambda: http.post(server.url + "/subscriptions/portal", headers=auth, timeout=30),
                    ),
                    (
                        "token",
                        lambda: http.post(
                            server.url + "/auth/token/",
                            json={"email": "o@redis.example.com", "password": "guess"},
                            timeout=30,
                        ),
                    ),
                ):
                    started = time.monotonic()
                    response = call()
                    down.append(
                        (name, response.status_code, _json_code(response), time.monotonic() - started)
                    )
            health_down = http.get(server.url + "/healthz", timeout=30)
            stripe_calls_down = standin_process.stats()["requests"] - stripe_calls_before

            own_redis.start()
            after = [
                http.post(server.url + "/subscriptions/portal", headers=auth, timeout=30) for _ in range(3)
            ]
            alive = server.alive()
        finally:
            http.close()
            server.stop()

    figures.record(
        "Redis killed under a running server (REDIS_URL)",
        answers_while_down=dict(Counter(f"{name} {status} {code}" for name, status, code, _ in down)),
        slowest_answer_while_down_s=round(max(d for *_, d in down), 2),
        stripe_calls_while_down=stripe_calls_down,
        healthz_while_down=health_down.status_code,
        portal_after_restart=[r.status_code for r in after],
    )
    assert before.status_code == 200, before.text
    for name, status, code, seconds in down:
        assert status >= 500 and code is not None, (name, status, code)
        assert seconds < 10, (name, seconds)
    assert stripe_calls_down == 0
    # No request that needs the shared cache can work: the health check says which part failed.
    assert health_down.status_code == 503, health_down.text
    assert health_down.json()["checks"]["database"] == "ok", health_down.text
    assert health_down.json()["checks"]["cache"] != "ok", health_down.text
    assert [r.status_code for r in after] == [200, 200, 200], [r.text for r in after]
    assert alive
