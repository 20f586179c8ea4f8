"""Bounds on waiting for a service that may be slow or down: a bulkhead and a circuit breaker.

Both are per process and thread-safe; they decide, the caller raises its own error.

- `Bulkhead`: at most `size` calls in flight at once; past it a caller is refused at once
  instead of queueing, so a hung service can hold only a share of a worker's threads.
- `CircuitBreaker`: after `failures` failures in a row it opens for `reset_seconds`, refusing
  calls without making them; then one trial call is let through (half-open): its success
  closes the breaker, its failure opens it again.
"""

from __future__ import annotations

import threading
import time


class Bulkhead:
    def __init__(self, size: int) -> None:
        self.size = size
        self._slots = threading.BoundedSemaphore(size)

    def try_enter(self) -> bool:
        return self._slots.acquire(blocking=False)

    def leave(self) -> None:
        self._slots.release()


class CircuitBreaker:
    def __init__(self, *, failures: int, reset_seconds: float) -> None:
        self.failures = failures
        self.reset_seconds = reset_seconds
        self._lock = threading.Lock()
        self._failed = 0
        self._open_until = 0.0
        self._trial_running = False

    def allow(self) -> float | None:
        """None when a call may go ahead; else the seconds until the breaker lets one try."""
        with self._lock:
            if self._failed < self.failures:
                return None
            now = time.monotonic()
            if now < self._open_until:
                return self._open_until - now
            if self._trial_running:  # half-open: one trial at a time
                return self.reset_seconds
            self._trial_running = True
            return None

    def record(self, *, ok: bool) -> None:
        with self._lock:
            self._trial_running = False
            if ok:
                self._failed = 0
                return
            self._failed += 1
            if self._failed >= self.failures:
                self._open_until = time.monotonic() + self.reset_seconds

    def reset(self) -> None:
        with self._lock:
            self._failed, self._open_until, self._trial_running = 0, 0.0, False
