"""Fixtures of the reliability suite: real processes (gunicorn, the stand-in, PostgreSQL, Redis).

Every test under tests/reliability/ is marked `reliability` (run just this suite with
`pytest -m reliability`). The suite's figures and the secrets scan of every log line are
the session's, in tests/conftest.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import figures, logscan
from tests.reliability import infra

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.reliability)


# The servers' own secrets: the session-finish scan (tests/conftest.py) looks for them too.
logscan.KNOWN_SECRETS.update({infra.SERVER_STRIPE_KEY, infra.SERVER_WEBHOOK_SECRET})


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reliability-logs")


@pytest.fixture(scope="module")
def standin_process(log_dir: Path) -> Iterator[infra.StandinProcess]:
    """The Stripe stand-in as a process of its own (`python -m stripe_standin`)."""
    standin = infra.StandinProcess(log_dir)
    yield standin
    standin.stop()


@pytest.fixture(scope="session")
def redis_url(log_dir: Path) -> Iterator[str]:
    """CI's Redis (TEST_REDIS_URL), else a redis-server of our own; skip without either."""
    url = os.environ.get("TEST_REDIS_URL", "")
    if url:
        yield url
        return
    try:
        server = infra.RedisProcess(log_dir)
    except FileNotFoundError:
        pytest.skip("no Redis: set TEST_REDIS_URL or install redis-server")
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[infra.PgCluster]:
    """A throwaway PostgreSQL cluster of the suite's own, which tests may stop and start."""
    started = time.monotonic()
    with infra.throwaway_pg_cluster() as cluster:
        figures.record("setup", throwaway_postgresql_seconds=round(time.monotonic() - started, 1))
        yield cluster


@pytest.fixture(scope="session")
def pg_cluster_or_leg(request: pytest.FixtureRequest) -> str:
    """A PostgreSQL server URL: this leg's (DATABASE_URL) when it is PostgreSQL, else the
    suite's throwaway cluster."""
    leg = infra.leg_database_url()
    if leg:
        return leg
    cluster: infra.PgCluster = request.getfixturevalue("pg_cluster")
    return cluster.server_url
