"""Rate counters are kept however many keys there are, and the file cache sweeps what expired.

Django's file cache culls a third of its entries at random past MAX_ENTRIES (300 by default):
enough users opening the portal, or login attempts for enough addresses (which anyone can
make), used to erase live counters, and a limited caller started afresh. The counters now live
in the database (no REDIS_URL); a full cache must still not touch them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

from core import ratelimit
from tests import figures


@pytest.fixture
def small_cache(settings: Any, tmp_path: Path) -> Path:
    """The project's configured cache backend, in a fresh directory, with a small MAX_ENTRIES."""
    default = settings.CACHES["default"]
    if not default["BACKEND"].endswith("FileBasedCache"):
        pytest.skip("the default cache is not the file cache here")
    settings.CACHES = {"default": {**default, "LOCATION": str(tmp_path), "OPTIONS": {"MAX_ENTRIES": 50}}}
    return tmp_path


@pytest.mark.django_db
def test_a_live_counter_survives_the_cache_filling_up(small_cache: Path) -> None:
    assert ratelimit.hit(key="portal:user:victim", rate="1/min") is None
    assert ratelimit.hit(key="portal:user:victim", rate="1/min") is not None
    for i in range(400):  # other users, or login attempts for made-up addresses
        ratelimit.hit(key=f"login:email:{i}", rate="5/min")
        cache.set(f"other-{i}", 1, timeout=60)  # and the cache filling up beside them
    still_limited = ratelimit.hit(key="portal:user:victim", rate="1/min") is not None
    figures.record("rate counters beside a full file cache", keys_written_past_max_entries=400 - 50)
    assert still_limited, "the victim's counter was culled: the limit started afresh"


def test_expired_entries_are_swept_once_max_entries_is_reached(small_cache: Path) -> None:
    for i in range(60):
        cache.set(f"short-{i}", 1, timeout=1)
    time.sleep(1.2)
    cache.set("long", 1, timeout=60)  # past MAX_ENTRIES: this write sweeps the expired ones
    files = list(small_cache.glob("*.djcache"))
    assert len(files) == 1, len(files)
    assert cache.get("long") == 1
