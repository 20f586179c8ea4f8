"""`python -m bench` (`make bench`): the portal endpoint against its floor, under production gunicorn.

One run: start the Stripe stand-in (with its demo catalogue); measure the load generator against
a trivial app; then for each database (a SQLite file in a temporary directory; PostgreSQL too
when its binaries are here), prepare a fresh database and, for each scenario, start the app and
the floor (both `gunicorn -c config/gunicorn.py ...`, as the README tells operators), warm both
up, drive them in turns (floor, app, app, floor, ...) and collect the figures; finally check that
the app's peak memory does not grow between 5,000 and 20,000 requests. Besides the portal, the
three reads (`GET /subscriptions`, `/subscriptions/my`, `/subscriptions/pending-payment`) are
measured the same way, each against a floor that answers the app's own bytes. Prints a table
(bench/README.md explains every column). Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import re
import resource
import runpy
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import instrument, wrk
from bench.procs import (
    ROOT,
    Postgres,
    Server,
    StandIn,
    busy_cores,
    cpu_between,
    machine_cpu_seconds,
    tree_cpu,
    tree_rss_kib,
)
from bench.report import (
    CROWDED_CLIENTS,
    MAX_MS_CROWDED,
    P99_AT_300_MS,
    PORTAL,
    RATIO_AT_0_MS,
    RATIO_AT_300_MS,
    RATIO_AT_300_MS_CROWDED,
    RATIO_TO_HAND,
    READS,
    Endpoint,
    MemoryCheck,
    Run,
    Scenario,
    ScenarioResult,
    ServerFigures,
    X,
    table,
)
from core.resilience import bulkhead_size_default

# Every setting at its shipped default, the portal's per-user rate (BILLING_PORTAL_RATE, 10 a
# minute) included: so many users' tokens, each taken in turn across the whole bench
# (bench/wrk_portal.lua), that none comes round more often than its rate lets it. 10,000 at
# 10 a minute: up to about 1,600 portal requests a second, several times what the app answers
# on 2 cores. A 429 is an error like any other non-200 answer.
USERS = 10_000
SCENARIOS = {"0ms": (0, 16), "300ms": (300, 64), "300x256": (300, 256)}
DEFAULT_SCENARIOS = ["0ms", "300ms", "300x256"]
DEFAULT_REQUESTS = {0: 5000, 300: 3000}
# The reads: each at 0 ms (none calls Stripe) with the portal's 0 ms clients; `reads` is all three.
READ_CLIENTS = 16
READ_REQUESTS = 3000
QUICK_READ = "my"  # the one read of --quick: login, two queries, the cached plan list
# The plan list is fresh in the cache for BILLING_PLANS_CACHE_SECONDS (default 300 s), then
# the next `GET /subscriptions` fetches it from Stripe again: the run of the plan list counts
# those fetches (each begins with this call) and allows one per that period.
PLANS_REFRESH_CALL = "GET /v1/products"
# The stand-in's count of connections whose first request was to its API: each of the bench's
# own control calls (the stats read around every run) opens one too, and is not the server's.
NEW_CONNECTIONS = "api_connections_opened"
# The hand-written server (bench/handwritten/): the same endpoints as a team writes them by hand.
HANDWRITTEN = "bench.handwritten.wsgi"


class BenchError(RuntimeError):
    """A run that cannot be measured as asked (the servers disagree, say)."""


def answers_match(endpoint: Endpoint, app: tuple[int, Any], hand: tuple[int, Any]) -> bool:
    """Whether the app's and the hand-written server's (status, parsed JSON) are the same
    answer: both 200; a read's JSON equal, key for key and value for value; the portal's with
    the same keys, `success` true and each URL a session's on the same host."""
    (app_status, app_body), (hand_status, hand_body) = app, hand
    if app_status != 200 or hand_status != 200:
        return False
    if endpoint.read:
        return bool(app_body == hand_body)
    if not (isinstance(app_body, dict) and isinstance(hand_body, dict)):
        return False
    app_host = urllib.parse.urlsplit(str(app_body.get("url", ""))).netloc
    hand_host = urllib.parse.urlsplit(str(hand_body.get("url", ""))).netloc
    return (
        app_body.keys() == hand_body.keys()
        and app_body.get("success") is True
        and hand_body.get("success") is True
        and bool(app_host)
        and app_host == hand_host
        and app_body.get("url") != hand_body.get("url")
    )


