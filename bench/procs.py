"""The processes one bench run starts, each stopped by the run that started it.

- `StandIn`: `python -m stripe_standin`, controlled over its `/_standin/` endpoints.
- `Postgres`: a throwaway cluster (initdb + pg_ctl, as .ci/run does), on a free loopback port,
  with pg_stat_statements loaded; `Postgres.available()` is False without the binaries.
- `Server`: gunicorn as the README tells operators to run it (`gunicorn -c config/gunicorn.py
  <module>`), with its peak memory (RSS of the master and its workers) sampled from /proc.
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
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http(method: str, url: str, payload: Any = None, timeout: float = 10.0) -> tuple[int, bytes]:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _stop(process: subprocess.Popen[Any], grace_s: float = 15.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


# ---- the Stripe stand-in -----------------------------------------------------------------


class StandIn:
    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stripe_standin", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()  # "stripe-standin listening on http://..."
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"the Stripe stand-in did not start (see {log_path}): {line!r}")

    def _control(self, method: str, path: str, payload: Any = None) -> Any:
        status, body = _http(method, f"{self.url}/_standin/{path}", payload)
        if status != 200:
            raise RuntimeError(f"stand-in {method} {path}: {status} {body[:200]!r}")
        return json.loads(body)

    def set_latency(self, ms: float) -> None:
        self._control("POST", "latency", {"ms": ms})

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._control("GET", "stats")
        return stats

    def seed_demo_catalogue(self) -> dict[str, list[str]]:
        """The demo plans (Free, Starter, Pro; fixed ids): the ids of its products, prices, features."""
        made: dict[str, list[str]] = self._control("POST", "catalogue/seed", {})
        return made

    def create_customer(self, **fields: Any) -> str:
        customer: dict[str, Any] = self._control("POST", "customers", fields)
        return str(customer["id"])

    def stop(self) -> None:
        _stop(self.process)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()


# ---- PostgreSQL --------------------------------------------------------------------------


class Postgres:
    """A throwaway cluster in a directory of its own; as root it runs as `postgres`, like CI."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="billing-bench-pg-"))  # its own: 0700, for postgres
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, user="postgres")
        data, log = self.dir / "data", self.dir / "log"
        self._run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c max_connections=300 "
            "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=top"
        )
        self._run("pg_ctl", "-D", str(data), "-l", str(log), "-w", "-o", options, "start")
        self.server_url = f"postgres://postgres@127.0.0.1:{self.port}"

    @staticmethod
    def find_bin() -> Path | None:
        """`$BENCH_PG_BIN`, else the newest /usr/lib/postgresql/*/bin, else initdb on PATH."""
        candidates = [Path(p) for p in [os.environ.get("BENCH_PG_BIN", "")] if p]
        candidates += sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parent.name.split(".")],
            reverse=True,
        )
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(Path(on_path).parent)
        for candidate in candidates:
            if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
                return candidate
        return None

    @staticmethod
    def unavailable_reason() -> str | None:
        """Why PostgreSQL scenarios must be skipped here, or None."""
        if Postgres.find_bin() is None:
            return "no PostgreSQL binaries (initdb, pg_ctl) found"
        if os.geteuid() == 0:
            try:
                import pwd

                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root without a 'postgres' user to run the server"
        try:
            import psycopg  # noqa: F401
        except ImportError:
            return "psycopg is not installed"
        return None

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd="/", check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip()[-1000:]}")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"{self.server_url}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        with psycopg.connect(f"{self.server_url}/{name}", autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        return f"{self.server_url}/{name}"

    def cpu(self) -> dict[int, float]:
        """`tree_cpu` of the cluster: the postmaster and its backends."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
            return tree_cpu(pid)
        return {}

    def statements(self, url: str) -> int:
        """Statements clients sent to that database so far (pg_stat_statements; ours excluded)."""
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s "
                "JOIN pg_database d ON d.oid = s.dbid "
                "WHERE d.datname = current_database() AND s.query NOT LIKE '%pg_stat_statements%' "
                # PostgreSQL's own foreign-key checks, run at commit (Django's constraints are
                # deferred): statements of the server's, not round trips of the app's
                "AND s.query NOT LIKE '%FOR KEY SHARE OF x%'"
            ).fetchone()
        return int(row[0]) if row else 0

    def stop(self, *, keep: bool = False) -> None:
        with contextlib.suppress(RuntimeError):
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---- gunicorn and its memory -------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime
    return 0.0


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU time (user + system) used so far by a process and each of its children, by pid."""
    return {p: _cpu_seconds(p) for p in [pid, *_children(pid)]}


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU time a process tree used between two `tree_cpu` snapshots.

    A child that exited in between (a PostgreSQL backend whose connection Django closed)
    loses its last stretch; one that started counts in full.
    """
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def machine_cpu_seconds() -> float:
    """CPU time every core of the machine has spent busy since boot (/proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    # guest time is already counted in user and nice
    return (sum(ticks[:8]) - idle) / _TICKS


def busy_cores(interval_s: float = 0.5) -> float:
    """How many cores the machine keeps busy, on average over the next `interval_s`."""
    before = machine_cpu_seconds()
    time.sleep(interval_s)
    return (machine_cpu_seconds() - before) / interval_s


def tree_rss_kib(pid: int) -> int:
    """RSS of a process and its children (gunicorn: the master and its workers).

    Pages shared after the fork (preload_app) are counted once per process: an upper bound.
    """
    return sum(_rss_kib(p) for p in [pid, *_children(pid)])


class Server:
    """gunicorn with the production settings plus the bench's counters (`bench/gunicorn.py`) on a
    free port, with its peak memory sampled."""

    def __init__(self, name: str, module: str, env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stats_dir = workdir / f"counters-{name}-{self.port}"
        self.stats_dir.mkdir(parents=True)
        self.log_path = workdir / f"gunicorn-{name}-{self.port}.log"
        gunicorn = Path(sys.executable).with_name("gunicorn")
        command = [str(gunicorn)] if gunicorn.exists() else [sys.executable, "-m", "gunicorn"]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [*command, "-c", "bench/gunicorn.py", module],
            cwd=ROOT,
            env={
                **env,
                "GUNICORN_BIND": f"127.0.0.1:{self.port}",
                "BENCH_STATS_DIR": str(self.stats_dir),
            },
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.peak_rss_kib = 0
        self._sampling = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name=f"rss-{name}", daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._sampling.wait(0.1):
            self.peak_rss_kib = max(self.peak_rss_kib, tree_rss_kib(self.process.pid))

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} server exited at start-up:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                status, _ = _http("GET", f"{self.url}/healthz", timeout=5)
                if status == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} server not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        _stop(self.process, grace_s=40)
        self._sampling.set()
        self._sampler.join(timeout=2)
        self._log.close()
