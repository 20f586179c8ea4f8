"""Per-key rate limits: a sliding-window counter, one atomic round trip to shared state per hit.

The count must hold across every worker process and, on Redis, every instance. Each key keeps
two fixed windows of the rate's period (aligned to the epoch): the hits counted in the current
window and in the previous one, and for each the times of its first and last counted hit.
A hit is let through when

    previous hits still in the sliding window + current hits + 1 <= limit

where the previous window's hits are taken as spread evenly between its first and last hit
(all of them at one instant when they were: a burst then leaves the window exactly one period
later, as a log of timestamps would have it). Memory per key is bounded (a handful of
numbers), and a refused hit is not counted.

Where the state lives:

- no `REDIS_URL`: a row per key in the database (`core.models.RateCounter`), read, rolled
  over, checked and written by one `INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE`
  statement (SQLite >= 3.35 and PostgreSQL), in autocommit: the database serialises the
  statements for a key, so no lock of our own is held across processes. The row is written
  only when the hit fits, and the statement's row count says whether it did. It returns no
  row: on SQLite a statement with RETURNING keeps the file's write lock until its rows have
  been read, which is after this thread has taken the GIL back, and every other writer of
  every process waited (SQLite's busy sleeps of 1, 2, 5, 10... ms) meanwhile. A refused hit
  reads the row afterwards, for its `Retry-After` only. Call it outside a transaction (the row
  would stay locked until the transaction ends). Rows whose windows are both over are deleted
  now and then, by one statement;
- `REDIS_URL`: a hash per key, updated by one Lua script (atomic in Redis), with an expiry.

`hit_stamped` answers the time a hit was counted at; `forget` takes that hit back by
decrementing the window it was counted in (nothing when that window is already over).
Time is this process's clock (`time.time`): instances should keep their clocks in sync.
"""

from __future__ import annotations

import functools
import math
import random
import time
from typing import Any

from django.conf import settings
from django.db import connection

_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
# About one hit in this many also deletes the expired rows (the embedded backend).
PRUNE_EVERY = 1000


# Bounds of a rate: the counters are 32-bit integers, and a period is at least a second (the
# windows divide time by it) and at most a year.
MAX_COUNT = 2**31 - 1
MAX_PERIOD = 366 * 86400


@functools.lru_cache(maxsize=64)
def parse_rate(rate: str) -> tuple[int, int]:
    """`"10/min"` → `(10, 60)`: that many hits per that many seconds. Raises ValueError for
    anything else (config/settings.py's rates are checked at start-up: core/checks.py)."""
    count, _, period = rate.partition("/")
    count, period = count.strip(), period.strip().lower()
    digits = period[: len(period) - len(period.lstrip("0123456789"))]
    unit = period[len(digits) :]
    if unit not in _UNITS or not (count.isascii() and count.isdigit()):
        raise ValueError(f"Unrecognised rate {rate!r}; expected e.g. '10/min'")
    hits, seconds = int(count), int(digits or 1) * _UNITS[unit]
    if hits > MAX_COUNT or not 1 <= seconds <= MAX_PERIOD:
        raise ValueError(f"Unrecognised rate {rate!r}: at most {MAX_COUNT} per a period of 1 s to 366 days")
    return hits, seconds


# --- the arithmetic, shared by both backends ------------------------------------------------


def _share_left(first: float, last: float, period: int, now: float) -> float:
    """The share of a finished window's hits (spread over [first, last]) still within the
    sliding window ending at `now`: a hit at `t` is within it while `t > now - period`."""
    if last + period <= now:
        return 0.0
    if last <= first:
        return 1.0
    return min(1.0, (last + period - now) / (last - first))


def _retry_after(
    *, limit: int, period: int, now: float, counts: tuple[int, float, float, int, float, float]
) -> float:
    """Seconds until a hit would be let through, for a key refused at `now` (no hit meanwhile)."""
    hits, first, last, prev_hits, prev_first, prev_last = counts
    if limit <= 0:
        return float(period)
    if prev_hits * _share_left(prev_first, prev_last, period, now) + hits + 1 <= limit:
        # Room already (the embedded backend reads the counts after its refused hit, and hits
        # may have left the window meanwhile): as soon as possible.
        return 0.001
    if hits <= limit - 1:  # the previous window's hits must leave: at most `room` of them may stay
        room = (limit - 1 - hits) / prev_hits
        moment = prev_last + period - room * (prev_last - prev_first)
    else:  # this window's own: once it is over, they are the previous window's
        room = (limit - 1) / hits
        moment = last + period - room * (last - first)
    # Capped at the period: another process may count a hit a moment after this `now` was
    # read (its clock read later), which would otherwise push the answer past the period by
    # those milliseconds ("61 s" for a per-minute rate).
    return min(max(moment - now, 0.001), float(period))


def _key(key: str) -> str:
    return f"ratelimit:{key}"


# --- the embedded backend: one row per key ------------------------------------------------

