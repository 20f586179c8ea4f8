"""Real processes for the reliability suite: gunicorn app servers, the Stripe stand-in run as
its own process, databases (SQLite files, PostgreSQL databases and throwaway clusters) and Redis.

Everything listens on 127.0.0.1 on a free port, writes its output to a log file that the
suite scans for secrets (see `LOG_FILES`), and is stopped by the fixture that started it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from tests import logscan

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

# Every log file a process of the suite wrote: scanned for secrets when the session finishes
# (tests/conftest.py), whatever tests were selected.
LOG_FILES: list[Path] = logscan.LOG_FILES

# Secrets the app servers are configured with (distinct from the in-process test settings',
# so that a leak says which side it came from). The JWT signing key is the test settings' own,
# so that tokens minted in-process are valid on the servers.
SERVER_STRIPE_KEY = "sk_test_reliability_" + uuid.uuid4().hex
SERVER_WEBHOOK_SECRET = "whsec_reliability_" + uuid.uuid4().hex


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_session() -> requests.Session:
    """A keep-alive HTTP client that ignores proxy settings from the environment."""
    session = requests.Session()
    session.trust_env = False
    return session


def get(url: str, **kwargs: Any) -> requests.Response:
    """A one-off GET that ignores proxy settings from the environment."""
    with http_session() as session:
        return session.get(url, **kwargs)


def wait_until(predicate: Any, *, timeout: float, interval: float = 0.1, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


# --- the Stripe stand-in, as a process of its own ----------------------------------------------


class StandinProcess:
    """`python -m stripe_standin` on a free port, driven through its `/_standin/` endpoints."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"standin-{self.port}.log"
        LOG_FILES.append(self.log_path)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "stripe_standin", "--port", str(self.port)],
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.http = http_session()
        wait_until(lambda: self.get("/_standin/stats") is not None, timeout=20, what="the stand-in")

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(self.url + path, params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.post(self.url + path, json=body or {}, timeout=30)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self.post("/_standin/reset")

    def add_fault(self, kind: str, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.post("/_standin/faults", {"kind": kind, **fields})
        return result

    def clear_faults(self) -> None:
        self.http.delete(self.url + "/_standin/faults", timeout=30).raise_for_status()

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/_standin/faults")
        return result

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/_standin/stats")
        return result

    def customers(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/_standin/customers")
        return result

    def requests_report(self, **query: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/_standin/requests", **query)
        return result

    def stop(self) -> None:
        self.http.close()
        _stop(self.proc)
        self._log.close()


# --- databases ----------------------------------------------------------------------------------


def postgres_url(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, ""))


def _pg_connect(url: str) -> Any:
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or None,
        dbname=parts.path.lstrip("/") or "postgres",
        autocommit=True,
        connect_timeout=5,
    )


@contextlib.contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server of `server_url`; dropped afterwards."""
    name = f"reliability_{uuid.uuid4().hex[:12]}"
    with _pg_connect(postgres_url(server_url, "postgres")) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_url(server_url, name)
    finally:
        with _pg_connect(postgres_url(server_url, "postgres")) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def leg_database_url() -> str | None:
    """The PostgreSQL server of this CI leg (`DATABASE_URL`), or None on the SQLite leg."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://", "pgsql://")) else None


@contextlib.contextmanager
def app_database(tmp: Path) -> Iterator[str]:
    """The database app servers share: a new PostgreSQL database on this leg's server when
    `DATABASE_URL` is PostgreSQL, else a SQLite file (the embedded default)."""
    server = leg_database_url()
    if server:
        with postgres_database(server) as url:
            yield url
    else:
        yield f"sqlite:///{tmp / 'app.sqlite3'}"


def pg_bin_dir() -> Path | None:
    candidates = [os.environ.get("TEST_PG_BIN", "")]
    candidates += sorted(
        (str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parent.name.split(".")],
        reverse=True,
    )
    if pg_ctl := shutil.which("pg_ctl"):
        candidates.append(str(Path(pg_ctl).parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "pg_ctl").exists() and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


@contextlib.contextmanager
def throwaway_pg_cluster(*, max_connections: int = 200) -> Iterator[PgCluster]:
    """A PostgreSQL cluster of the suite's own, started for the block and removed after it.

    Straight under the system temp dir: pytest's own is private to this user, and the cluster
    runs as `postgres` when the suite runs as root. Skips without PostgreSQL's binaries.
    """
    import pytest

    bin_dir = pg_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl): set TEST_PG_BIN or install postgresql")
    base = Path(tempfile.mkdtemp(prefix="reliability-pg-"))
    cluster = PgCluster(bin_dir, base, max_connections=max_connections)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


