"""Bounded waiting for Stripe, around every call (`_call`).

While Stripe hangs, every thread that calls it waits: without bounds, a hung Stripe takes
every thread of a worker, and logins, the health check and pages that never call Stripe
queue behind them. Three bounds, per process:
  - a deadline for a request's Stripe work, all tries and calls together;
  - a bulkhead: at most STRIPE_MAX_CONCURRENT_CALLS calls in flight (by default the worker's
    threads less an eighth). A call that finds it full waits its turn for a slot while
    the calls in flight are moving, sent and answered (a healthy Stripe frees a slot every
    few ms), and is refused once nothing has moved for a moment (Stripe hangs), so the
    threads the bulkhead leaves free keep serving the other doors. While Stripe answers
    briskly, a call past it goes at once, up to STRIPE_BURST_CALLS (by default all the
    threads), with a short deadline of its own (`Bulkhead.burst_seconds`): every thread
    then works while Stripe is healthy, and a hang gives the reserve back within it;
  - a circuit breaker: after a run of Stripe's own failures (timeouts, connection errors,
    429, 5xx), calls are refused without trying for a short while, then one trial call
    decides. A call that never reached Stripe (the bulkhead full, the deadline spent)
    counts neither way.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import stripe
from django.conf import settings

from billing.errors import (
    BillingError,
    BillingUnavailable,
)
from billing.stripe_gateway.errors import _stripe_errors
from core.db import connection_release_if_pooled
from core.resilience import Bulkhead, CircuitBreaker, RateLimiter

logger = logging.getLogger(__name__)

# A call made on the side of a page view (the refresh after the portal) must not hold the
# page for the full deadline while Stripe is down: it gets one short try.
_QUICK_DEADLINE_SECONDS = 2.0
# No try starts with less time left than this: it could only time out.
_MIN_TRY_SECONDS = 0.5

_state = threading.local()

T = TypeVar("T")


# Before any answer, the bulkhead assumes Stripe's usual answer time; then it learns it.
_STRIPE_USUAL_SECONDS = 0.3


class _DeadlineSpent(stripe.APIConnectionError):
    """A Stripe request that was not sent: the request's deadline had already passed."""


def _time_left() -> float | None:
    deadline = getattr(_state, "deadline", None)
    return None if deadline is None else deadline - time.monotonic()


def deadline_seconds() -> float:
    """The seconds left for Stripe work in this request (the configured deadline outside one)."""
    left = _time_left()
    return settings.STRIPE_DEADLINE_SECONDS if left is None else max(0.0, left)


@contextmanager
def request_deadline(seconds: float | None = None) -> Iterator[None]:
    """Every Stripe call inside shares one deadline, `seconds` from now (or an outer, earlier one)."""
    previous = getattr(_state, "deadline", None)
    at = time.monotonic() + (settings.STRIPE_DEADLINE_SECONDS if seconds is None else seconds)
    _state.deadline = at if previous is None else min(previous, at)
    try:
        yield
    finally:
        _state.deadline = previous


_bulkheads: dict[tuple[int, int], Bulkhead] = {}


_bulkheads_lock = threading.Lock()


def _bulkhead(size: int, burst: int) -> Bulkhead:
    with _bulkheads_lock:
        if (size, burst) not in _bulkheads:
            _bulkheads[size, burst] = Bulkhead(size, burst=burst, expected_seconds=_STRIPE_USUAL_SECONDS)
        return _bulkheads[size, burst]


@functools.lru_cache(maxsize=4)
def _breaker(failures: int, reset_seconds: float) -> CircuitBreaker:
    return CircuitBreaker(failures=failures, reset_seconds=reset_seconds)


def _current_breaker() -> CircuitBreaker:
    return _breaker(settings.STRIPE_BREAKER_FAILURES, settings.STRIPE_BREAKER_SECONDS)


def resilience_reset() -> None:
    """Close the circuit breaker and forget Stripe's answer times (tests, and an operator's
    shell after a fix)."""
    _current_breaker().reset()
    with _bulkheads_lock:
        bulkheads = list(_bulkheads.values())
    for bulkhead in bulkheads:
        bulkhead.forget()


