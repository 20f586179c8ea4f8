"""The benchmark's quick mode runs end to end, so `make bench` cannot rot.

It starts real processes (the Stripe stand-in, gunicorn twice, wrk)
and takes ten to twenty seconds, so it is marked `reliability` with the other suites of real
processes: the quick loop (`-m "not reliability and not browser"`) leaves it out, the full
`pytest` (make test, CI) runs it. It asserts what the
run produced, never how fast: timings belong to the benchmark's table, not to a test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("gunicorn")
if not Path("/proc/self/status").exists():
    pytest.skip("the benchmark samples memory and CPU from Linux's /proc", allow_module_level=True)

if not shutil.which("wrk"):
    pytest.skip("the benchmark's load generator, wrk, is not installed", allow_module_level=True)

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_prints_a_table_with_throughput_and_no_errors(tmp_path: Path) -> None:
    figures = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--no-postgres", "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("0 ms")]
    assert [row[5] for row in rows] == ["floor", "app"], done.stdout  # 0, ms, x, 16, (none), floor, ...
    header = next(line for line in done.stdout.splitlines() if line.startswith("scenario"))
    assert "req/s" in header and "errors" in header, done.stdout

    (scenario,) = json.loads(figures.read_text())["scenarios"]
    assert scenario["database"] == "SQLite"
    for server in (scenario["floor"], scenario["app"]):
        assert server["rps_median"] > 0, scenario
        assert server["errors"] == {}, scenario
        assert server["stripe_requests_per_request"] == 1, scenario
    # Three per request (user, rate counter, audit row), plus the rate limiter's prune of
    # expired counters, run by about one hit in a thousand: a few hundredths at most here.
    assert 0 < scenario["app"]["queries_per_request"] < 3.02, scenario
