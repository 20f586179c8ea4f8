"""Runs last in the suite: no log line of anything the suite ran (the test process, every
gunicorn server, the stand-in, PostgreSQL, Redis) carries a Stripe key, a webhook secret, a
JWT, a password or a portal URL."""

from __future__ import annotations

import pytest

from tests.reliability import figures, infra, logscan

pytestmark = pytest.mark.reliability


def test_the_scanner_finds_what_it_looks_for():
    planted = "\n".join(
        [
            "x key=sk_test_abc123DEF456",
            "x secret=whsec_abcdef123456",
            "x token=eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiMSJ9.c2lnbmF0dXJl",
            "x url=http://127.0.0.1:1/p/session/test_AbCdEf123456",
            "x masked=sk_test_****************3456 (not a leak: Stripe's own masking)",
        ]
    )
    found = logscan.scan_text("planted", planted)
    assert sorted(f.kind for f in found) == ["JWT", "portal URL", "stripe key", "webhook secret"], found


def test_no_log_line_carries_a_secret():
    scanned, found = logscan.findings(infra.LOG_FILES)
    figures.record(
        "secrets in logs",
        lines_scanned=scanned,
        log_files=len([p for p in infra.LOG_FILES if p.exists()]),
        findings=len(found),
    )
    assert scanned > 0
    assert not found, f"{len(found)} log lines carry secrets:\n" + "\n".join(map(str, found[:20]))
