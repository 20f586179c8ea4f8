"""The secrets scan tests/conftest.py runs over every log line when the session finishes."""

from __future__ import annotations

import logging

from tests import logscan


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


def test_known_secrets_are_found_and_masked_in_the_report(monkeypatch):
    monkeypatch.setattr(logscan, "KNOWN_SECRETS", {"hunter2-very-secret"})
    (finding,) = logscan.scan_text("planted", "login password=hunter2-very-secret")
    assert finding.kind == "known secret"
    assert "hunter2" not in str(finding)


def test_the_capture_handler_formats_extra_fields_too():
    handler = logscan.CaptureHandler()
    record = logging.LogRecord("billing.x", logging.INFO, __file__, 1, "portal", None, None)
    record.url = "https://billing.stripe.com/p/session/test_AbCdEf123456"
    before = len(logscan.CAPTURED)
    handler.emit(record)
    line = logscan.CAPTURED.pop()
    assert len(logscan.CAPTURED) == before
    assert logscan.scan_text("record", line), line