# Before each measured run, wait (up to --quiet-wait s) until other work keeps fewer cores busy.
QUIET_CORES = 0.3


def _children_cpu_seconds() -> float:
    """CPU time of this process's finished children (the load generator's runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_scenario(text: str) -> tuple[int, int]:
    """`0ms`, `300ms`, or `<latency ms>x<clients>` such as `150x32`."""
    if text in SCENARIOS:
        return SCENARIOS[text]
    match = re.fullmatch(r"(\d+)(?:ms)?x(\d+)", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected 0ms, 300ms or <ms>x<clients>, not {text!r}")
    return int(match[1]), int(match[2])


def server_config() -> dict[str, Any]:
    """config/gunicorn.py as the servers will read it (GUNICORN_* in this environment apply)."""
    config = runpy.run_path(str(ROOT / "config" / "gunicorn.py"))
    keys = ("worker_class", "workers", "threads", "worker_connections", "preload_app")
    return {key: config.get(key) for key in keys}


# From this environment, only what a server needs to run at all, and the server settings an
# operator may override (GUNICORN_WORKERS, GUNICORN_THREADS, GUNICORN_WORKER_CONNECTIONS):
# nothing else of the caller's leaks into the figures (the requests library reads every
# variable on each Stripe call).
_PASSED = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")
_SERVER_KNOBS = (
    "GUNICORN_WORKERS",
    "GUNICORN_THREADS",
    "GUNICORN_WORKER_CONNECTIONS",
    "STRIPE_MAX_CONCURRENT_CALLS",
)


def base_env(standin_url: str, customer: str) -> dict[str, str]:
    """What the README tells operators to set, with the stand-in as Stripe.

    Everything else at its shipped default, the Stripe bulkhead (STRIPE_MAX_CONCURRENT_CALLS)
    included: it is measured as it ships unless the caller sets it."""
    env = {key: os.environ[key] for key in (*_PASSED, *_SERVER_KNOBS) if key in os.environ}
    env.update(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_SECURE_SSL_REDIRECT="0",
        STRIPE_SECRET_KEY="sk_test_bench_" + secrets.token_hex(8),
        STRIPE_API_BASE=standin_url,
        BENCH_FLOOR_CUSTOMER=customer,
    )
    return env


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.config = server_config()
        self.max_connections = int(self.config["workers"]) * int(self.config["threads"])
        self.stack = contextlib.ExitStack()
        self.standin = StandIn(workdir / "standin.log")
        self.stack.callback(self.standin.stop)
        self.standin.seed_demo_catalogue()  # the plans the reads show (bench/prepare.py)
        self.customer = self.standin.create_customer(
            name="Bench Inc", email="billing@bench.example.com", metadata={"organization_id": "bench"}
        )
        self.env = base_env(self.standin.url, self.customer)
        self.tokens: Path | None = None  # the current database's users' tokens
        # Where each wrk thread starts in its slice of the tokens: carried from run to run.
        self.token_offset = 0
        # The shipped settings the bench is sized by, as the servers read them (bench.prepare).
        self.shipped: dict[str, Any] = {}

    def close(self) -> None:
        self.stack.close()

    # ---- pieces ------------------------------------------------------------------------

    @contextlib.contextmanager
    def server(self, name: str, module: str, env: dict[str, str]) -> Iterator[Server]:
        server = Server(name, module, env, self.workdir)
        try:
            server.wait_ready()
            yield server
        finally:
            server.stop()

    def drive(
        self, server: Server, clients: int, requests: int, endpoint: Endpoint = PORTAL
    ) -> wrk.LoadResult:
        load = wrk.run(
            server.url + endpoint.path,
            clients=clients,
            requests=requests,
            tokens_file=self.tokens,
            method=endpoint.method,
            token_offset=self.token_offset,
        )
        self.token_offset += math.ceil(load.requests / wrk.threads_for(clients))
        return load

    def read_answer(self, server: Server, endpoint: Endpoint) -> dict[str, str]:
        """The app's answer to a read, once, as the floor's environment: it answers those bytes.

        Anything but a 200 stops the bench: the floor would copy an error."""
        assert self.tokens is not None
        token = self.tokens.read_text().split()[0]
        request = urllib.request.Request(
            server.url + endpoint.path, headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body, cache_control = response.read(), response.headers.get("Cache-Control", "")
        path = self.workdir / f"answer-{server.port}.json"
        path.write_bytes(body)
        log(f"  the app's answer: {len(body):,} bytes, Cache-Control: {cache_control or '(none)'}")
        return {"BENCH_FLOOR_ANSWER": str(path), "BENCH_FLOOR_CACHE_CONTROL": cache_control}

    def _ask(self, server: Server, endpoint: Endpoint) -> tuple[int, Any]:
        assert self.tokens is not None
        token = self.tokens.read_text().split()[0]
        request = urllib.request.Request(
            server.url + endpoint.path,
            method=endpoint.method,
            headers={"Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, e.read()[:500]

    def compare_answers(self, app: Server, hand: Server, endpoint: Endpoint) -> None:
        """The app and the hand-written server answer the same: a 200 each, and the same JSON
        (the portal: the same keys, each a session's own URL). Else the bench stops: the two
        would not be doing the same work."""
        (app_status, app_body), (hand_status, hand_body) = self._ask(app, endpoint), self._ask(hand, endpoint)
        if not answers_match(endpoint, (app_status, app_body), (hand_status, hand_body)):
            raise BenchError(
                f"{endpoint.name}: the app and the hand-written server answer differently:\n"
                f"  app  {app_status}: {app_body!r}\n  hand {hand_status}: {hand_body!r}"
            )
        log(f"  {endpoint.name}: the app and the hand-written server answer the same")

    def _settled_totals(self, server: Server) -> dict[str, int]:
        """The server's counters once requests abandoned by the load generator have finished."""
        previous = instrument.read_totals(server.stats_dir)
        while True:
            time.sleep(0.2)
            current = instrument.read_totals(server.stats_dir)
            if current == previous:
                return current
            previous = current

    def wait_for_quiet(self) -> None:
        """Wait (up to --quiet-wait seconds) until other work leaves the machine's cores idle."""
        deadline = time.monotonic() + self.args.quiet_wait
        said = False
        while time.monotonic() < deadline:
            busy = busy_cores(0.5)
            if busy < QUIET_CORES:
                return
            if not said:
                log(f"  other work keeps {busy:.1f} cores busy: waiting up to {self.args.quiet_wait:.0f} s")
                said = True
        log("  still busy: measuring anyway")

    def measured_run(
        self, server: Server, scenario: Scenario, pg: tuple[Postgres, str] | None
    ) -> tuple[Run, int]:
        """One run, with the server-side counts over it; and the stand-in's new connections."""
        self.wait_for_quiet()
        before = self._settled_totals(server)
        stripe_before = self.standin.stats()
        pg_before = pg[0].statements(pg[1]) if pg else None
        started = time.monotonic()
        machine_before, loadgen_before = machine_cpu_seconds(), _children_cpu_seconds()
        cpu_before = tree_cpu(server.process.pid), tree_cpu(self.standin.process.pid)
        db_before = pg[0].cpu() if pg else {}
        load = self.drive(server, scenario.clients, scenario.requests, scenario.endpoint)
        loadgen_cpu = _children_cpu_seconds() - loadgen_before
        time.sleep(scenario.latency_ms / 1000)  # abandoned requests are still with Stripe
        after = self._settled_totals(server)
        cpu_after = tree_cpu(server.process.pid), tree_cpu(self.standin.process.pid)
        db_cpu = cpu_between(db_before, pg[0].cpu()) if pg else 0.0
        machine_cpu, window = machine_cpu_seconds() - machine_before, time.monotonic() - started
        server_cpu = cpu_between(cpu_before[0], cpu_after[0])
        standin_cpu = cpu_between(cpu_before[1], cpu_after[1])
        ours = server_cpu + standin_cpu + loadgen_cpu + db_cpu
        stripe_after = self.standin.stats()
        pg_after = pg[0].statements(pg[1]) if pg else None
        by_path = {
            path: n - stripe_before["by_path"].get(path, 0)
            for path, n in stripe_after["by_path"].items()
            if n != stripe_before["by_path"].get(path, 0)
        }
        run = Run(
            load=load,
            server_requests=after["requests"] - before["requests"],
            queries=after["queries"] - before["queries"],
            stripe_requests=stripe_after["requests"] - stripe_before["requests"],
            server_cpu_s=server_cpu,
            standin_cpu_s=standin_cpu,
            loadgen_cpu_s=loadgen_cpu,
            db_cpu_s=db_cpu,
            other_cores=max(0.0, machine_cpu - ours) / window,
            pg_statements=(pg_after - pg_before) if pg_after is not None and pg_before is not None else None,
            gc_full=after["gc_full"] - before["gc_full"],
            gc_full_ms=(after["gc_full_us"] - before["gc_full_us"]) / 1000,
            stripe_by_path=by_path,
            window_s=time.monotonic() - started,
        )
        return run, stripe_after[NEW_CONNECTIONS] - stripe_before[NEW_CONNECTIONS]

    def warm_up(self, server: Server, figures: ServerFigures, scenario: Scenario) -> None:
        connections_before = self.standin.stats()[NEW_CONNECTIONS]
        # Enough for every thread that the load will use to open its connections.
        load = self.drive(
            server, scenario.clients, scenario.clients * (4 if self.args.quick else 8), scenario.endpoint
        )
        figures.warmup_errors = load.errors
        figures.new_connections += self.standin.stats()[NEW_CONNECTIONS] - connections_before

    # ---- the parts of a run ------------------------------------------------------------

    def loadgen_capacity(self) -> dict[str, Any]:
        clients, requests = 16, (500 if self.args.quick else 5000)
        log(f"load generator capacity: {wrk.describe()} against a trivial app")
        with self.server("trivial", "bench.floor:trivial", self.env) as server:
            self.drive(server, clients, requests // 5)
            results = [self.drive(server, clients, requests) for _ in range(1 if self.args.quick else 3)]
        rps = sorted(r.rps for r in results)[len(results) // 2]
        log(f"  {rps:,.0f} req/s")
        return {"rps": round(rps, 1), "clients": clients, "requests": requests}

    def prepare_database(self, label: str, database_url: str) -> dict[str, str]:
        env = {
            **self.env,
            "DATABASE_URL": database_url,
            "DJANGO_CACHE_DIR": str(self.workdir / f"cache-{label}"),
        }
        log(f"{label}: migrating a fresh database, {USERS} users, tokens")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.prepare",
                "--tokens",
                str(self.workdir / f"tokens-{label}"),
                "--customer",
                self.customer,
                "--users",
                str(USERS),
                "--settings-out",
                str(self.workdir / f"settings-{label}.json"),
            ],
            cwd=ROOT,
            env=env,
            check=True,
        )
        self.tokens = self.workdir / f"tokens-{label}"
        self.token_offset = 0
        self.shipped = json.loads((self.workdir / f"settings-{label}.json").read_text())
        return env

    def scenario(
        self, scenario: Scenario, database: str, env: dict[str, str], pg: tuple[Postgres, str] | None
    ) -> ScenarioResult:
        self.standin.set_latency(scenario.latency_ms)
        floor = ServerFigures("floor", None)
        app = ServerFigures("app", database)
        hand = ServerFigures("hand", database)
        what = f"{scenario.endpoint.name}, " if scenario.endpoint.read else ""
        log(
            f"{database}, {what}Stripe at {scenario.latency_ms} ms, {scenario.clients} clients: "
            "starting servers"
        )
        with contextlib.ExitStack() as servers:
            # The app first: a read's floor answers the app's own bytes.
            app_server = servers.enter_context(self.server("app", "config.wsgi", env))
            hand_server = servers.enter_context(self.server("hand", HANDWRITTEN, env))
            self.compare_answers(app_server, hand_server, scenario.endpoint)
            floor_app, floor_env = "bench.floor:application", env
            if scenario.endpoint.read:
                floor_app = "bench.floor:reads"
                floor_env = {**env, **self.read_answer(app_server, scenario.endpoint)}
            floor_server = servers.enter_context(self.server("floor", floor_app, floor_env))
            # In turns, floor, app, hand, then hand, app, floor, ...: other work on the machine
            # weighs on the three alike, and each run of one is taken beside a run of the others.
            turns = [(floor_server, floor), (app_server, app), (hand_server, hand)]
            for server, figures in turns:
                self.warm_up(server, figures, scenario)
            for index in range(self.args.runs):
                for server, figures in turns if index % 2 == 0 else turns[::-1]:
                    run, connections = self.measured_run(
                        server, scenario, pg if figures is not floor else None
                    )
                    figures.runs.append(run)
                    figures.new_connections += connections
                    log(
                        f"  run {index + 1}/{self.args.runs} {figures.kind:5}: {run.load.rps:7,.0f} req/s, "
                        f"p99 {run.load.latency_ms['p99']:6.1f} ms, errors {run.load.errors or 0}, "
                        f"other work {run.other_cores:.1f} cores"
                    )
            floor.peak_rss_mib = floor_server.peak_rss_kib / 1024
            app.peak_rss_mib = app_server.peak_rss_kib / 1024
            hand.peak_rss_mib = hand_server.peak_rss_kib / 1024
        return ScenarioResult(
            scenario,
            database,
            floor,
            app,
            hand,
            plans_cache_s=float(self.shipped["BILLING_PLANS_CACHE_SECONDS"]),
        )

    def memory_check(self, env: dict[str, str]) -> MemoryCheck:
        scenario = Scenario(0, 16, 5000)
        log("memory: the app on SQLite, peak RSS after 5,000 and after 20,000 requests")
        errors: dict[str, int] = {}
        self.standin.set_latency(0)
        with self.server("app", "config.wsgi", env) as server:
            peaks = []
            for requests in (5000, 15000):
                load = self.drive(server, scenario.clients, requests)
                for key, n in load.errors.items():
                    errors[key] = errors.get(key, 0) + n
                time.sleep(0.3)
                peaks.append(max(server.peak_rss_kib, tree_rss_kib(server.process.pid)) / 1024)
                log(f"  after {sum((5000, 15000)[: len(peaks)]):,} requests: {peaks[-1]:.1f} MiB")
        return MemoryCheck("SQLite", scenario, peaks[0], peaks[1], errors)

    def database_block(
        self, label: str, database: str, url: str, scenarios: list[Scenario], pg: Postgres | None
    ) -> tuple[list[ScenarioResult], dict[str, str]]:
        env = self.prepare_database(label, url)
        results = [self.scenario(s, database, env, (pg, url) if pg else None) for s in scenarios]
        return results, env


def build_scenarios(args: argparse.Namespace) -> list[Scenario]:
    """The portal's scenarios in the order asked, then the reads (unless --no-reads)."""
    chosen = args.scenario or (["0ms", QUICK_READ] if args.quick else [*DEFAULT_SCENARIOS, "reads"])
    portal, reads = [], []
    for text in chosen:
        if text in READS or text == "reads":
            requests = args.requests or (300 if args.quick else READ_REQUESTS)
            for key in READS if text == "reads" else [text]:
                reads.append(Scenario(0, READ_CLIENTS, requests, READS[key]))
            continue
        latency, clients = parse_scenario(text)
        # At least 25 requests per client: a run lasts long enough for every client to matter.
        requests = args.requests or (
            300 if args.quick else max(DEFAULT_REQUESTS.get(latency, 3000), 25 * clients)
        )
        portal.append(Scenario(latency, clients, requests))
    return portal if args.no_reads else portal + list(dict.fromkeys(reads))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark POST /subscriptions/portal against a bare Stripe-calling floor, "
        "and the reads (GET /subscriptions, /subscriptions/my, /subscriptions/pending-payment) "
        "against a floor that answers the app's own bytes.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a few hundred requests, one run, one scenario (smoke test)"
    )
    parser.add_argument("--requests", type=int, help="requests per measured run (default 5,000 / 3,000)")
    parser.add_argument("--runs", type=int, help="measured runs per server and scenario (default 3)")
    parser.add_argument(
        "--scenario",
        action="append",
        help="the portal: 0ms (16 clients), 300ms (64 clients), 300x256 or <ms>x<clients>; the reads: "
        f"reads (all three), {', '.join(READS)}; repeatable (default: those three and reads)",
    )
    parser.add_argument("--no-reads", action="store_true", help="leave the read endpoints out")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only (no memory check)")
    parser.add_argument("--no-memory-check", action="store_true", help="skip the 5,000 vs 20,000 check")
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="FILE",
        help="also write the figures as JSON to FILE (no FILE: JSON on stdout, the table on stderr)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="before each run, wait up to this long for other work on the machine to stop (default 30)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs, databases)")
    args = parser.parse_args(argv)
    if args.scenario and args.no_reads and all(s in READS or s == "reads" for s in args.scenario):
        parser.error("--no-reads leaves none of the scenarios asked for")
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    return args


