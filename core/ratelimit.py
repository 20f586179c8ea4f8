"""A per-key sliding-window rate limit kept in the shared cache.

The count must hold across every worker process (and, on Redis, every instance), so the
read-modify-write of a key's history happens under a lock that spans processes: Redis's
own lock when the cache is Redis, an `flock` on a file beside the cache otherwise.

On the file cache, keys are spread over 64 locks (lock files), not one: the read-modify-write
is a dozen file system calls, each a chance for another thread to take the GIL, and with one
lock for every key all portal requests of all workers queued behind whichever held it
(bench/README.md has the figures).
Hits for the same key still exclude each other.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.core.cache import cache, caches
from django.core.cache.backends.filebased import FileBasedCache

_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
_STRIPES = 64
_thread_locks = [threading.Lock() for _ in range(_STRIPES)]


def parse_rate(rate: str) -> tuple[int, int]:
    """`"10/min"` → `(10, 60)`: that many hits per that many seconds."""
    count, _, period = rate.partition("/")
    period = period.strip().lower()
    digits = "".join(ch for ch in period if ch.isdigit())
    unit = period[len(digits) :]
    if unit not in _UNITS or not count.strip().isdigit():
        raise ValueError(f"Unrecognised rate {rate!r}; expected e.g. '10/min'")
    return int(count), int(digits or 1) * _UNITS[unit]


@contextmanager
def _cache_lock(key: str) -> Iterator[None]:
    if hasattr(cache, "lock"):  # django-redis: one lock per key, shared by every instance
        with cache.lock(f"lock:{key}", timeout=5, blocking_timeout=5):
            yield
        return
    stripe = zlib.crc32(key.encode()) % _STRIPES  # the same for a key in every process
    backend = caches["default"]
    if isinstance(backend, FileBasedCache):
        directory = Path(backend._dir)  # type: ignore[attr-defined]
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory / f"ratelimit-{stripe}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            with _thread_locks[stripe]:  # flock is per open file description; threads need their own
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        return
    with _thread_locks[stripe]:  # a per-process cache: a process lock is all there is to hold
        yield


def hit(*, key: str, rate: str) -> float | None:
    """Count one hit for `key`. None if it is within `rate`, else seconds until it would be."""
    retry_after, _ = hit_stamped(key=key, rate=rate)
    return retry_after


def hit_stamped(*, key: str, rate: str) -> tuple[float | None, float | None]:
    """As `hit`, also answering the time the hit was counted at (None when it was refused), for
    `forget` to take it back once it turns out not to count."""
    limit, window = parse_rate(rate)
    cache_key = f"ratelimit:{key}"
    with _cache_lock(cache_key):
        now = time.time()
        history = [t for t in cache.get(cache_key, []) if t > now - window]
        if len(history) >= limit:
            return history[0] + window - now, None
        history.append(now)
        cache.set(cache_key, history, timeout=window)
    return None, now


def forget(*, key: str, stamp: float, rate: str) -> None:
    """Take back the one hit counted at `stamp` for `key` (by `hit_stamped`)."""
    _, window = parse_rate(rate)
    cache_key = f"ratelimit:{key}"
    with _cache_lock(cache_key):
        now = time.time()
        history = [t for t in cache.get(cache_key, []) if t > now - window]
        if stamp in history:
            history.remove(stamp)
            cache.set(cache_key, history, timeout=window)


def reset(*, key: str) -> None:
    """Forget every hit of `key`."""
    cache_key = f"ratelimit:{key}"
    with _cache_lock(cache_key):
        cache.delete(cache_key)
