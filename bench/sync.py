"""`python -m bench.sync`: the sync command at scale, against the stand-in seeded in bulk.

For each size (default 10,000 and 100,000 organizations) and database, it starts the stand-in,
seeds that many customers with a subscription each (`seed_bulk`, without their events), creates
one organization per customer in a fresh database, and runs `manage.py sync_subscriptions` as an
operator would, at the shipped `STRIPE_SYNC_RATE`. Then it changes 200 subscriptions at the
stand-in (each change an event, as Stripe records them) and runs `sync_subscriptions --since`
today. For each run it reports the Stripe calls the command made, its wall time and its peak
memory (the resident set of the command's process). It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.procs import ROOT, Postgres, StandIn, _http

# A test-mode key of this run's own: the stand-in accepts any.
_KEY = "sk_test_bench_" + secrets.token_hex(8)


@dataclass
class SyncRun:
    database: str
    organizations: int
    run: str  # "full" or "since"
    calls: int
    seconds: float
    peak_mib: float
    exit_status: int
    summary: str


def _environment(database_url: str, standin: StandIn) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        DJANGO_SECRET_KEY="bench-sync-not-a-secret-" + "x" * 32,
        DJANGO_SECURE_SSL_REDIRECT="0",
        DATABASE_URL=database_url,
        STRIPE_SECRET_KEY=_KEY,
        STRIPE_API_BASE=standin.url,
    )
    return env


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)


def _organizations(env: dict[str, str], customer_ids: list[str], workdir: Path) -> None:
    """One organization per customer, in bulk (not what is measured)."""
    ids_file = workdir / "customers.json"
    ids_file.write_text(json.dumps(customer_ids))
    script = (
        "import json, sys; from organizations.models import Organization; "
        f"ids = json.load(open({str(ids_file)!r})); "
        "Organization.objects.bulk_create([Organization(name=f'Org {n}', stripe_customer_id=c) "
        "for n, c in enumerate(ids)], batch_size=2000)"
    )
    _manage(env, "shell", "-c", script)


def _timed(env: dict[str, str], *args: str) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS (MiB), exit status and last output line of one command."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    lines = [line for line in output.splitlines() if line.strip()]
    return seconds, usage.ru_maxrss / 1024, process.returncode, lines[-1] if lines else ""


def _change(standin: StandIn, customer_ids: list[str], count: int) -> None:
    """`count` subscriptions set to cancel at the period's end at the stand-in, each an event."""
    step = max(1, len(customer_ids) // count)
    for customer in customer_ids[::step][:count]:
        request = urllib.request.Request(
            f"{standin.url}/v1/subscriptions?customer={customer}&status=all",
            headers={"Authorization": f"Bearer {_KEY}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            listed = json.loads(response.read())
        for subscription in listed["data"][:1]:
            standin._control("POST", f"subscriptions/{subscription['id']}", {"cancel_at_period_end": True})


def _measure(database: str, database_url: str, size: int, changes: int, workdir: Path) -> list[SyncRun]:
    standin = StandIn(workdir / f"standin-{database}-{size}.log")
    try:
        # 100,000 customers take the stand-in a while: longer than a control call's usual timeout.
        status, body = _http("POST", f"{standin.url}/_standin/seed_bulk", {"n": size}, timeout=900)
        if status != 200:
            raise RuntimeError(f"seeding the stand-in: {status} {body[:200]!r}")
        customer_ids: list[str] = json.loads(body)["customers"]
        env = _environment(database_url, standin)
        _manage(env, "migrate", "--noinput", "-v", "0")
        _organizations(env, customer_ids, workdir)
        runs = []
        since = datetime.now(tz=UTC).strftime("%Y-%m-%d")
        before = _api_calls(standin)
        seconds, peak, status, summary = _timed(env, "sync_subscriptions")
        calls = _api_calls(standin) - before
        runs.append(SyncRun(database, size, "full", calls, seconds, peak, status, summary))
        if changes:
            _change(standin, customer_ids, changes)
            before = _api_calls(standin)
            seconds, peak, status, summary = _timed(env, "sync_subscriptions", "--since", since)
            calls = _api_calls(standin) - before
            runs.append(
                SyncRun(database, size, f"since ({changes} changes)", calls, seconds, peak, status, summary)
            )
        return runs
    finally:
        standin.stop()


def _api_calls(standin: StandIn) -> int:
    """The requests the stand-in received on Stripe's API so far (what Stripe would count)."""
    return sum(n for route, n in standin.stats()["by_path"].items() if " /v1/" in route)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sync", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="organizations, comma-separated")
    parser.add_argument("--changes", type=int, default=200, help="changes before the --since run (0: none)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]

    runs: list[SyncRun] = []
    with tempfile.TemporaryDirectory(prefix="billing-bench-sync-") as tmp:
        workdir = Path(tmp)
        postgres = None
        if not args.no_postgres and Postgres.unavailable_reason() is None:
            bin_dir = Postgres.find_bin()
            assert bin_dir is not None
            postgres = Postgres(bin_dir)
        try:
            for size in sizes:
                if not args.no_sqlite:
                    url = f"sqlite:///{workdir}/sync-{size}.sqlite3"
                    runs += _measure("sqlite", url, size, args.changes, workdir)
                    _report(runs[-2:] if args.changes else runs[-1:])
                if postgres is not None:
                    url = postgres.create_database(f"sync_{size}")
                    runs += _measure("postgresql", url, size, args.changes, workdir)
                    _report(runs[-2:] if args.changes else runs[-1:])
        finally:
            if postgres is not None:
                postgres.stop()
    print()
    _report(runs, header=True)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in runs], indent=2))
    return 0 if all(r.exit_status == 0 for r in runs) else 1


def _report(runs: list[SyncRun], *, header: bool = False) -> None:
    if header:
        print(
            f"{'database':<11} {'organizations':>13}  {'run':<20} {'calls':>6} {'seconds':>8} {'peak MiB':>9}"
        )
    for r in runs:
        print(
            f"{r.database:<11} {r.organizations:>13,}  {r.run:<20} {r.calls:>6} {r.seconds:>8.1f} "
            f"{r.peak_mib:>9.0f}" + ("" if r.exit_status == 0 else f"  exit {r.exit_status}: {r.summary}"),
            flush=True,
        )


if __name__ == "__main__":
    raise SystemExit(main())


__all__: list[Any] = ["main"]
