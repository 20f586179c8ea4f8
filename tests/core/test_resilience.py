"""The bulkhead, the circuit breaker and the rate limiter on their own (core/resilience.py).

The bulkhead: a caller that finds every slot taken waits its turn while the calls in flight
are answered, and is refused at once once they have stopped being answered. The breaker:
only the service's own answers count, and a call that never reached it gives back a
half-open trial it held. Through the Stripe gateway: tests/billing/test_stripe_bounds.py.
"""

from __future__ import annotations

import math
import threading
import time

import pytest

from core.resilience import Bulkhead, CircuitBreaker, RateLimiter, bulkhead_size_default

# No test here waits on a hang for longer than this: it bounds a hang, it is not a speed claim.
HANG = 5.0


def _bulkhead(size: int = 1, patience: float = 0.2) -> Bulkhead:
    return Bulkhead(
        size, expected_seconds=patience, patience_factor=1.0, min_patience=patience, max_patience=patience
    )


def _enter_on_a_thread(bulkhead: Bulkhead, wait: float) -> tuple[threading.Thread, list[bool]]:
    got: list[bool] = []
    thread = threading.Thread(target=lambda: got.append(bulkhead.enter(wait=wait)))
    thread.start()
    return thread, got


def _waiting(bulkhead: Bulkhead, count: int) -> None:
    deadline = time.monotonic() + HANG
    while len(bulkhead._queue) < count and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(bulkhead._queue) == count


def test_the_default_size_keeps_an_eighth_of_the_threads_and_at_least_one_slot():
    assert bulkhead_size_default(64) == 56
    assert bulkhead_size_default(16) == 14
    assert bulkhead_size_default(2) == 1
    assert bulkhead_size_default(1) == 1
    with pytest.raises(ValueError):
        Bulkhead(0)


def test_a_waiter_gets_the_slot_of_a_call_that_is_answered():
    bulkhead = _bulkhead()
    assert bulkhead.enter()
    thread, got = _enter_on_a_thread(bulkhead, wait=HANG)
    _waiting(bulkhead, 1)

    bulkhead.leave(answered=True, seconds=0.05)
    thread.join(HANG)

    assert got == [True]


def test_a_waiter_keeps_its_turn_while_answers_keep_coming_past_its_patience():
    """Answers more often than the patience: the waiter waits as long as it takes (up to its
    `wait`), however long that is in all."""
    bulkhead = Bulkhead(2, expected_seconds=0.1, patience_factor=1.0, min_patience=0.15, max_patience=0.15)
    assert bulkhead.enter() and bulkhead.enter()
    first, first_got = _enter_on_a_thread(bulkhead, wait=HANG)
    _waiting(bulkhead, 1)
    second, second_got = _enter_on_a_thread(bulkhead, wait=HANG)
    _waiting(bulkhead, 2)

    time.sleep(0.1)
    bulkhead.leave(answered=True, seconds=0.1)  # the first waiter's turn
    first.join(HANG)
    time.sleep(0.1)
    bulkhead.leave(answered=True, seconds=0.1)  # 0.2 s since the second came: past its patience
    second.join(HANG)

    assert first_got == [True] and second_got == [True]


def test_waiters_are_served_in_turn_and_a_newcomer_queues_behind_them():
    bulkhead = _bulkhead(patience=HANG)
    assert bulkhead.enter()
    order: list[str] = []

    def wait_for_a_slot(name: str) -> None:
        if bulkhead.enter(wait=HANG):
            order.append(name)
            bulkhead.leave(answered=True, seconds=0.01)

    threads = []
    for count, name in enumerate(["first", "second", "third"], start=1):
        threads.append(threading.Thread(target=wait_for_a_slot, args=(name,)))
        threads[-1].start()
        _waiting(bulkhead, count)
    assert not bulkhead.enter(wait=0)  # a slot is not free; and waiters go first anyway

    bulkhead.leave(answered=True, seconds=0.01)
    for thread in threads:
        thread.join(HANG)

    assert order == ["first", "second", "third"]


def test_calls_still_being_sent_keep_a_waiter_waiting_for_their_answers():
    """A burst on a busy machine: the slots filled, but the last calls to take them are sent
    late. The patience runs from the last one sent, not from the fill."""
    bulkhead = _bulkhead(size=2, patience=0.2)
    assert bulkhead.enter() and bulkhead.enter()
    thread, got = _enter_on_a_thread(bulkhead, wait=HANG)
    _waiting(bulkhead, 1)

    time.sleep(0.15)
    bulkhead.sent()  # the second call goes out only now
    time.sleep(0.15)  # 0.3 s after the fill: past the patience counted from it
    bulkhead.leave(answered=True, seconds=0.15)
    thread.join(HANG)

    assert got == [True]


def test_a_caller_that_finds_the_slots_taken_by_a_hung_call_is_refused_at_once():
    bulkhead = _bulkhead(patience=0.2)
    assert bulkhead.enter()  # the hung call: never answered
    time.sleep(0.25)  # longer than the patience: nothing has moved

    started = time.monotonic()
    assert not bulkhead.enter(wait=HANG)
    assert time.monotonic() - started < HANG / 5, "it waited for the hung call"


def test_a_waiter_stops_waiting_once_the_calls_in_flight_stop_being_answered():
    """The slots filled a moment ago (a burst): waiting is granted, then ends with the
    patience, long before the hung call would free its slot."""
    bulkhead = _bulkhead(patience=0.2)
    assert bulkhead.enter()
    thread, got = _enter_on_a_thread(bulkhead, wait=HANG)

    thread.join(HANG / 5)

    assert got == [False], "still waiting on the hung call"


