"""The benchmark's quick mode runs end to end, so `make bench` cannot rot.

It starts real processes (the Stripe stand-in, gunicorn for each server, wrk)
and takes about a minute, so it is marked `reliability` with the other suites of real
processes: the quick loop (`-m "not reliability and not browser"`) leaves it out, the full
`pytest` (make test, CI) runs it. It asserts what the
run produced, never how fast: timings belong to the benchmark's table, not to a test.
"""

from __future__ import annotations

import json
import re
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
PORTAL_0_MS = "0 ms \N{MULTIPLICATION SIGN} 16"


def _table(stdout: str) -> list[dict[str, str]]:
    """The table's rows as {column: cell}, cut along the line of dashes under the header."""
    lines = stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("scenario"))
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", lines[at + 1])]
    names = [lines[at][a:b].strip() for a, b in spans]
    rows = []
    for line in lines[at + 2 :]:
        if not line.strip():
            break
        rows.append({name: line[a:b].strip() for name, (a, b) in zip(names, spans, strict=True)})
    return rows


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

    rows = _table(done.stdout)
    assert [(r["scenario"], r["database"], r["server"]) for r in rows] == [
        (PORTAL_0_MS, "(none)", "floor"),
        (PORTAL_0_MS, "SQLite", "app"),
        (PORTAL_0_MS, "SQLite", "hand"),
        (f"GET /subscriptions/my {PORTAL_0_MS}", "(none)", "floor"),
        (f"GET /subscriptions/my {PORTAL_0_MS}", "SQLite", "app"),
        (f"GET /subscriptions/my {PORTAL_0_MS}", "SQLite", "hand"),
    ], done.stdout
    assert all(float(r["req/s"].replace(",", "")) > 0 for r in rows), done.stdout
    portal_app, portal_hand, read_floor, read_app, read_hand = rows[1], rows[2], rows[3], rows[4], rows[5]
    # At the shipped per-user rate (10 a minute): not one 429, the users' turns being spread.
    assert portal_app["errors"] == "0 ✓" and portal_app["Stripe/req"] == "1.00 ✓", done.stdout
    # The hand-written server: the same Stripe call, its two queries (user, membership).
    assert portal_hand["errors"] == "0" and portal_hand["Stripe/req"] == "1.00", done.stdout
    assert portal_hand["DB q/req"] == "2.00", done.stdout
    # app ÷ hand, with its target, on every row of the app.
    for app_row in (portal_app, read_app):
        assert re.fullmatch(r"\d\.\d{3} [✓✗]", app_row["÷ hand"]), done.stdout
    # A read: no error, not one Stripe call, its two queries; its ÷ floor has no target.
    assert read_floor["errors"] == "0" and read_floor["Stripe/req"] == "0.00", done.stdout
    assert read_app["errors"] == "0 ✓" and read_app["Stripe/req"] == "0.00 ✓", done.stdout
    assert read_app["DB q/req"] == "2.00 ✓", done.stdout
    assert not read_app["÷ floor"].endswith(("✓", "✗")), done.stdout
    assert read_hand["errors"] == "0" and read_hand["Stripe/req"] == "0.00", done.stdout

    document = json.loads(figures.read_text())
    assert document["shipped_settings"]["BILLING_PORTAL_RATE"] == "10/min", document["shipped_settings"]
    portal, read = document["scenarios"]
    assert portal["database"] == read["database"] == "SQLite"
    for server in (portal["floor"], portal["app"], portal["hand"], read["floor"], read["app"], read["hand"]):
        assert server["rps_median"] > 0, server
        assert server["errors"] == {}, server
    for server in (portal["floor"], portal["app"], portal["hand"]):
        assert server["stripe_requests_per_request"] == 1, portal
        assert server["gc_full"] == sum(run["gc_full"] for run in server["runs"]), server
    assert "Full garbage collections in the workers over the measured runs" in done.stdout
    # Three per request (user, rate counter, audit row), plus the rate limiter's prune of
    # expired counters, run by about one hit in a thousand: a few hundredths at most here.
    assert 0 < portal["app"]["queries_per_request"] < 3.02, portal
    for scenario in (portal, read):
        assert scenario["ratio_to_hand"] > 0 and "ratio_hand" in scenario["targets_met"], scenario

    assert (read["scenario"]["method"], read["scenario"]["path"]) == ("GET", "/subscriptions/my")
    for server in (read["floor"], read["app"], read["hand"]):
        assert server["stripe_requests_per_request"] == 0, read
    # The user with membership and organization; the subscription with its capabilities.
    assert read["app"]["queries_per_request"] == 2, read
    # The user; the membership with its organization; the subscription with its capabilities.
    assert read["hand"]["queries_per_request"] == 3, read
    met = read["targets_met"]
    assert {k: met[k] for k in ("errors", "queries", "stripe", "connections")} == dict.fromkeys(
        ("errors", "queries", "stripe", "connections"), True
    ), met