def bulkhead_size(bench: Bench) -> str:
    """The Stripe bulkhead's size per worker, as the servers read it (the default: derived from
    the threads, as config/settings.py derives it)."""
    if "STRIPE_MAX_CONCURRENT_CALLS" in bench.env:
        return bench.env["STRIPE_MAX_CONCURRENT_CALLS"]
    return f"{bulkhead_size_default(int(bench.config['threads']))} (default)"


def header(
    bench: Bench,
    args: argparse.Namespace,
    capacity: dict[str, Any],
    scenarios: list[Scenario],
    results: list[ScenarioResult],
) -> str:
    import gunicorn

    config = bench.config
    load = os.getloadavg()
    # A read's floor answers fixed bytes, as the trivial app does: it runs at the load
    # generator's own limit, the very figure this line compares the others with.
    aside = (
        " (the reads' floors aside: they do no more than that trivial app)"
        if any(r.scenario.endpoint.read for r in results)
        else ""
    )
    rates = [f.rps for r in results for f in r.servers if not (f is r.floor and r.scenario.endpoint.read)]
    fastest = max(rates or [1.0])
    headroom = capacity["rps"] / fastest if fastest else 0.0
    return "\n".join(
        [
            f"Portal benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, gunicorn {gunicorn.__version__} "
            f"{config['worker_class']} {config['workers']} workers {X} {config['threads']} threads, "
            f"{config['worker_connections']} connections each"
            f"{', preload' if config['preload_app'] else ''}; "
            f"STRIPE_MAX_CONCURRENT_CALLS={bulkhead_size(bench)}",
            f"Load: {wrk.describe()}, Connection: close, {USERS:,} users' tokens in turn "
            f"({_rate_room(bench)}); "
            f"{args.runs} measured run(s) per server after a warm-up, medians; requests per run: "
            + ", ".join(f"{s.requests:,} ({s.name})" for s in scenarios),
            f"Load generator capacity: {capacity['rps']:,.0f} req/s against a trivial WSGI app under the "
            f"same gunicorn settings ({capacity['clients']} clients), {headroom:.1f}{X} the fastest rate "
            f"measured below{aside}; load average now "
            f"{load[0]:.2f} (other work on this machine shares the cores)",
        ]
    )