_T = "core_ratecounter"
# On a conflict the row is rolled over to this window in a derived table: kept as is in the
# same window, rolled once (the current window becomes the previous) in the next one, emptied
# when both of its windows are over. Then the previous window's share still in the sliding
# window, then whether this hit fits: the update's WHERE. Its SET writes the hit onto the
# rolled row. Both databases run this one statement (a row-value SET from a correlated
# sub-SELECT), short enough for the drivers to cache and the servers to parse cheaply.
_ROLLED = f"""
SELECT
    (CASE WHEN {_T}.window_start = %(window)s THEN {_T}.hits ELSE 0 END) AS h,
    (CASE WHEN {_T}.window_start = %(window)s THEN {_T}.first_at ELSE 0.0 END) AS f,
    (CASE WHEN {_T}.window_start = %(window)s THEN {_T}.last_at ELSE 0.0 END) AS l,
    (CASE WHEN {_T}.window_start = %(window)s THEN {_T}.prev_hits
          WHEN {_T}.window_start = %(previous_window)s THEN {_T}.hits ELSE 0 END) AS ph,
    (CASE WHEN {_T}.window_start = %(window)s THEN {_T}.prev_first_at
          WHEN {_T}.window_start = %(previous_window)s THEN {_T}.first_at ELSE 0.0 END) AS pf,
    (CASE WHEN {_T}.window_start = %(window)s THEN {_T}.prev_last_at
          WHEN {_T}.window_start = %(previous_window)s THEN {_T}.last_at ELSE 0.0 END) AS pl
"""
_SHARED = f"""
SELECT h, f, l, ph, pf, pl,
    (CASE WHEN ph = 0 OR pl + %(period)s - %(now)s <= 0 THEN 0.0
          WHEN pl <= pf OR pl + %(period)s - %(now)s >= pl - pf THEN 1.0
          ELSE (pl + %(period)s - %(now)s) / (pl - pf) END) AS share
FROM ({_ROLLED}) AS rolled
"""  # noqa: S608 (constants; values bound)
_LET = f"""
SELECT h, f, l, ph, pf, pl, (CASE WHEN ph * share + h + 1 <= %(limit)s THEN 1 ELSE 0 END) AS t
FROM ({_SHARED}) AS shared
"""  # noqa: S608 (constants; values bound)
_HIT_SQL = f"""
INSERT INTO {_T} ("key", window_start, hits, first_at, last_at, prev_hits, prev_first_at, prev_last_at,
                  expires_at)
VALUES (%(key)s, %(window)s, 1, %(now)s, %(now)s, 0, 0.0, 0.0, %(expires)s)
ON CONFLICT ("key") DO UPDATE SET
    (hits, first_at, last_at, prev_hits, prev_first_at, prev_last_at, window_start, expires_at) = (
    SELECT h + 1, (CASE WHEN h = 0 THEN %(now)s ELSE f END), %(now)s, ph, pf, pl, %(window)s, %(expires)s
    FROM ({_ROLLED}) AS rolled
    )
WHERE (SELECT t FROM ({_LET}) AS let) = 1
"""  # noqa: S608 (built from this module's constants; every value is bound)
# A refused hit's counts, rolled over to this window as the hit statement rolls them.
_READ_SQL = f"""{_ROLLED} FROM {_T} WHERE "key" = %(key)s"""
_FORGET_SQL = f"""
UPDATE {_T} SET
    hits = (CASE WHEN window_start = %(window)s AND hits > 0 THEN hits - 1 ELSE hits END),
    prev_hits = (CASE WHEN window_start = %(next_window)s AND prev_hits > 0 THEN prev_hits - 1
                 ELSE prev_hits END)
WHERE "key" = %(key)s AND window_start IN (%(window)s, %(next_window)s)
"""  # noqa: S608 (constants; values bound)
_RESET_SQL = 'DELETE FROM core_ratecounter WHERE "key" = %(key)s'
_PRUNE_SQL = "DELETE FROM core_ratecounter WHERE expires_at < %(now)s"


# The counts of a key with no row: (hits, first, last) of this window and of the previous one.
_NO_HITS = (0, 0.0, 0.0, 0, 0.0, 0.0)


def _db_hit(key: str, limit: int, period: int, now: float) -> tuple[bool, tuple[Any, ...]]:
    window = math.floor(now / period) * period
    if limit < 1:
        return False, _NO_HITS
    params: dict[str, str | int | float] = {
        "key": key,
        "window": window,
        "previous_window": window - period,
        "period": period,
        "now": now,
        "limit": limit,
        "expires": window + 2 * period,
    }
    with connection.cursor() as cursor:
        cursor.execute(_HIT_SQL, params)
        counted = cursor.rowcount == 1
        if random.randrange(PRUNE_EVERY) == 0:  # noqa: S311 (not security: spreads the pruning)
            cursor.execute(_PRUNE_SQL, {"now": now})
        if counted:
            return True, ()
        cursor.execute(_READ_SQL, {"key": key, "window": window, "previous_window": window - period})
        row = cursor.fetchone()
    return False, tuple(row) if row is not None else _NO_HITS