class PgCluster:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl) on a free port, for tests that stop it.

    Run as the `postgres` user when the suite runs as root (initdb refuses root).
    """

    def __init__(self, bin_dir: Path, base: Path, *, max_connections: int = 200) -> None:
        self.bin = bin_dir
        self.max_connections = max_connections
        self.base = base
        self.data = base / "data"
        self.log_path = base / "postgresql.log"
        self.port = free_port()
        self.server_url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        LOG_FILES.append(self.log_path)
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise RuntimeError("running as root without runuser: cannot start PostgreSQL")
            self._as_postgres = [runuser, "-u", "postgres", "--"]
            shutil.chown(base, user="postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            [*self._as_postgres, str(self.bin / tool), *args], capture_output=True, timeout=120
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {result.stderr.decode(errors='replace')}")
        return result

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.base} "
            f"-c max_connections={self.max_connections} -c fsync=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-w", "-t", "60", "-o", options, "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def is_running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0


# --- Redis --------------------------------------------------------------------------------------


class RedisProcess:
    """A redis-server of our own on a free port (no persistence)."""

    def __init__(self, log_dir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = log_dir / f"redis-{self.port}.log"
        LOG_FILES.append(self.log_path)
        self._log = self.log_path.open("ab")
        self.start()

    def start(self) -> None:
        """(Re)start on the same port, empty."""
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

        def ready() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")

        wait_until(ready, timeout=20, what="redis-server")

    def kill(self) -> None:
        _stop(self.proc, signal.SIGKILL)

    def stop(self) -> None:
        _stop(self.proc)
        self._log.close()


def redis_flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


# --- the app ------------------------------------------------------------------------------------


def app_env(
    *,
    database_url: str,
    stripe_api_base: str,
    cache_dir: Path,
    redis_url: str = "",
    **overrides: str,
) -> dict[str, str]:
    """The environment of an app process: production settings (`config.settings`), plain HTTP,
    the suite's secrets, and nothing inherited that would configure the app otherwise."""
    from django.conf import settings

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "STRIPE_", "GUNICORN_", "BILLING_", "JWT_", "BENCH_"))
        and key not in {"DATABASE_URL", "REDIS_URL", "SITE_URL", "LOGIN_RATE", "LOGIN_IP_RATE"}
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_CACHE_DIR": str(cache_dir),
            "DATABASE_URL": database_url,
            "STRIPE_SECRET_KEY": SERVER_STRIPE_KEY,
            "STRIPE_WEBHOOK_SECRET": SERVER_WEBHOOK_SECRET,
            "STRIPE_API_BASE": stripe_api_base,
            "PYTHONUNBUFFERED": "1",
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run `manage.py` (or, with "-m", a module) in an app environment; return its stdout."""
    command = [PYTHON, "-m", *args[1:]] if args and args[0] == "-m" else [PYTHON, "manage.py", *args]
    result = subprocess.run(
        command, cwd=REPO, env=env, input=stdin, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result.stdout


def seed(env: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    """Create organizations and users in the app's database (see appdb.py)."""
    result: dict[str, Any] = json.loads(
        manage(env, "-m", "tests.reliability.appdb", "seed", stdin=json.dumps(spec))
    )
    return result


def report(env: dict[str, str]) -> dict[str, Any]:
    """What the app's database holds now: organizations' customers and portal audit rows."""
    result: dict[str, Any] = json.loads(manage(env, "-m", "tests.reliability.appdb", "report"))
    return result


class AppServer:
    """The app under gunicorn with the project's own config/gunicorn.py."""

    def __init__(self, env: dict[str, str], log_dir: Path, *, name: str = "app") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}", "GUNICORN_ACCESSLOG": "-"}
        self.log_path = log_dir / f"gunicorn-{name}-{self.port}.log"
        LOG_FILES.append(self.log_path)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
            cwd=REPO,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        http = http_session()
        try:
            wait_until(
                lambda: (
                    self.proc.poll() is None and http.get(self.url + "/healthz", timeout=2).status_code == 200
                ),
                timeout=60,
                interval=0.2,
                what=f"gunicorn on {self.url} (log: {self.log_path})",
            )
        except TimeoutError:
            self.stop()
            raise
        finally:
            http.close()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def workers_booted(self) -> int:
        """How many worker processes gunicorn has started: more than its `workers` means one
        died (crash, timeout, out of memory) and was replaced."""
        return self.log_text().count("Booting worker")

    def stop(self) -> None:
        _stop(self.proc, signal.SIGTERM, timeout=40)
        self._log.close()


class WorkerProcess:
    """`manage.py worker`: the background worker, in an app environment."""

    def __init__(
        self, env: dict[str, str], log_dir: Path, *, name: str = "worker", args: tuple[str, ...] = ()
    ) -> None:
        self.log_path = log_dir / f"{name}-{uuid.uuid4().hex[:8]}.log"
        LOG_FILES.append(self.log_path)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [PYTHON, "manage.py", "worker", *args],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no chance to finish the task in hand, nor to say goodbye."""
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 40) -> int | None:
        """SIGTERM, and the exit code once it exited (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                self._log.close()
                return None
        self._log.close()
        return self.proc.returncode