def test_a_call_that_failed_is_not_an_answer():
    bulkhead = _bulkhead(size=2, patience=0.2)
    assert bulkhead.enter() and bulkhead.enter()
    time.sleep(0.25)
    bulkhead.leave(answered=False, seconds=0.25)  # a timeout: the slot is free, nothing moved
    assert bulkhead.enter()  # the free slot is taken at once, without waiting

    started = time.monotonic()
    assert not bulkhead.enter(wait=HANG)
    assert time.monotonic() - started < HANG / 5


def test_the_patience_follows_the_answers_within_its_bounds():
    bulkhead = Bulkhead(4, expected_seconds=0.3, patience_factor=2.0, min_patience=0.25, max_patience=0.75)
    assert bulkhead.patience() == pytest.approx(0.6)
    for _ in range(40):
        assert bulkhead.enter()
        bulkhead.leave(answered=True, seconds=0.01)
    assert bulkhead.patience() == pytest.approx(0.25)
    for _ in range(40):
        assert bulkhead.enter()
        bulkhead.leave(answered=True, seconds=3.0)
    assert bulkhead.patience() == pytest.approx(0.75)


def _answering(size: int = 1, burst: int = 2, answer_seconds: float = 0.05) -> Bulkhead:
    """A bulkhead of `size` slots and `burst` in all, whose service has just answered a call."""
    bulkhead = Bulkhead(size, burst=burst, burst_seconds=2.0, expected_seconds=0.3, min_patience=0.25)
    for _ in range(20):
        assert bulkhead.enter()
        bulkhead.leave(answered=True, seconds=answer_seconds)
    return bulkhead


def test_while_the_service_answers_a_caller_past_the_size_goes_at_once_with_a_short_bound():
    bulkhead = _answering(size=1, burst=2)
    assert bulkhead.admit() == math.inf  # the regular slot: the request's own deadline

    started = time.monotonic()
    assert bulkhead.admit(wait=HANG) == 2.0  # past the size: at once, for at most 2 s
    assert time.monotonic() - started < HANG / 5, "it waited for a slot"
    assert not bulkhead.enter(wait=0)  # past the burst: the usual wait, here none


def test_no_burst_slot_without_a_recent_answer():
    """The service has not answered lately (a hang, or no call yet): the size holds."""
    fresh = Bulkhead(1, burst=2, expected_seconds=0.1, min_patience=0.2, max_patience=0.2)
    assert fresh.enter()
    assert not fresh.enter(wait=0)

    answered = _answering(size=1, burst=2)
    time.sleep(0.3)  # longer than the patience (twice the typical 0.05 s, at least 0.25 s)
    assert answered.enter()
    assert not answered.enter(wait=0)


def test_no_burst_slot_while_the_service_answers_slowly():
    """Answers taking more than a quarter of the burst's bound: a burst call could time out."""
    bulkhead = _answering(size=1, burst=2, answer_seconds=0.6)
    assert bulkhead.enter()
    assert not bulkhead.enter(wait=0)


def test_without_a_burst_the_size_is_the_bound():
    bulkhead = _answering(size=1, burst=1)
    assert bulkhead.enter()
    assert not bulkhead.enter(wait=0)


def test_the_breaker_counts_failures_across_calls_that_never_reached_the_service():
    breaker = CircuitBreaker(failures=2, reset_seconds=HANG)
    assert breaker.allow() is None
    breaker.record(ok=False)
    assert breaker.allow() is None
    breaker.release()  # refused before reaching the service: no answer either way
    assert breaker.allow() is None
    breaker.record(ok=False)

    assert breaker.allow() is not None  # open


def test_a_half_open_trial_that_never_reached_the_service_goes_to_the_next_caller():
    breaker = CircuitBreaker(failures=1, reset_seconds=0.05)
    breaker.record(ok=False)
    time.sleep(0.06)
    assert breaker.allow() is None  # this thread holds the trial
    refused: list[float | None] = []

    def another_caller() -> None:
        refused.append(breaker.allow())
        breaker.release()

    other = threading.Thread(target=another_caller)
    other.start()
    other.join(HANG)
    assert refused[0] is not None  # one trial at a time; its release frees nothing of ours

    breaker.release()  # the trial was refused before reaching the service

    assert breaker.allow() is None  # the next caller gets the trial
    breaker.record(ok=True)
    assert breaker.allow() is None  # closed


class _Clock:
    """`time` for the rate limiter: `sleep` moves `monotonic` on, nothing really waits."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_rate_limiter_lets_no_window_hold_more_than_the_rate(monkeypatch):
    import core.resilience

    clock = _Clock()
    monkeypatch.setattr(core.resilience, "time", clock)
    limiter = RateLimiter(3, window=1.0)
    sent = []
    for _ in range(10):
        limiter.acquire()
        sent.append(clock.now)
        clock.now += 0.1  # the caller's own work between calls

    # Any window of one second, wherever it starts, holds at most 3: a token bucket refilled at
    # 3 a second would let a full bucket's 3 and the refill's next ones through together.
    assert max(sum(1 for t in sent if start <= t < start + 1.0) for start in sent) == 3
    assert sent[:4] == pytest.approx([1000.0, 1000.1, 1000.2, 1001.0])


def test_a_rate_below_one_is_refused():
    with pytest.raises(ValueError):
        RateLimiter(0)
