"""The figures the suite records as it runs (requests sent, faults injected, responses by
status, customers created, rows lost), printed at the end of the run by conftest.py's
`pytest_terminal_summary`, whatever `-s` says, so a closing note can quote them."""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

FIGURES: dict[str, dict[str, Any]] = {}


def record(section: str, **values: Any) -> None:
    """Add (or overwrite) figures under a section, e.g. record("load", requests=2400)."""
    FIGURES.setdefault(section, {}).update(values)


def count(section: str, key: str, n: int = 1) -> None:
    bucket = FIGURES.setdefault(section, {})
    bucket[key] = bucket.get(key, 0) + n


def _format(value: Any) -> str:
    if isinstance(value, Counter | dict):
        return ", ".join(f"{k}: {v}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0])))
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def totals() -> dict[str, int]:
    """Sums over every section: HTTP requests the suite sent to app servers, and so on."""
    sums: Counter[str] = Counter()
    for values in FIGURES.values():
        for key in ("requests_sent", "deliveries_sent", "rows_lost", "worker_restarts", "findings"):
            if isinstance(values.get(key), int):
                sums[key] += values[key]
        faults = values.get("faults_injected")
        if isinstance(faults, dict):
            sums["faults_injected"] += sum(faults.values())
    return dict(sums)


def lines() -> list[str]:
    out = []
    if FIGURES:
        out.append(f"[totals] {_format(totals())}")
    for section, values in FIGURES.items():
        out.append(f"[{section}]")
        out.extend(f"  {key}: {_format(value)}" for key, value in values.items())
    return out


def dump() -> None:
    """Also write the figures as JSON where RELIABILITY_FIGURES_JSON says, if it says."""
    path = os.environ.get("RELIABILITY_FIGURES_JSON")
    if path:
        with open(path, "w") as fh:
            json.dump(FIGURES, fh, indent=2, default=lambda v: dict(v) if isinstance(v, Counter) else str(v))
