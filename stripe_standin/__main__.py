"""``python -m stripe_standin [options]``: serve the stand-in until SIGINT or SIGTERM.

Prints ``stripe-standin listening on <url>`` once ready.

Options
    ``--host 127.0.0.1``, ``--port 12111`` (0: any free port), ``--latency-ms 0``
        where to listen, and a delay added to every /v1/ answer.
    ``--seed-demo-catalogue``
        create the demo plans at start-up: Free, Starter and Pro (monthly and
        yearly prices in USD, Entitlements features with metadata
        ``code``/``type``/``value``), with fixed ids such as ``prod_demo_pro``
        and ``price_demo_pro_monthly``.
    ``--webhook-url URL`` (env ``STRIPE_STANDIN_WEBHOOK_URL``)
        POST every event (subscription, checkout, invoice, product, price,
        entitlement summary, customer changes) there, in order, as Stripe does.
    ``--webhook-secret whsec_...`` (env ``STRIPE_STANDIN_WEBHOOK_SECRET``, then
        ``STRIPE_WEBHOOK_SECRET``) the secret events are signed with
        (``Stripe-Signature``), the one the receiver verifies with.

The offline demo (``make run``) starts it empty and sets it up the way a Stripe account is set
up, with ``python manage.py billing_setup billing/plans.toml --apply``; by hand, with the app on
port 8000::

    python -m stripe_standin \\
        --webhook-url http://127.0.0.1:8000/subscriptions/webhook --webhook-secret whsec_demo
    STRIPE_SECRET_KEY=sk_test_demo STRIPE_API_BASE=http://127.0.0.1:12111 \\
        python manage.py billing_setup --apply

Everything can also be changed while running through ``/_standin/`` control
endpoints (``POST /_standin/webhook``, ``POST /_standin/catalogue/seed``, ...),
see ``stripe_standin.control``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType

from stripe_standin.server import StripeStandIn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stripe_standin", description="Local stand-in for Stripe's REST API (subset)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=12111, help="port to bind, 0 for any (default: 12111)")
    parser.add_argument("--latency-ms", type=float, default=0, help="delay every /v1/ answer (default: 0)")
    parser.add_argument(
        "--seed-demo-catalogue", action="store_true", help="create the demo plans (Free, Starter, Pro)"
    )
    parser.add_argument(
        "--webhook-url",
        default=os.environ.get("STRIPE_STANDIN_WEBHOOK_URL") or None,
        help="deliver signed events to this URL (env STRIPE_STANDIN_WEBHOOK_URL)",
    )
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("STRIPE_STANDIN_WEBHOOK_SECRET")
        or os.environ.get("STRIPE_WEBHOOK_SECRET")
        or None,
        help="whsec_... signing secret (env STRIPE_STANDIN_WEBHOOK_SECRET, STRIPE_WEBHOOK_SECRET)",
    )
    args = parser.parse_args(argv)
    if args.webhook_url and not args.webhook_secret:
        parser.error("--webhook-url needs --webhook-secret (or STRIPE_STANDIN_WEBHOOK_SECRET)")

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        standin = StripeStandIn(
            latency_ms=args.latency_ms, webhook_url=args.webhook_url, webhook_secret=args.webhook_secret
        )
    except ValueError as err:
        parser.error(str(err))
    try:
        url = standin.start(args.host, args.port)
    except OSError as err:
        print(f"stripe-standin: cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 1
    if args.seed_demo_catalogue:
        standin.seed_demo_catalogue()
    print(f"stripe-standin listening on {url}", flush=True)
    while not stop.wait(0.5):
        pass
    standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