@contextmanager
def _call(call: str, *, quick: bool = False) -> Iterator[None]:
    """One Stripe call: bounded (deadline, bulkhead, breaker) and its errors mapped."""
    budget = min(deadline_seconds(), _QUICK_DEADLINE_SECONDS) if quick else deadline_seconds()
    if budget <= 0:  # an earlier call spent the request's time: this one is not made
        logger.warning("billing.stripe_deadline_spent", extra={"call": call})
        raise BillingUnavailable()
    breaker = _current_breaker()
    retry_after = breaker.allow()
    if retry_after is not None:
        logger.warning("billing.stripe_circuit_open", extra={"call": call})
        raise BillingUnavailable(retry_after=retry_after)
    # Handed back before waiting for a slot, not only before the call itself.
    connection_release_if_pooled()
    bulkhead = _bulkhead(settings.STRIPE_MAX_CONCURRENT_CALLS, settings.STRIPE_BURST_CALLS)
    # A slot must leave time for a try: waiting longer could only end in a timeout.
    limit = bulkhead.admit(wait=max(0.0, budget - _MIN_TRY_SECONDS))
    if limit is None:
        breaker.release()  # Stripe was not asked: neither a success nor a failure
        logger.warning("billing.stripe_bulkhead_full", extra={"call": call, "size": bulkhead.size})
        raise BillingUnavailable()
    # Stripe answered (True), failed on its side (False), or was never reached (None).
    answered: bool | None = None
    started = time.monotonic()
    _state.single_try = quick
    _state.unsent = bulkhead
    # The call's own bound: a quick one's short try, a burst slot's limit, else the request's.
    bound = min(_QUICK_DEADLINE_SECONDS if quick else math.inf, limit)
    try:
        with request_deadline(None if bound == math.inf else bound), _stripe_errors(call):
            yield
        answered = True
    except BillingUnavailable as e:
        answered = None if isinstance(e.__cause__, _DeadlineSpent) else False
        raise
    except BillingError:
        answered = True  # Stripe answered: a refusal is not an outage
        raise
    finally:
        _state.single_try = False
        _state.unsent = None
        bulkhead.leave(answered=answered is True, seconds=time.monotonic() - started)
        if answered is None:  # never reached Stripe, or our own code failed after it answered
            breaker.release()
        else:
            breaker.record(ok=answered)


# The sync's calls (`sync_call`): a 429 is waited out, from this much, doubling, at most the cap
# (a `Retry-After` Stripe gives is honoured up to the cap).
_SYNC_RATE_LIMITED_FIRST_WAIT = 0.5
_SYNC_RATE_LIMITED_MAX_WAIT = 30.0
# Stripe's clock (the requests' arrival) and ours differ by the network's jitter: the window is
# kept a little longer than the second it stands for.
_SYNC_WINDOW_SECONDS = 1.05


@functools.lru_cache(maxsize=4)
def _sync_limiter(rate: int) -> RateLimiter:
    return RateLimiter(rate, window=_SYNC_WINDOW_SECONDS)


def _rate_limited(error: BaseException | None) -> bool:
    return isinstance(error, stripe.StripeError) and error.http_status == 429


def _rate_limited_wait(error: stripe.StripeError, tries: int) -> float:
    """How long to wait after Stripe's 429: its `Retry-After` if given, else a doubling back-off
    from a short first wait; never past the cap. `Stripe-Should-Retry: false` is not read here:
    it tells clients not to retry at once, and a rate limit measured per second is over by the
    next second, so the back-off is what it asks for."""
    headers = error.headers or {}
    retry_after = headers.get("Retry-After") or headers.get("retry-after")
    if retry_after is not None:
        try:
            return min(max(0.0, float(retry_after)), _SYNC_RATE_LIMITED_MAX_WAIT)
        except ValueError:
            pass
    return min(_SYNC_RATE_LIMITED_FIRST_WAIT * 2**tries, _SYNC_RATE_LIMITED_MAX_WAIT)


def sync_call(call: str, fetch: Callable[[], T]) -> T:
    """One call of the sync command (a page of a list): at most `STRIPE_SYNC_RATE` requests in
    any one second, and Stripe's 429 waited out and tried again, however often it comes.

    It runs in its own foreground process, not behind a page: no deadline, no bulkhead, and
    no circuit breaker either way, so a rate limit neither stops it nor counts as an outage.
    Other failures (after the client's own retries) raise billing errors, as `_call`'s do.
    """
    tries = 0
    while True:
        _state.limiter = _sync_limiter(settings.STRIPE_SYNC_RATE)
        try:
            with _stripe_errors(call):
                return fetch()
        except BillingUnavailable as e:
            cause = e.__cause__
            if not isinstance(cause, stripe.StripeError) or not _rate_limited(cause):
                raise
            wait = _rate_limited_wait(cause, tries)
            tries += 1
            logger.warning(
                "billing.stripe_sync_rate_limited", extra={"call": call, "tries": tries, "wait": wait}
            )
        finally:
            _state.limiter = None
        time.sleep(wait)
