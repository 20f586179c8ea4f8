"""Drive a server with a fixed number of requests at a fixed concurrency; return what came back.

Two load generators, one result shape:

- `wrk` (Debian's package, C, epoll) with `bench/wrk_portal.lua`: the default when installed.
- an asyncio client (this module, run as `python -m bench.loadgen` in its own process): the
  fallback on a machine without wrk. Slower, but on the same terms: `Connection: close`, one
  user's token after another, latency from sending the request to the last byte of the answer.

Every request opens a new connection (`Connection: close`): kept-alive connections would be
split between gunicorn's workers once, at random, for the whole run (a skewed split leaves one
worker's threads queueing while the other's idle); a new connection per request is accepted
by whichever worker is free, as behind a proxy that spreads connections.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

LUA_SCRIPT = Path(__file__).with_name("wrk_portal.lua")
_RESULT_PREFIX = "BENCH_RESULT "


@dataclass
class LoadResult:
    requests: int  # answered, whatever the status
    duration_s: float
    latency_ms: dict[str, float]  # p50, p95, p99, max, mean
    statuses: dict[str, int]  # "200": n, ...
    socket_errors: dict[str, int] = field(default_factory=dict)  # connect, read, write, timeout

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def errors(self) -> dict[str, int]:
        """Every answer but a 200, by status, and every socket error, by kind."""
        bad = {status: n for status, n in self.statuses.items() if status != "200" and n}
        bad.update({kind: n for kind, n in self.socket_errors.items() if n})
        return bad

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "rps": round(self.rps, 1), "errors": self.errors}


def wrk_path() -> str | None:
    return shutil.which("wrk")


def describe(kind: str) -> str:
    if kind == "wrk":
        path = wrk_path() or "wrk"
        out = subprocess.run([path, "-v"], capture_output=True, text=True, check=False)
        first = (out.stdout or out.stderr).splitlines()[:1]
        return first[0].split(" Copyright")[0].strip() if first else "wrk"
    return f"asyncio client (Python {sys.version_info.major}.{sys.version_info.minor})"


def run(
    kind: str,
    url: str,
    *,
    clients: int,
    requests: int,
    tokens_file: Path | None,
    timeout_s: float = 10.0,
) -> LoadResult:
    """`requests` answers from `url` with `clients` requests in flight at all times."""
    env = {**os.environ, "BENCH_TOKENS": str(tokens_file or "")}
    # Generous: a run that takes longer has failed anyway, and wrk stops on its own before.
    cap_s = max(60, int(requests * timeout_s / max(clients, 1)) + 30)
    threads = 1
    if kind == "wrk":
        threads = max(1, min(2, clients))
        per_thread = math.ceil(requests / threads)
        env["BENCH_REQUESTS_PER_THREAD"] = str(per_thread)
        command = [
            wrk_path() or "wrk",
            f"-t{threads}",
            f"-c{clients}",
            f"-d{cap_s}s",
            f"--timeout={int(timeout_s)}s",
            "-s",
            str(LUA_SCRIPT),
            url,
        ]
    else:
        command = [
            sys.executable,
            "-m",
            "bench.loadgen",
            url,
            f"--clients={clients}",
            f"--requests={requests}",
            f"--timeout={timeout_s}",
        ]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    timer = threading.Timer(cap_s + 30, process.kill)
    timer.start()
    try:
        assert process.stdout is not None
        finished, result = 0, None
        for line in process.stdout:
            if line.startswith("BENCH_THREAD_DONE"):
                finished += 1
                if finished == threads:  # wrk waits out -d otherwise; SIGINT ends it at once
                    process.send_signal(signal.SIGINT)
            elif line.startswith(_RESULT_PREFIX):
                result = LoadResult(**json.loads(line[len(_RESULT_PREFIX) :]))
        stderr = process.stderr.read() if process.stderr else ""
        process.wait()
    finally:
        timer.cancel()
    if result is None:
        raise RuntimeError(f"{kind} gave no result (exit {process.returncode}): {stderr[-2000:]}")
    return result


# ---- the asyncio load generator ----------------------------------------------------------


def _percentile(ordered: list[float], pct: float) -> float:
    """Nearest rank, like wrk's histogram."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


async def _drive(
    host: str, port: int, path: str, tokens: list[str], clients: int, requests: int, timeout_s: float
) -> LoadResult:
    heads = [
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            + (f"Authorization: Bearer {token}\r\n" if token else "")
            + "Connection: close\r\n\r\n"
        ).encode()
        for token in (tokens or [""])
    ]
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    socket_errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    issued = 0

    async def one(head: bytes) -> None:
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
        except (OSError, TimeoutError):
            socket_errors["connect"] += 1
            return
        try:
            writer.write(head)
            data = await asyncio.wait_for(reader.read(), timeout_s)  # to EOF: Connection: close
        except TimeoutError:
            socket_errors["timeout"] += 1
            return
        except OSError:
            socket_errors["read"] += 1
            return
        finally:
            writer.close()
        if not data.startswith(b"HTTP/1."):
            socket_errors["read"] += 1
            return
        latencies.append((time.perf_counter() - started) * 1000)
        key = data[9:12].decode("latin-1")
        statuses[key] = statuses.get(key, 0) + 1

    async def client(index: int) -> None:
        nonlocal issued
        position = index * 7919
        while issued < requests:
            issued += 1
            position += 1
            await one(heads[position % len(heads)])

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    duration = time.perf_counter() - started
    ordered = sorted(latencies)
    latency = {
        "p50": _percentile(ordered, 50),
        "p95": _percentile(ordered, 95),
        "p99": _percentile(ordered, 99),
        "max": ordered[-1] if ordered else 0.0,
        "mean": sum(ordered) / len(ordered) if ordered else 0.0,
    }
    return LoadResult(len(latencies), duration, latency, statuses, socket_errors)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    parts = urlsplit(args.url)
    tokens_file = os.environ.get("BENCH_TOKENS")
    tokens = Path(tokens_file).read_text().split() if tokens_file else []
    result = asyncio.run(
        _drive(
            parts.hostname or "127.0.0.1",
            parts.port or 80,
            parts.path or "/",
            tokens,
            args.clients,
            args.requests,
            args.timeout,
        )
    )
    print(_RESULT_PREFIX + json.dumps(asdict(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
