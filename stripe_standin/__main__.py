"""``python -m stripe_standin --host 127.0.0.1 --port 12111 --latency-ms 0``

Prints ``stripe-standin listening on <url>`` once ready and serves until
SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
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
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    standin = StripeStandIn(latency_ms=args.latency_ms)
    try:
        url = standin.start(args.host, args.port)
    except OSError as err:
        print(f"stripe-standin: cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 1
    print(f"stripe-standin listening on {url}", flush=True)
    while not stop.wait(0.5):
        pass
    standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
