"""Test clocks: ``/v1/test_helpers/test_clocks``, time that moves only when advanced.

A customer created with ``test_clock`` lives on that clock's time: its subscriptions start,
renew and end, and their invoices and events are dated, at the clock's ``frozen_time``.
Advancing the clock runs every period end it passes, in order: a renewal (its invoice paid,
or failed when the card declines: ``past_due``), the end of a trial, or the end of a
subscription set to cancel (``customer.subscription.deleted``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stripe_standin import core, errors, params
from stripe_standin.core import Call
from stripe_standin.resources import subscriptions

if TYPE_CHECKING:
    from stripe_standin.store import Store

# Stripe deletes a clock (and its customers) 30 days after it was created.
_DELETES_AFTER_DAYS = 30


def create_test_clock(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(call.params, "frozen_time", "name", "expand")
    frozen_time = params.int_param(p, "frozen_time", "frozen_time", minimum=0)
    if frozen_time is None:
        raise errors.missing_parameter("frozen_time")
    now = core.now()
    clock: dict[str, Any] = {
        "id": core.new_id("clock", 24),
        "object": "test_helpers.test_clock",
        "created": now,
        "deletes_after": now + _DELETES_AFTER_DAYS * core.DAY,
        "frozen_time": frozen_time,
        "livemode": False,
        "name": params.str_param(p, "name"),
        "status": "ready",
        "status_details": {},
    }
    store.test_clocks[clock["id"]] = clock
    return clock


def retrieve_test_clock(store: Store, call: Call) -> dict[str, Any]:
    return store.found(store.test_clocks, "test_clock", call.args[0], param="test_clock")


def list_test_clocks(store: Store, call: Call) -> dict[str, Any]:
    q = params.allow(call.query, "limit", "starting_after", "ending_before")
    clocks = params.newest_first(store.test_clocks.values())
    return params.paginate(clocks, q, "/v1/test_helpers/test_clocks")


def delete_test_clock(store: Store, call: Call) -> dict[str, Any]:
    clock = store.found(store.test_clocks, "test_clock", call.args[0], param="test_clock")
    del store.test_clocks[clock["id"]]
    return {"id": clock["id"], "object": "test_helpers.test_clock", "deleted": True}


def advance_test_clock(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(call.params, "frozen_time", "expand")
    clock = store.found(store.test_clocks, "test_clock", call.args[0], param="test_clock")
    frozen_time = params.int_param(p, "frozen_time", "frozen_time", minimum=0)
    if frozen_time is None:
        raise errors.missing_parameter("frozen_time")
    if frozen_time <= int(clock["frozen_time"]):
        raise errors.invalid_parameter(
            "frozen_time", "The test clock can only be advanced to a time after its current frozen_time."
        )
    advance(store, clock["id"], frozen_time, base_url=call.base_url)
    return clock


def advance(store: Store, clock_id: str, frozen_time: int, *, base_url: str | None = None) -> dict[str, Any]:
    """Move the clock to `frozen_time`, running every period end on the way, oldest first.
    (Stripe does this in the background, ``advancing`` then ``ready``; here it is done when
    the call answers, its events already queued.)"""
    clock = store.test_clocks[clock_id]
    clock["status"] = "advancing"
    store.emit("test_helpers.test_clock.advancing", clock)
    customers = {c["id"] for c in store.customers.values() if c.get("test_clock") == clock_id}
    while True:
        due = [
            spec
            for spec in store.subscription_specs.values()
            if spec["customer"] in customers
            and spec["status"] not in core.ENDED
            and spec["status"] not in ("incomplete", "paused")
            and int(spec["current_period_end"]) <= frozen_time
        ]
        if not due:
            break
        spec = min(due, key=lambda s: (int(s["current_period_end"]), s["id"]))
        clock["frozen_time"] = max(int(clock["frozen_time"]), int(spec["current_period_end"]))
        subscriptions.renew(store, spec["id"], base_url=base_url, at_period_end=True)
    clock["frozen_time"] = frozen_time
    clock["status"] = "ready"
    store.emit("test_helpers.test_clock.ready", clock)
    return clock