def _db_forget(key: str, window: int, period: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_FORGET_SQL, {"key": key, "window": window, "next_window": window + period})


def _db_reset(key: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_RESET_SQL, {"key": key})


# --- the Redis backend: one hash per key, one script per hit --------------------------------

# KEYS[1]: the key's hash. ARGV: now, window, period, limit. Answers the counts as strings
# (Redis would truncate numbers to integers).
_HIT_LUA = """
local now, window, period, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local s = redis.call('HMGET', KEYS[1], 'w', 'h', 'f', 'l', 'ph', 'pf', 'pl')
local w = tonumber(s[1])
local h, f, l, ph, pf, pl = 0, 0, 0, 0, 0, 0
if w == window then
  h, f, l = tonumber(s[2]), tonumber(s[3]), tonumber(s[4])
  ph, pf, pl = tonumber(s[5]), tonumber(s[6]), tonumber(s[7])
elseif w == window - period then
  ph, pf, pl = tonumber(s[2]), tonumber(s[3]), tonumber(s[4])
end
local share = 0
local left = pl + period - now
if ph > 0 and left > 0 then
  if pl <= pf or left >= pl - pf then share = 1 else share = left / (pl - pf) end
end
local counted = 0
if ph * share + h + 1 <= limit then
  counted = 1
  if h == 0 then f = now end
  h, l = h + 1, now
end
redis.call('HSET', KEYS[1], 'w', window, 'h', h, 'f', string.format('%.6f', f), 'l', string.format('%.6f', l),
           'ph', ph, 'pf', string.format('%.6f', pf), 'pl', string.format('%.6f', pl))
redis.call('EXPIREAT', KEYS[1], window + 2 * period)
return {counted, tostring(h), string.format('%.6f', f), string.format('%.6f', l), tostring(ph),
        string.format('%.6f', pf), string.format('%.6f', pl)}
"""
# KEYS[1]: the key's hash. ARGV: the window the hit was counted in, period.
_FORGET_LUA = """
local window, period = tonumber(ARGV[1]), tonumber(ARGV[2])
local w = tonumber(redis.call('HGET', KEYS[1], 'w'))
local field = nil
if w == window then field = 'h' elseif w == window + period then field = 'ph' end
if field and tonumber(redis.call('HGET', KEYS[1], field) or '0') > 0 then
  redis.call('HINCRBY', KEYS[1], field, -1)
end
return 0
"""
_scripts: dict[str, Any] = {}


def _redis_script(name: str, source: str) -> Any:
    if name not in _scripts:
        from django_redis import get_redis_connection

        _scripts[name] = get_redis_connection("default").register_script(source)
    return _scripts[name]


def _redis_hit(key: str, limit: int, period: int, now: float) -> tuple[bool, tuple[Any, ...]]:
    window = math.floor(now / period) * period
    answer = _redis_script("hit", _HIT_LUA)(keys=[_key(key)], args=[repr(now), window, period, limit])
    counted, hits, first, last, prev_hits, prev_first, prev_last = answer
    counts = (int(hits), float(first), float(last), int(prev_hits), float(prev_first), float(prev_last))
    return bool(int(counted)), counts


def _redis_forget(key: str, window: int, period: int) -> None:
    _redis_script("forget", _FORGET_LUA)(keys=[_key(key)], args=[window, period])


def _redis_reset(key: str) -> None:
    from django_redis import get_redis_connection

    get_redis_connection("default").delete(_key(key))


# --- the API ------------------------------------------------------------------------------


def hit(*, key: str, rate: str) -> float | None:
    """Count one hit for `key`. None if it is within `rate`, else seconds until it would be."""
    retry_after, _ = hit_stamped(key=key, rate=rate)
    return retry_after


def hit_stamped(*, key: str, rate: str) -> tuple[float | None, float | None]:
    """As `hit`, also answering the time the hit was counted at (None when it was refused), for
    `forget` to take it back once it turns out not to count."""
    limit, period = parse_rate(rate)
    now = time.time()
    counter = _redis_hit if settings.REDIS_URL else _db_hit
    counted, counts = counter(key, limit, period, now)
    if counted:
        return None, now
    return _retry_after(limit=limit, period=period, now=now, counts=counts), None


def forget(*, key: str, stamp: float, rate: str) -> None:
    """Take back the one hit counted at `stamp` for `key` (by `hit_stamped`): one fewer in the
    window it was counted in, if that window still counts."""
    _, period = parse_rate(rate)
    window = math.floor(stamp / period) * period
    (_redis_forget if settings.REDIS_URL else _db_forget)(key, window, period)


def reset(*, key: str) -> None:
    """Forget every hit of `key`."""
    (_redis_reset if settings.REDIS_URL else _db_reset)(key)
