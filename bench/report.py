"""The figures of a run, the issue's targets, the table and the JSON."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from bench.wrk import LoadResult

X = "\N{MULTIPLICATION SIGN}"

# The benchmark's targets: app req/s ÷ floor req/s by scenario; at 300 ms, a p99 bound up to
# 64 clients and a bound on the slowest request beyond.
RATIO_AT_0_MS = 0.60
RATIO_AT_300_MS = 0.95
RATIO_AT_300_MS_CROWDED = 0.85  # more clients than the server has threads
CROWDED_CLIENTS = 128
P99_AT_300_MS = 400.0
MAX_MS_CROWDED = 2000.0
# And in every scenario, app req/s ÷ the hand-written server's (bench/handwritten/).
RATIO_TO_HAND = 1.00
MAX_QUERIES_PER_REQUEST = 3.0  # Django's own count (PostgreSQL's adds the pool's health check)
# The Stripe calls of a refresh of the plan list (billing/services/plans.py): the first of them
# marks one refresh.
CATALOGUE_CALLS = frozenset({"GET /v1/products", "GET /v1/prices", "GET /v1/products/{id}/features"})
REFRESH_CALL = "GET /v1/products"
# Peak memory "no growth beyond noise" between 5,000 and 20,000 requests: within this much.
MEMORY_GROWTH_NOISE = 0.05
MEMORY_GROWTH_NOISE_MIB = 4.0


@dataclass(frozen=True)
class Endpoint:
    """What a scenario asks, and what every request of it must cost."""

    method: str
    path: str
    max_queries: float  # Django's queries per request, at most
    stripe_calls: int  # Stripe requests per request, exactly (but for the refreshes below)
    # A read whose cached answer expires (the plan list): the Stripe calls of a refresh are
    # allowed, at most one refresh per cache period (see `refreshes_allowed`).
    refreshes: bool = False

    @property
    def read(self) -> bool:
        return self.method == "GET"

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


PORTAL = Endpoint("POST", "/subscriptions/portal", MAX_QUERIES_PER_REQUEST, 1)
# The reads, by their --scenario name. None calls Stripe (the plan list comes from the cache,
# filled before the runs). Queries: the user with membership and organization (authentication),
# then the subscription with its capabilities (my: the two tests/billing pins), or the open
# Checkout session; the plan list needs no login and reads no table.
READS = {
    "plans": Endpoint("GET", "/subscriptions", 0, 0, refreshes=True),
    "my": Endpoint("GET", "/subscriptions/my", 2, 0),
    "pending-payment": Endpoint("GET", "/subscriptions/pending-payment", 2, 0),
}


@dataclass(frozen=True)
class Scenario:
    latency_ms: int
    clients: int
    requests: int  # per measured run
    endpoint: Endpoint = PORTAL

    @property
    def name(self) -> str:
        """Latency and clients for the portal (the benchmark's subject); a read's request first."""
        name = f"{self.latency_ms} ms {X} {self.clients}"
        return name if self.endpoint == PORTAL else f"{self.endpoint.name} {name}"

    @property
    def slow(self) -> bool:
        """A scenario with Stripe's latency."""
        return self.latency_ms >= 300

    @property
    def crowded(self) -> bool:
        """More clients than the server's threads: requests queue in the listen backlog."""
        return self.clients > CROWDED_CLIENTS

    @property
    def ratio_target(self) -> float | None:
        """None for a read: its floor answers fixed bytes, so the ratio is for information."""
        if self.endpoint.read:
            return None
        if not self.slow:
            return RATIO_AT_0_MS
        return RATIO_AT_300_MS_CROWDED if self.crowded else RATIO_AT_300_MS


@dataclass
class Run:
    """One load-generator run against one server, and the server-side counts over it."""

    load: LoadResult
    server_requests: int  # requests the server finished over the run (abandoned ones too)
    queries: int  # statements Django ran (bench/instrument.py)
    stripe_requests: int  # /v1/ requests the stand-in received
    server_cpu_s: float = 0.0  # CPU time of the server's processes (master and workers) over the run
    standin_cpu_s: float = 0.0  # the same for the Stripe stand-in
    loadgen_cpu_s: float = 0.0  # the same for the load generator
    db_cpu_s: float = 0.0  # the same for PostgreSQL (0 on SQLite: it runs inside the server)
    other_cores: float = 0.0  # cores kept busy by everything else on the machine, on average
    pg_statements: int | None = None  # statements PostgreSQL ran (pg_stat_statements)
    gc_full: int = 0  # full garbage collections in the server's workers over the run
    gc_full_ms: float = 0.0  # how long they took, in all
    stripe_by_path: dict[str, int] = field(default_factory=dict)  # the stand-in's, by route
    window_s: float = 0.0  # from the run's first request to its counts being read

    @property
    def refreshes(self) -> int:
        """Refreshes of the plan list from Stripe over the run."""
        return self.stripe_by_path.get(REFRESH_CALL, 0)

    def refreshes_allowed(self, period_s: float) -> int:
        """One per cache period the run's window could hold the end of: the window's length
        over the period, plus one for an entry that expired just after the run began."""
        return math.floor(self.window_s / period_s) + 1 if period_s > 0 else self.server_requests

    def to_dict(self) -> dict[str, Any]:
        return {
            "load": self.load.to_dict(),
            "server_requests": self.server_requests,
            "queries": self.queries,
            "stripe_requests": self.stripe_requests,
            "server_cpu_s": round(self.server_cpu_s, 3),
            "standin_cpu_s": round(self.standin_cpu_s, 3),
            "loadgen_cpu_s": round(self.loadgen_cpu_s, 3),
            "db_cpu_s": round(self.db_cpu_s, 3),
            "other_cores": round(self.other_cores, 2),
            "pg_statements": self.pg_statements,
            "gc_full": self.gc_full,
            "gc_full_ms": round(self.gc_full_ms, 1),
            "stripe_by_path": self.stripe_by_path,
            "window_s": round(self.window_s, 2),
        }


@dataclass
class ServerFigures:
    """One server (the floor or the app) over one scenario: its measured runs and lifetime."""

    kind: str  # "floor" | "app"
    database: str | None  # "SQLite" | "PostgreSQL" | None (the floor has none)
    runs: list[Run] = field(default_factory=list)
    warmup_errors: dict[str, int] = field(default_factory=dict)
    new_connections: int = 0  # to the stand-in, over the server's whole life (warm-up included)
    peak_rss_mib: float = 0.0

    def _median(self, values: list[float]) -> float:
        return statistics.median(values) if values else 0.0

    @property
    def rps(self) -> float:
        return self._median([r.load.rps for r in self.runs])

    def latency(self, key: str) -> float:
        return self._median([r.load.latency_ms[key] for r in self.runs])

    @property
    def slowest_ms(self) -> float:
        """The slowest answer of all the runs (not a median)."""
        return max((r.load.latency_ms["max"] for r in self.runs), default=0.0)

    @property
    def errors(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for run in self.runs:
            for key, n in run.load.errors.items():
                total[key] = total.get(key, 0) + n
        return total

    @property
    def answered(self) -> int:
        return sum(r.load.requests for r in self.runs)

    @property
    def server_requests(self) -> int:
        return sum(r.server_requests for r in self.runs)

    def _per_request(self, total: float) -> float | None:
        return total / self.server_requests if self.server_requests else None

    @property
    def queries_per_request(self) -> float | None:
        return self._per_request(sum(r.queries for r in self.runs))

    @property
    def pg_statements_per_request(self) -> float | None:
        if any(r.pg_statements is None for r in self.runs):
            return None
        return self._per_request(sum(r.pg_statements or 0 for r in self.runs))

    @property
    def stripe_per_request(self) -> float | None:
        return self._per_request(sum(r.stripe_requests for r in self.runs))

    @property
    def cpu_ms_per_request(self) -> float | None:
        """The server's CPU time per request: what other work on the machine does not change."""
        per = self._per_request(sum(r.server_cpu_s for r in self.runs))
        return None if per is None else per * 1000

    @property
    def db_cpu_ms_per_request(self) -> float | None:
        per = self._per_request(sum(r.db_cpu_s for r in self.runs))
        return None if per is None else per * 1000

    @property
    def standin_cpu_ms_per_request(self) -> float | None:
        per = self._per_request(sum(r.standin_cpu_s for r in self.runs))
        return None if per is None else per * 1000

    @property
    def refreshes(self) -> int:
        return sum(r.refreshes for r in self.runs)

    def refreshes_allowed(self, period_s: float) -> int:
        return sum(r.refreshes_allowed(period_s) for r in self.runs)

    def stripe_ok(self, endpoint: Endpoint, period_s: float) -> bool:
        """Exactly the endpoint's Stripe calls per request the server finished (no retries);
        for a read, not one in the whole run, but for the plan list's refreshes: only the
        catalogue's calls, and at most one refresh per cache period."""
        if self.server_requests <= 0:
            return False
        calls = sum(r.stripe_requests for r in self.runs)
        if not endpoint.refreshes:
            return calls == endpoint.stripe_calls * self.server_requests
        paths = {path for r in self.runs for path, n in r.stripe_by_path.items() if n}
        return paths <= CATALOGUE_CALLS and self.refreshes <= self.refreshes_allowed(period_s)

    @property
    def gc_full(self) -> int:
        return sum(r.gc_full for r in self.runs)

    @property
    def gc_full_ms(self) -> float:
        return sum(r.gc_full_ms for r in self.runs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "database": self.database,
            "rps_median": round(self.rps, 1),
            "latency_ms_median": {k: round(self.latency(k), 2) for k in ("p50", "p95", "p99")},
            "latency_ms_max": round(self.slowest_ms, 2),
            "errors": self.errors,
            "warmup_errors": self.warmup_errors,
            "queries_per_request": self.queries_per_request,
            "pg_statements_per_request": self.pg_statements_per_request,
            "stripe_requests_per_request": self.stripe_per_request,
            "server_cpu_ms_per_request": self.cpu_ms_per_request,
            "standin_cpu_ms_per_request": self.standin_cpu_ms_per_request,
            "postgres_cpu_ms_per_request": self.db_cpu_ms_per_request,
            "new_stripe_connections": self.new_connections,
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "gc_full": self.gc_full,
            "gc_full_ms": round(self.gc_full_ms, 1),
            "stripe_refreshes": self.refreshes,
            "runs": [r.to_dict() for r in self.runs],
        }


def _ratio(numerators: list[Run], denominators: list[Run]) -> float:
    """Median over the runs taken side by side (the same turn of the rotation) of the first
    server's req/s over the second's."""
    pairs = [a.load.rps / b.load.rps for a, b in zip(numerators, denominators, strict=False) if b.load.rps]
    return statistics.median(pairs) if pairs else 0.0


@dataclass
class ScenarioResult:
    scenario: Scenario
    database: str
    floor: ServerFigures
    app: ServerFigures
    hand: ServerFigures | None = None  # the hand-written server (bench/handwritten/)
    plans_cache_s: float = 300.0  # BILLING_PLANS_CACHE_SECONDS as the servers read it

    @property
    def servers(self) -> list[ServerFigures]:
        return [f for f in (self.floor, self.app, self.hand) if f is not None]

    @property
    def ratio(self) -> float:
        """Median over the turns of app req/s / floor req/s."""
        return _ratio(self.app.runs, self.floor.runs)

    @property
    def ratio_hand(self) -> float | None:
        """Median over the turns of app req/s / hand-written req/s."""
        return None if self.hand is None else _ratio(self.app.runs, self.hand.runs)

    @property
    def hand_ratio(self) -> float | None:
        """The hand-written server's own ÷ floor (for information)."""
        return None if self.hand is None else _ratio(self.hand.runs, self.floor.runs)

    def checks(self, max_connections: int) -> dict[str, bool]:
        """Each of the issue's targets that applies to this scenario: met or not."""
        app, endpoint = self.app, self.scenario.endpoint
        checks = {
            "errors": not app.errors and app.answered > 0,
            # To two decimals: the limiter's occasional pruning of expired rows is not a query
            # per request.
            "queries": app.queries_per_request is not None
            and round(app.queries_per_request, 2) <= endpoint.max_queries,
            # Exactly: the portal's one Stripe call per request the server finished, no retries;
            # a read's none, not even one in the whole run (the plan list: its refreshes only).
            "stripe": app.stripe_ok(endpoint, self.plans_cache_s),
            "connections": app.new_connections <= max_connections,
        }
        target = self.scenario.ratio_target
        if target is not None:
            checks["ratio"] = self.ratio >= target
        if self.ratio_hand is not None:
            checks["ratio_hand"] = self.ratio_hand >= RATIO_TO_HAND
        if self.scenario.slow and not self.scenario.crowded:
            checks["p99"] = app.latency("p99") < P99_AT_300_MS
        if self.scenario.slow and self.scenario.crowded:
            checks["max"] = app.slowest_ms < MAX_MS_CROWDED
        return checks

    def to_dict(self, max_connections: int) -> dict[str, Any]:
        ratio_hand, hand_ratio = self.ratio_hand, self.hand_ratio
        return {
            "scenario": {
                "name": self.scenario.name,
                "method": self.scenario.endpoint.method,
                "path": self.scenario.endpoint.path,
                "stripe_latency_ms": self.scenario.latency_ms,
                "clients": self.scenario.clients,
                "requests_per_run": self.scenario.requests,
            },
            "database": self.database,
            "ratio_to_floor": round(self.ratio, 3),
            "ratio_to_hand": None if ratio_hand is None else round(ratio_hand, 3),
            "hand_ratio_to_floor": None if hand_ratio is None else round(hand_ratio, 3),
            "floor": self.floor.to_dict(),
            "app": self.app.to_dict(),
            "hand": None if self.hand is None else self.hand.to_dict(),
            "targets_met": self.checks(max_connections),
        }


@dataclass
class MemoryCheck:
    database: str
    scenario: Scenario
    peak_after_5k_mib: float
    peak_after_20k_mib: float
    errors: dict[str, int]

    @property
    def growth_mib(self) -> float:
        return self.peak_after_20k_mib - self.peak_after_5k_mib

    @property
    def ok(self) -> bool:
        limit = max(MEMORY_GROWTH_NOISE_MIB, MEMORY_GROWTH_NOISE * self.peak_after_5k_mib)
        return self.growth_mib <= limit and not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "stripe_latency_ms": self.scenario.latency_ms,
            "clients": self.scenario.clients,
            "peak_rss_mib_after_5000": round(self.peak_after_5k_mib, 1),
            "peak_rss_mib_after_20000": round(self.peak_after_20k_mib, 1),
            "growth_mib": round(self.growth_mib, 1),
            "errors": self.errors,
            "ok": self.ok,
        }


# ---- the table ---------------------------------------------------------------------------


def _mark(ok: bool | None) -> str:
    return "" if ok is None else (" ✓" if ok else " ✗")


def _errors_text(errors: dict[str, int]) -> str:
    return ", ".join(f"{n}{X}{key}" for key, n in sorted(errors.items())) if errors else "0"


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


COLUMNS = [
    ("scenario", "<"),
    ("database", "<"),
    ("server", "<"),
    ("req/s", ">"),
    ("p50 ms", ">"),
    ("p95 ms", ">"),
    ("p99 ms", ">"),
    ("max ms", ">"),
    ("errors", "<"),
    ("CPU ms/req", ">"),
    ("÷ floor", ">"),
    ("÷ hand", ">"),
    ("DB q/req", ">"),
    ("Stripe/req", ">"),
    ("new conns", ">"),
    ("peak RSS", ">"),
]


def _ratio_text(ratio: float | None, ok: bool | None = None) -> str:
    return "—" if ratio is None else f"{math.floor(ratio * 1000) / 1000:.3f}{_mark(ok)}"


def _server_row(result: ScenarioResult, figures: ServerFigures, max_connections: int) -> list[str]:
    kind = figures.kind
    is_app = kind == "app"
    checks: dict[str, bool] = result.checks(max_connections) if is_app else {}
    queries: float | None = None
    if kind != "floor":
        queries = figures.queries_per_request
        if figures.pg_statements_per_request is not None:
            queries = figures.pg_statements_per_request  # the server's count sees more
    if is_app:
        to_floor = _ratio_text(result.ratio, checks.get("ratio"))
        to_hand = _ratio_text(result.ratio_hand, checks.get("ratio_hand"))
    elif kind == "hand":
        to_floor, to_hand = _ratio_text(result.hand_ratio), "1"
    else:
        to_floor, to_hand = "1", ""
    return [
        result.scenario.name,
        "(none)" if kind == "floor" else result.database,
        kind,
        f"{math.floor(figures.rps):,}",
        f"{figures.latency('p50'):.1f}",
        f"{figures.latency('p95'):.1f}",
        f"{figures.latency('p99'):.1f}{_mark(checks.get('p99'))}",
        f"{figures.slowest_ms:.0f}{_mark(checks.get('max'))}",
        _errors_text(figures.errors) + _mark(checks.get("errors")),
        _num(figures.cpu_ms_per_request),
        to_floor,
        to_hand,
        (_num(queries) + _mark(checks.get("queries"))) if kind != "floor" else "0",
        _num(figures.stripe_per_request) + _mark(checks.get("stripe")),
        f"{figures.new_connections}{_mark(checks.get('connections'))}",
        f"{figures.peak_rss_mib:.0f} MiB",
    ]


def table(results: list[ScenarioResult], max_connections: int) -> str:
    rows = [[name for name, _ in COLUMNS]]
    for result in results:
        rows += [_server_row(result, figures, max_connections) for figures in result.servers]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            f"{cell:{align}{width}}" for cell, (_, align), width in zip(row, COLUMNS, widths, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
