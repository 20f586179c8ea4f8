"""Bounds on waiting for a service that may be slow or down: a bulkhead and a circuit breaker.

Both are per process and thread-safe; they decide, the caller raises its own error.

- `Bulkhead`: at most `size` calls in flight at once. A caller that finds every slot taken
  waits for one, in turn, but only while the calls in flight are moving: one was answered, or
  sent, lately. Once nothing has moved for a short while (`patience`, a small multiple of the
  service's usual answer time) the waiters are refused, and so is every caller that finds the
  slots taken: a hung service holds `size` threads, never the rest. While the service
  answers briskly, calls past `size` go straight to it, up to `burst` (the threads that
  could call it), each given at most `burst_seconds`: a reserve of threads that waited in
  the bulkhead would only hold them idle, and a hang that starts meanwhile gets them back
  within those seconds.
- `CircuitBreaker`: after `failures` failures in a row it opens for `reset_seconds`, refusing
  calls without making them; then one trial call is let through (half-open): its success
  closes the breaker, its failure opens it again. Only the service's own answers count: a
  call that never reached it is neither (`release`).
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque

# How many of a server process's threads are kept from the bulkhead by default: an eighth
# (8 of 64), at least one. While the service hangs they serve everything that does not call it.
_RESERVE_FRACTION = 8


def bulkhead_size_default(threads: int) -> int:
    """The bulkhead's default size for a process serving requests on `threads` threads."""
    reserve = max(1, threads // _RESERVE_FRACTION)
    return max(1, threads - reserve)


class Bulkhead:
    """At most `size` calls in flight; past it, a short wait for a slot while calls are answered.

    `expected_seconds` is the answer time assumed before any call has been answered; then the
    typical time follows the answers (a moving average). `patience` is that times
    `patience_factor`, held between `min_patience` and `max_patience`: how long the slots may
    stay taken with no answer before a waiter stops waiting. The upper bound is what a door
    that never calls the service may be held up when the service hangs with every slot taken.

    `burst` (at least `size`; by default `size`, no burst): while the service has answered
    within the patience and its typical answer time is at most a quarter of `burst_seconds`,
    a caller that finds the `size` slots taken takes one of the slots up to `burst` at once,
    and its call must end within `burst_seconds` (`admit` says so). Waiting for a slot
    while every thread is busy with calls that are being answered holds the waiter's thread
    all the same, for nothing: the reserve is for a hang, and at a hang's start the calls
    in burst slots end within `burst_seconds`, after which none is given (no answers).
    """

    # Weight of one answer in the moving average of answer times.
    _SMOOTHING = 0.2

    def __init__(
        self,
        size: int,
        *,
        expected_seconds: float = 0.3,
        patience_factor: float = 2.0,
        min_patience: float = 0.25,
        max_patience: float = 0.75,
        burst: int | None = None,
        burst_seconds: float = 2.0,
    ) -> None:
        if size < 1:
            raise ValueError(f"a bulkhead needs at least one slot, not {size}")
        self.size = size
        self.burst = max(size, burst or size)
        self.burst_seconds = burst_seconds
        self.expected_seconds = expected_seconds
        self.patience_factor = patience_factor
        self.min_patience = min_patience
        self.max_patience = max_patience
        self._changed = threading.Condition(threading.Lock())
        self._in_flight = 0
        self._queue: deque[int] = deque()  # the waiters' tickets, first come first served
        self._tickets = itertools.count()
        self._typical = expected_seconds
        # The last sign that the calls in flight are moving: an answer, a call sent, or the
        # moment the slots filled up from free (a burst: nothing could have been answered yet;
        # on a busy machine the calls may not all have been sent yet either).
        self._moving_at = float("-inf")
        self._answered_at = float("-inf")  # the last answer

    def patience(self) -> float:
        with self._changed:
            return self._patience()

    def _patience(self) -> float:
        return min(self.max_patience, max(self.min_patience, self.patience_factor * self._typical))

    def enter(self, *, wait: float = 0.0) -> bool:
        """Take a slot; False when none came free within `wait` s, or the calls stopped moving."""
        return self.admit(wait=wait) is not None

    def admit(self, *, wait: float = 0.0) -> float | None:
        """Take a slot: None when none came free within `wait` s, or the calls stopped moving;
        else the seconds the call may take at most (infinite but for a burst slot)."""
        with self._changed:
            now = time.monotonic()
            if not self._queue:
                limit = self._slot(now, filled_by_newcomer=True)
                if limit is not None:
                    return limit
            ticket = next(self._tickets)
            self._queue.append(ticket)
            give_up_at = now + wait
            try:
                while True:
                    if self._queue[0] == ticket:
                        limit = self._slot(now, filled_by_newcomer=False)
                        if limit is not None:
                            return limit
                    until = min(give_up_at, self._moving_at + self._patience())
                    if now >= until:
                        return None
                    self._changed.wait(until - now)
                    now = time.monotonic()
            finally:
                self._queue.remove(ticket)
                if self._queue:
                    self._changed.notify_all()  # the next in line may go, or stop waiting

    def _slot(self, now: float, *, filled_by_newcomer: bool) -> float | None:
        """Take a slot if one may be taken now: a regular one (no limit), else a burst one."""
        if self._in_flight < self.size:
            self._in_flight += 1
            if self._in_flight == self.size and filled_by_newcomer:
                self._moving_at = max(self._moving_at, now)
            return math.inf
        if (
            self._in_flight < self.burst
            and now - self._answered_at < self._patience()
            and self._typical * 4 <= self.burst_seconds
        ):
            self._in_flight += 1
            return self.burst_seconds
        return None

    def sent(self) -> None:
        """A call in flight has just been sent: its answer is due within the patience.

        Only a call's first try counts (a retry follows a failure, which is no progress). In
        a burst on a busy machine the last calls to take a slot may be sent well after the
        slots filled; the patience then runs from the last of them, not from the fill.
        """
        with self._changed:
            self._moving_at = max(self._moving_at, time.monotonic())

    def leave(self, *, answered: bool, seconds: float = 0.0) -> None:
        """Give the slot back; `answered`: the service answered, in `seconds` (a timeout or an
        error of the service's own is not an answer, nor is a call that never reached it)."""
        with self._changed:
            self._in_flight -= 1
            if answered:
                self._moving_at = self._answered_at = time.monotonic()
                self._typical += self._SMOOTHING * (seconds - self._typical)
            if self._queue:
                self._changed.notify_all()

    def forget(self) -> None:
        """Drop what the answers taught (tests; calls in flight keep their slots)."""
        with self._changed:
            self._typical = self.expected_seconds
            self._moving_at = self._answered_at = float("-inf")


class CircuitBreaker:
    def __init__(self, *, failures: int, reset_seconds: float) -> None:
        self.failures = failures
        self.reset_seconds = reset_seconds
        self._lock = threading.Lock()
        self._failed = 0
        self._open_until = 0.0
        self._trial: int | None = None  # the thread making the half-open trial call

    def allow(self) -> float | None:
        """None when a call may go ahead; else the seconds until the breaker lets one try."""
        with self._lock:
            if self._failed < self.failures:
                return None
            now = time.monotonic()
            if now < self._open_until:
                return self._open_until - now
            if self._trial is not None:  # half-open: one trial at a time
                return self.reset_seconds
            self._trial = threading.get_ident()
            return None

    def record(self, *, ok: bool) -> None:
        """The service answered (`ok`), or failed on its side (timeout, 5xx, 429)."""
        with self._lock:
            self._trial = None
            if ok:
                self._failed = 0
                return
            self._failed += 1
            if self._failed >= self.failures:
                self._open_until = time.monotonic() + self.reset_seconds

    def release(self) -> None:
        """The call allowed on this thread never reached the service (refused before it, or
        failed on our side): nothing is counted, and a trial it held goes to the next caller."""
        with self._lock:
            if self._trial == threading.get_ident():
                self._trial = None

    def reset(self) -> None:
        with self._lock:
            self._failed, self._open_until, self._trial = 0, 0.0, None


class RateLimiter:
    """At most `rate` acquisitions in any `window` seconds: a sliding log of the last `rate`.

    `acquire` blocks until one more call keeps every window of that length at or under the
    rate. A token bucket refilled at `rate` per second lets up to twice `rate` through in the
    one second that straddles a full bucket's burst and its refill; this log never does, which
    is what a per-second limit at the other end (Stripe's) counts. Thread-safe.
    """

    def __init__(self, rate: int, *, window: float = 1.0) -> None:
        if rate < 1:
            raise ValueError(f"a rate limit needs at least one call per window, not {rate}")
        self.rate = rate
        self.window = window
        self._sent: deque[float] = deque(maxlen=rate)
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for a turn; returns the seconds waited."""
        waited = 0.0
        with self._lock:  # callers take turns in order; the wait is held under the lock
            while len(self._sent) == self.rate:
                pause = self._sent[0] + self.window - time.monotonic()
                if pause <= 0:
                    break
                time.sleep(pause)
                waited += pause
            self._sent.append(time.monotonic())
        return waited