def _portal_rate(bench: Bench) -> tuple[int, int] | None:
    """The portal's per-user rate as the servers read it: (hits, seconds)."""
    from core.ratelimit import parse_rate

    rate = bench.shipped.get("BILLING_PORTAL_RATE")
    return parse_rate(rate) if rate else None


def _rate_room(bench: Bench) -> str:
    """How fast the app may answer the portal before a user's turn comes round too often."""
    rate = _portal_rate(bench)
    if rate is None:
        return "the portal's rate not read"
    hits, seconds = rate
    return (
        f"BILLING_PORTAL_RATE {bench.shipped['BILLING_PORTAL_RATE']} each: room for "
        f"{USERS * hits / seconds:,.0f} portal req/s"
    )


def _collections(figures: ServerFigures) -> str:
    if not figures.gc_full:
        return "none"
    return f"{figures.gc_full}, {figures.gc_full_ms:.0f} ms in all"


def footer(
    results: list[ScenarioResult], memory: MemoryCheck | None, max_connections: int, pg_reason: str | None
) -> str:
    lines = []
    if any(not r.scenario.endpoint.read for r in results):
        lines.append(
            f"Targets: 0 ms ÷ floor ≥ {RATIO_AT_0_MS}; 300 ms up to {CROWDED_CLIENTS} clients: ÷ floor ≥ "
            f"{RATIO_AT_300_MS}, p99 < {P99_AT_300_MS:.0f} ms; 300 ms beyond: "
            f"÷ floor ≥ {RATIO_AT_300_MS_CROWDED}, "
            f"no answer over {MAX_MS_CROWDED:.0f} ms (max ms: the slowest of all runs); everywhere 0 errors, "
            f"Django's DB q/req ≤ 3, Stripe/req = 1, new conns ≤ {max_connections} (worker threads); "
            f"÷ hand (app req/s ÷ the hand-written server's) ≥ {RATIO_TO_HAND:.2f}."
        )
    reads = list(dict.fromkeys(r.scenario.endpoint for r in results if r.scenario.endpoint.read))
    if reads:
        lines.append(
            "Reads' targets: 0 errors, Stripe/req = 0 (not one call in a run), Django's DB q/req ≤ "
            + ", ".join(f"{e.max_queries:.0f} ({e.path})" for e in reads)
            + f", new conns ≤ {max_connections}, ÷ hand ≥ {RATIO_TO_HAND:.2f}; ÷ floor has no target (the "
            "floor answers the app's own bytes, fetched once)."
        )
    refreshing = [r for r in results if r.scenario.endpoint.refreshes]
    if refreshing:
        lines.append(
            "The plan list's refreshes from Stripe over the measured runs (at most one per "
            "BILLING_PLANS_CACHE_SECONDS, plus one, per run; only the catalogue's calls): "
            + ", ".join(
                f"{r.database} app {r.app.refreshes} of {r.app.refreshes_allowed(r.plans_cache_s)} allowed"
                + (f", hand {r.hand.refreshes}" if r.hand else "")
                + f" ({r.plans_cache_s:.0f} s)"
                for r in refreshing
            )
            + "."
        )
    if pg_reason:
        lines.append(f"PostgreSQL: not measured ({pg_reason}).")
    pg = [r for r in results if r.app.pg_statements_per_request is not None]
    if pg:
        django_counts = ", ".join(f"{r.scenario.name}: {r.app.queries_per_request:.2f}" for r in pg)
        db_cpu = ", ".join(
            f"{r.scenario.name}: {r.app.db_cpu_ms_per_request or 0:.2f} ms"
            + (f" (hand {r.hand.db_cpu_ms_per_request or 0:.2f} ms)" if r.hand else "")
            for r in pg
        )
        lines.append(
            "PostgreSQL DB q/req is the server's own count (pg_stat_statements), health checks "
            f"(CONN_HEALTH_CHECKS' SELECT 1) included; Django's own queries: {django_counts}. "
            f"PostgreSQL's own CPU per request (not in CPU ms/req): {db_cpu}."
        )
    if memory is not None:
        lines.append(
            f"Memory ({memory.database}, {memory.scenario.name}): peak RSS "
            f"{memory.peak_after_5k_mib:.1f} MiB after 5,000 requests, "
            f"{memory.peak_after_20k_mib:.1f} MiB after 20,000 "
            f"({memory.growth_mib:+.1f} MiB){' ✓' if memory.ok else ' ✗'}"
        )
    collections = ", ".join(
        f"{r.scenario.name} {r.database}: {_collections(r.app)} (floor {_collections(r.floor)}"
        + (f", hand {_collections(r.hand)}" if r.hand else "")
        + ")"
        for r in results
    )
    if collections:
        lines.append(
            "Full garbage collections in the workers over the measured runs (every thread of a worker "
            f"waits while one runs), the app's: {collections}."
        )
    others = sorted(run.other_cores for r in results for f in r.servers for run in f.runs)
    if others:
        lines.append(
            f"Other work on this machine during the measured runs: median {others[len(others) // 2]:.1f} "
            f"cores busy, at most {others[-1]:.1f} (of {os.cpu_count()}); CPU ms/req is the least "
            "sensitive figure to it."
        )
    warmup = [(r, f) for r in results for f in r.servers if f.warmup_errors]
    for result, figures in warmup:
        lines.append(
            f"Warm-up errors ({result.scenario.name}, {result.database}, {figures.kind}): "
            f"{figures.warmup_errors}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "storm" in argv and argv[argv.index("storm") - 1] == "--scenario":
        # The webhook storm is a benchmark of its own (bench/storm.py): it takes the rest of
        # the flags it knows (--events, --no-postgres, --json ...).
        from bench import storm

        rest = argv[: argv.index("storm") - 1] + argv[argv.index("storm") + 1 :]
        return storm.main(rest)
    args = parse_args(argv)
    if not wrk.wrk_path():
        log("wrk is required (Debian: apt-get install wrk); it is the benchmark's load generator")
        return 2
    scenarios = build_scenarios(args)
    pg_reason = "--no-postgres" if args.no_postgres else Postgres.unavailable_reason()
    if pg_reason:
        log(f"PostgreSQL scenarios skipped: {pg_reason}")
    workdir = Path(tempfile.mkdtemp(prefix="billing-bench-"))
    bench = Bench(args, workdir)
    results: list[ScenarioResult] = []
    memory: MemoryCheck | None = None
    try:
        capacity = bench.loadgen_capacity()
        if not args.no_sqlite:
            sqlite_results, sqlite_env = bench.database_block(
                "sqlite", "SQLite", f"sqlite:///{workdir / 'bench.sqlite3'}", scenarios, None
            )
            results += sqlite_results
            if not (args.quick or args.no_memory_check):
                memory = bench.memory_check(sqlite_env)
        if not pg_reason:
            bin_dir = Postgres.find_bin()
            assert bin_dir is not None
            log(f"PostgreSQL: a throwaway cluster from {bin_dir}")
            pg = Postgres(bin_dir)
            try:
                url = pg.create_database("bench")
                pg_results, _ = bench.database_block("postgres", "PostgreSQL", url, scenarios, pg)
                results += pg_results
            finally:
                pg.stop(keep=args.keep)
                if args.keep:
                    log(f"kept {pg.dir}")
    except BenchError as e:
        log(f"stopped: {e}")
        return 1
    finally:
        bench.close()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    text = "\n\n".join(
        [
            header(bench, args, capacity, scenarios, results),
            table(results, bench.max_connections),
            footer(results, memory, bench.max_connections, pg_reason),
        ]
    )
    document = {
        "server": bench.config,
        "loadgen": {"kind": "wrk", "version": wrk.describe(), "capacity": capacity},
        "runs": args.runs,
        "users": USERS,
        "shipped_settings": bench.shipped,
        "postgres_skipped": pg_reason,
        "scenarios": [r.to_dict(bench.max_connections) for r in results],
        "memory": memory.to_dict() if memory else None,
    }
    if args.json == "-":
        print(text, file=sys.stderr)
        print(json.dumps(document, indent=2))
    else:
        print(text)
        if args.json:
            Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
