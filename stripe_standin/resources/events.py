"""Events and their signed webhook deliveries.

``GET /v1/events`` and ``GET /v1/events/{id}`` serve the recorded events as Stripe does (the
last 30 days, newest first).

Every state change becomes an event (``Store.emit``, ``event_object``) that is recorded and
queued. A ``Deliverer`` POSTs queued events, oldest first, to the configured endpoint, signed
the way Stripe signs them::

    Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>

so ``stripe.Webhook.construct_event(body, header, secret)`` accepts them. One delivery at a
time (so the receiver sees them in order), never with the store's lock held; a failed delivery
is retried a few times with a short backoff, then recorded as failed and skipped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from stripe_standin import core, errors, params
from stripe_standin.core import Call

if TYPE_CHECKING:
    from stripe_standin.store import Store


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value for ``payload``."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


@dataclass
class Delivery:
    """One event's delivery: its final outcome after every attempt."""

    event: str  # evt_...
    type: str
    url: str
    status: int | None  # the last HTTP status, None when the endpoint could not be reached
    ok: bool
    attempts: int
    error: str | None
    time: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def post_event(
    event: dict[str, Any], url: str, secret: str, *, retries: int, backoff_s: float, timeout_s: float
) -> Delivery:
    payload = json.dumps(event, indent=2).encode()
    status: int | None = None
    error: str | None = None
    attempts = 0
    for attempt in range(retries + 1):
        attempts = attempt + 1
        request = urllib.request.Request(  # noqa: S310 (http(s) only, checked when set)
            url,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": signature_header(payload, secret),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
                status, error = response.status, None
        except urllib.error.HTTPError as err:
            status, error = err.code, f"HTTP {err.code}"
        except (OSError, ValueError) as err:  # refused, timed out, bad URL
            status, error = None, f"{type(err).__name__}: {err}"
        if status is not None and 200 <= status < 300:
            break
        if attempt < retries:
            time.sleep(min(backoff_s * 2**attempt, 5.0))
    ok = status is not None and 200 <= status < 300
    return Delivery(event["id"], event["type"], url, status, ok, attempts, error, time.time())


class Deliverer:
    """A background thread that drains the outbox whenever it is woken."""

    def __init__(self, drain: Callable[[], object]) -> None:
        self._drain = drain
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="stripe-standin-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        self._wake.set()
        thread.join(timeout=10)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            self._drain()


def event_object(
    type: str,
    data_object: dict[str, Any],
    previous_attributes: dict[str, Any] | None,
    *,
    api_version: str,
    request_id: str | None = None,
    idempotency_key: str | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"object": data_object}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": core.new_id("evt", 24),
        "object": "event",
        "api_version": api_version,
        "created": created or core.now(),
        "data": data,
        "livemode": bool(data_object.get("livemode", False)),
        "pending_webhooks": 1,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": type,
    }


def type_matches(event_type: str, wanted: str) -> bool:
    """``wanted`` may end in ``*``: "price.*" matches every price event."""
    return event_type.startswith(wanted[:-1]) if wanted.endswith("*") else event_type == wanted


# Stripe lists the events of the last 30 days only.
EVENTS_KEPT_DAYS = 30
MAX_TYPES = 20


def list_events(store: Store, call: Call) -> dict[str, Any]:
    """``GET /v1/events``: newest first, ``type`` (may end in ``*``) or ``types[]``, ``created``."""
    q = params.allow(
        call.query,
        "created",
        "delivery_success",
        "ending_before",
        "limit",
        "starting_after",
        "type",
        "types",
        "expand",
    )
    wanted_type = params.str_param(q, "type")
    wanted_types = q.get("types")
    if wanted_type is not None and wanted_types is not None:
        raise errors.invalid_parameter("types", "You may pass either type or types, but not both.")
    if wanted_types is not None:
        if isinstance(wanted_types, str):
            wanted_types = [wanted_types]
        if not isinstance(wanted_types, list) or not all(isinstance(t, str) for t in wanted_types):
            raise errors.invalid_parameter("types", "Invalid array", code="parameter_invalid_array")
        if len(wanted_types) > MAX_TYPES:
            raise errors.invalid_parameter(
                "types", f"You may pass at most {MAX_TYPES} types.", code="parameter_invalid_array"
            )
    oldest = core.now() - EVENTS_KEPT_DAYS * core.DAY
    matching = [
        e
        for e in reversed(store.events)  # recorded in order: the last is the newest
        if e["created"] >= oldest
        and (wanted_type is None or type_matches(e["type"], wanted_type))
        and (wanted_types is None or e["type"] in wanted_types)
        and params.created_matches(e["created"], q)
    ]
    page = params.paginate(matching, q, "/v1/events")
    return store.expand(page, q)


def retrieve_event(store: Store, call: Call) -> dict[str, Any]:
    """``GET /v1/events/{id}``: an event of the last 30 days (older ones are gone, as at Stripe)."""
    (event_id,) = call.args
    oldest = core.now() - EVENTS_KEPT_DAYS * core.DAY
    for event in reversed(store.events):
        if event["id"] == event_id and event["created"] >= oldest:
            return store.expand(event, call.query)
    raise errors.no_such("event", event_id, param="id", status=404)
