"""Every log line of the session, and what must never be in one.

`CaptureHandler` keeps the formatted records of the test process (the app's own formatter, so
`extra` fields and tracebacks are scanned too); `LOG_FILES` lists what the processes the
reliability suite started (gunicorn, the stand-in, PostgreSQL, Redis) wrote. `findings()`
searches both for Stripe keys, webhook secrets, JWTs, portal URLs and the passwords the suite
used. tests/conftest.py runs it when the session finishes and fails the run on a finding.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from core.logging import EventFormatter

CAPTURED: list[str] = []
LOG_FILES: list[Path] = []
_lock = threading.Lock()

# Shapes of secrets, whatever their value: a match is a leak until proven otherwise.
PATTERNS = {
    "stripe key": re.compile(r"\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9]{4,}"),
    "webhook secret": re.compile(r"\bwhsec_[A-Za-z0-9_]{4,}"),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    "portal URL": re.compile(r"/p/session/[A-Za-z0-9_-]{8,}"),
}
# Exact values the suite used (passwords, signing keys): added by the tests that use them.
KNOWN_SECRETS: set[str] = set()


class CaptureHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.setFormatter(EventFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a broken record must not break the test that logged it
            line = repr(vars(record))
        with _lock:
            CAPTURED.append(line)


@dataclass(frozen=True)
class Finding:
    source: str
    kind: str
    line: str

    def __str__(self) -> str:
        return f"{self.source}: {self.kind}: {self.line[:300]}"


def scan_text(source: str, text: str) -> list[Finding]:
    found = []
    for line in text.splitlines():
        for kind, pattern in PATTERNS.items():
            if pattern.search(line):
                found.append(Finding(source, kind, line))
        for secret in KNOWN_SECRETS:
            if secret and secret in line:
                found.append(Finding(source, "known secret", line.replace(secret, "<" + "*" * 8 + ">")))
    return found


def findings(log_files: list[Path]) -> tuple[int, list[Finding]]:
    """(lines scanned, findings) over the captured records and every log file."""
    with _lock:
        captured = list(CAPTURED)
    found = scan_text("test process", "\n".join(captured))
    scanned = len(captured)
    for path in log_files:
        if path.exists():
            text = path.read_text(errors="replace")
            scanned += text.count("\n")
            found += scan_text(path.name, text)
    return scanned, found
