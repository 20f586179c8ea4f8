"""bench/instrument.py's counters, as a worker keeps them."""

from __future__ import annotations

import gc

from bench import instrument


def test_full_collections_are_counted_and_timed_and_young_ones_are_not() -> None:
    before = dict(instrument._counts)
    gc.callbacks.append(instrument._on_gc)
    try:
        gc.collect(0)
        gc.collect(1)
        gc.collect()  # the oldest generation: a full collection
    finally:
        gc.callbacks.remove(instrument._on_gc)
    assert instrument._counts["gc_full"] == before["gc_full"] + 1
    assert instrument._counts["gc_full_us"] > before["gc_full_us"]
    assert instrument._counts["requests"] == before["requests"]
