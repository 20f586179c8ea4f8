"""Drive a server with wrk: a fixed number of requests at a fixed concurrency; what came back.

wrk (Debian's package, C, epoll) runs `bench/wrk_portal.lua`; it is the only load generator,
and the benchmark refuses to start without it (`apt-get install wrk`).

Every request opens a new connection (`Connection: close`): kept-alive connections would be
split between gunicorn's workers once, at random, for the whole run (a skewed split leaves one
worker's threads queueing while the other's idle); a new connection per request is accepted
by whichever worker is free, as behind a proxy that spreads connections.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

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


def describe() -> str:
    path = wrk_path() or "wrk"
    out = subprocess.run([path, "-v"], capture_output=True, text=True, check=False)
    first = (out.stdout or out.stderr).splitlines()[:1]
    return first[0].split(" Copyright")[0].strip() if first else "wrk"


def threads_for(clients: int) -> int:
    """wrk's threads for that many clients (each thread takes its own slice of the tokens)."""
    return max(1, min(2, clients))


def run(
    url: str,
    *,
    clients: int,
    requests: int,
    tokens_file: Path | None,
    method: str = "POST",
    timeout_s: float = 10.0,
    token_offset: int = 0,
) -> LoadResult:
    """`requests` answers from `url` with `clients` requests in flight at all times.

    `token_offset`: where in its slice of the tokens each thread starts (the caller carries it
    from run to run, so that a user's turns are spread over the whole bench)."""
    threads = threads_for(clients)
    env = {
        **os.environ,
        "BENCH_TOKENS": str(tokens_file or ""),
        "BENCH_METHOD": method,
        "BENCH_THREADS": str(threads),
        "BENCH_TOKEN_OFFSET": str(token_offset),
    }
    # Generous: a run that takes longer has failed anyway, and wrk stops on its own before.
    cap_s = max(60, int(requests * timeout_s / max(clients, 1)) + 30)
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
        raise RuntimeError(f"wrk gave no result (exit {process.returncode}): {stderr[-2000:]}")
    return result
