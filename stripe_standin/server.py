"""A local stand-in for the slice of Stripe's REST API that the billing app uses.

What it is
    A small HTTP/1.1 server (keep-alive, one thread per connection) that the
    *real* ``stripe`` SDK talks to when its API base points here
    (``base_addresses={"api": standin.url}``). It speaks Stripe's wire format:
    form-encoded bodies with bracket nesting, Bearer API keys, Idempotency-Key
    semantics, ``{"error": {...}}`` bodies and a ``Request-Id`` header on every
    answer. It keeps customers, subscriptions and billing-portal sessions in
    memory, records every API request, and injects faults (latency, 500, 429,
    401, dropped connections, ...) so retries and error handling can be seen.

    Used by the test suite in-process (``StripeStandIn().start()``), and by the
    benchmark and the offline demo out of process (``python -m stripe_standin``,
    controlled over HTTP under ``/_standin/``, see ``_CONTROL`` below).

What it is not
    Not a Stripe emulator. Only these endpoints exist (anything else gets
    Stripe's "Unrecognized request URL" 404)::

        POST /v1/customers                   GET|POST|DELETE /v1/customers/{id}
        POST /v1/billing_portal/sessions     (flow_data validated and kept on the session)
        GET|POST /v1/subscriptions           GET|POST|DELETE /v1/subscriptions/{id}
        GET|POST /v1/products                GET|POST /v1/products/{id}
        GET|POST /v1/products/{id}/features  GET|DELETE /v1/products/{id}/features/{id}
        GET|POST /v1/prices                  GET|POST /v1/prices/{id}
        GET|POST /v1/entitlements/features   GET|POST /v1/entitlements/features/{id}
        GET /v1/entitlements/active_entitlements[/{id}]
        GET|POST /v1/checkout/sessions       GET /v1/checkout/sessions/{id}[/line_items]
        POST /v1/checkout/sessions/{id}/expire
        GET /v1/invoices                     GET /v1/invoices/{id}, POST /v1/invoices/{id}/pay

    Hosted pages (HTML, no external assets; buttons are form posts with an
    ``action`` field): the portal ``/p/session/{token}`` (cancel at period end,
    resume, switch plan, update card, pay invoice, simulate failed renewal, and a
    flow's confirm screen), Checkout ``/c/pay/{cs_id}`` (pay, declined card,
    back) and invoices ``/i/{token}`` and ``/i/{token}/pdf`` (an HTML page).

    Every change is recorded as a Stripe-shaped event and, with a webhook URL
    set, POSTed there signed (``stripe_standin.webhooks``). One item per
    subscription and per Checkout session, Checkout in subscription mode only,
    no prorations, taxes, discounts, test clocks or test/live data separation;
    validation covers what the app relies on. It never contacts Stripe.

How a /v1/ request flows (``StripeStandIn._handle_api``)
    record it -> pick matching faults -> decide: injected error, bad API key,
    unknown URL, or idempotency replay/conflict/claim -> sleep for latency (lock
    released) -> run the endpoint in ``store.Store`` under the lock -> store the
    answer under its Idempotency-Key -> reply with one write.

Modules
    ``forms`` decodes Stripe's bracket syntax; ``objects`` builds Stripe-shaped
    JSON objects and error bodies; ``store`` holds the objects and implements
    the /v1/ endpoints; this module adds HTTP, recording, faults, idempotency
    and the Python/HTTP controls; ``__main__`` is the CLI.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import re
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import BaseServer, TCPServer
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from stripe_standin import objects as obj
from stripe_standin import pages
from stripe_standin.forms import FormError, parse_form
from stripe_standin.objects import ApiError
from stripe_standin.pages import Page
from stripe_standin.store import INTERVALS, Call, Route, Store, match_route
from stripe_standin.webhooks import Deliverer, Delivery, post_event

FAULT_KINDS = ("latency", "500", "429", "401", "drop", "no_such_customer", "portal_not_configured")
DEFAULT_STRIPE_VERSION = "2026-10-28.endive"  # what stripe-python 16.1.0 pins
_DAY = 86_400


@dataclass
class RecordedRequest:
    """One /v1/ request as received. Each SDK retry is a separate record."""

    method: str
    path: str  # without the query string
    query: dict[str, Any]
    params: dict[str, Any]  # decoded body
    headers: dict[str, str]  # lower-cased names
    time: float
    request_id: str
    status: int | None = None  # None until answered, and for dropped connections
    fault: str | None = None  # kind of the injected error fault, if any
    replayed: bool = False  # answered from the idempotency store

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PortalVisit:
    token: str
    session: str | None  # bps_..., None for an unknown token
    customer: str | None
    time: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Fault:
    """Applies ``kind`` to the next ``times`` matching /v1/ requests (None: until reset)."""

    kind: str
    method: str | None = None
    path_prefix: str | None = None
    times: int | None = None  # remaining
    latency_ms: float | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            (self.times is None or self.times > 0)
            and (self.method is None or self.method == method)
            and (self.path_prefix is None or path.startswith(self.path_prefix))
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Idempotency:
    """What an Idempotency-Key (scoped to its API key) was first used for."""

    endpoint: str  # "POST /v1/customers"
    params: dict[str, Any]
    done: bool = False  # False while the first request is in flight
    status: int = 0
    body: bytes = b""
    request_id: str = ""


class _Answer(NamedTuple):
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = {}  # never mutated; use _replace()


@dataclass
class _Execute:
    """A request that passed every check and now runs its endpoint."""

    route: Route
    call: Call
    idempotency: tuple[tuple[str, str], _Idempotency] | None = None


def _json(payload: Any) -> bytes:
    return json.dumps(payload, indent=2).encode()


def _error_answer(err: ApiError) -> _Answer:
    return _Answer(err.status, _json(err.body()), headers=err.headers)


class StripeStandIn:
    """The in-memory Stripe subset, its controls, and the HTTP server exposing them.

    All shared state is guarded by one lock, never held while sleeping.
    """

    def __init__(
        self,
        *,
        latency_ms: float = 0,
        account_id: str | None = None,
        max_recorded: int = 20_000,
        max_idempotency_keys: int = 50_000,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        auto_deliver: bool = True,
        webhook_retries: int = 3,
        webhook_backoff_s: float = 0.5,
        webhook_timeout_s: float = 10,
    ) -> None:
        """``latency_ms``: default delay for /v1/ answers (``reset()`` returns to it).

        Past ``max_recorded`` requests the oldest records are forgotten (counters in
        ``stats()`` are not); past ``max_idempotency_keys`` the oldest keys are.

        ``webhook_url``/``webhook_secret``: where every event is POSTed, signed like
        Stripe signs it (``set_webhook()`` changes them; ``reset()`` keeps them).
        With ``auto_deliver`` a background thread delivers while the server runs;
        without it, events wait for ``deliver_events()``. Each delivery is tried
        ``1 + webhook_retries`` times, backing off from ``webhook_backoff_s``.
        """
        # The Stripe account every key reaches here (`GET /v1/account`); two stand-ins are two
        # accounts, as a key of another account is another set of objects.
        self.account_id = account_id or obj.new_id("acct", 16)
        self._lock = threading.Lock()
        self._delivery_lock = threading.Lock()  # one delivery at a time, in order
        self._default_latency_ms = float(latency_ms)
        self._max_recorded = max_recorded
        self._max_idempotency_keys = max_idempotency_keys
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        self._sockets: set[socket.socket] = set()
        self._webhook_url: str | None = None
        self._webhook_secret: str | None = None
        self._auto_deliver = auto_deliver
        self._webhook_retries = webhook_retries
        self._webhook_backoff_s = webhook_backoff_s
        self._webhook_timeout_s = webhook_timeout_s
        self._deliverer = Deliverer(self._auto_drain)
        self.set_webhook(webhook_url, webhook_secret)
        self.reset()

    # ---- lifecycle -----------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve from a background thread; returns the base URL."""
        if self._server is not None:
            raise RuntimeError("stand-in already started")
        self._server = server = _Server((host, port), self)
        self._url = f"http://{server.server_name}:{server.server_port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="stripe-standin", daemon=True
        )
        self._thread.start()
        with self._lock:
            self._store.base_url = self._url
        self._deliverer.start()
        self._deliverer.wake()  # events made before start()
        return self._url

    def stop(self) -> None:
        """Stop serving and hang up on open (keep-alive) connections."""
        server, self._server = self._server, None
        if server is None:
            return
        self._deliverer.stop()
        server.shutdown()
        server.server_close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> StripeStandIn:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("stand-in not started")
        return self._url

    def reset(self) -> None:
        """Forget objects, recorded requests, faults, idempotency keys and counters.

        Latency returns to the constructor's ``latency_ms``; the portal to "configured".
        Recorded and queued events and deliveries are forgotten too; the webhook
        endpoint stays configured.
        """
        with self._delivery_lock, self._lock:
            self._store = Store(
                api_version=DEFAULT_STRIPE_VERSION, base_url=self._url or "", account_id=self.account_id
            )
            self._deliveries: list[Delivery] = []
            self._idempotency: dict[tuple[str, str], _Idempotency] = {}
            self._faults: list[Fault] = []
            self._latency_ms = self._default_latency_ms
            self._requests: list[RecordedRequest] = []
            self._portal_visits: list[PortalVisit] = []
            self._request_count = 0
            self._by_path: dict[str, int] = {}
            self._by_status: dict[str, int] = {}
            self._connections_opened = 0
            self._api_connections_opened = 0

    # ---- inspection ----------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, method: str, path_prefix: str = "") -> list[RecordedRequest]:
        method = method.upper()
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    @property
    def portal_visits(self) -> list[PortalVisit]:
        with self._lock:
            return list(self._portal_visits)

    @property
    def connections_opened(self) -> int:
        """New TCP connections accepted since the last reset (control calls included)."""
        with self._lock:
            return self._connections_opened

    @property
    def api_connections_opened(self) -> int:
        """Connections accepted since the last reset whose first request was a /v1/ one."""
        with self._lock:
            return self._api_connections_opened

    @property
    def customers(self) -> list[dict[str, Any]]:
        """Copies of the customers that are not deleted, oldest first."""
        with self._lock:
            return copy.deepcopy(
                [c for c in self._store.customers.values() if c["id"] not in self._store.deleted]
            )

    @property
    def subscriptions(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._store.subscriptions.values()))

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "connections_opened": self._connections_opened,
                "api_connections_opened": self._api_connections_opened,
                "requests": self._request_count,
                "by_path": dict(self._by_path),  # keyed by route, e.g. "GET /v1/customers/{id}"
                "by_status": dict(self._by_status),  # "200", "409", ..., "dropped"
                "portal_visits": len(self._portal_visits),
                "latency_ms": self._latency_ms,
                "faults": [f.to_dict() for f in self._faults],
            }

    # ---- behaviour controls --------------------------------------------------

    def add_fault(
        self,
        kind: str | int,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        times: int | None = None,
        latency_ms: float | None = None,
    ) -> Fault:
        """Inject ``kind`` (one of FAULT_KINDS) into matching /v1/ requests.

        ``latency_ms`` is required for "latency"; for the other kinds it delays
        the fault. Latency faults stack with each other and with at most one
        error fault (the earliest added that matches).
        """
        kind = str(kind)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if kind == "latency" and latency_ms is None:
            raise ValueError("a latency fault needs latency_ms")
        fault = Fault(kind, method.upper() if method else None, path_prefix, times, latency_ms)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def set_latency(self, ms: float) -> None:
        """Delay every /v1/ answer by ``ms`` milliseconds."""
        with self._lock:
            self._latency_ms = float(ms)

    def set_portal_configured(self, value: bool) -> None:
        """False: portal sessions without ``configuration`` fail like an unconfigured account."""
        with self._lock:
            self._store.portal_configured = bool(value)

    # ---- fixtures --------------------------------------------------------------

    def create_customer(
        self,
        *,
        id: str | None = None,
        name: str | None = None,
        email: str | None = None,
        description: str | None = None,
        phone: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        customer = obj.customer_object(
            id=id or obj.new_id("cus"),
            name=name,
            email=email,
            description=description,
            phone=phone,
            metadata={k: str(v) for k, v in (metadata or {}).items()},
            livemode=False,
        )
        with self._changing() as store:
            return copy.deepcopy(store.put_customer(customer))

    def get_customer(self, customer_id: str) -> dict[str, Any] | None:
        """The customer, its deleted stub, or None if unknown."""
        with self._lock:
            if customer_id in self._store.deleted:
                return obj.deleted_customer(customer_id)
            return copy.deepcopy(self._store.customers.get(customer_id))

    def delete_customer(self, customer_id: str) -> None:
        """Delete like Stripe does: the customer's subscriptions are canceled too."""
        with self._changing() as store:
            if store.live_customer(customer_id) is None:
                raise KeyError(f"No such customer: {customer_id!r}")
            store.delete_customer(customer_id)

    def create_subscription(
        self,
        *,
        customer: str,
        status: str = "active",
        price_id: str = "price_standin_monthly",
        product: str = "prod_standin",
        product_name: str | None = None,
        nickname: str | None = None,
        unit_amount: int = 1000,
        currency: str = "usd",
        interval: str = "month",
        quantity: int = 1,
        current_period_start: int | None = None,
        current_period_end: int | None = None,
        cancel_at_period_end: bool = False,
        trial_end: int | None = None,
        canceled_at: int | None = None,
        created: int | None = None,
        metadata: dict[str, str] | None = None,
        id: str | None = None,
    ) -> dict[str, Any]:
        """Add a one-item subscription for an existing customer (KeyError if unknown).

        Periods default to "started now, one ``interval`` long"; a "canceled"
        status without ``canceled_at`` gets canceled_at=now.
        """
        start = current_period_start or created or obj.now()
        spec: dict[str, Any] = {
            "customer": customer,
            "status": status,
            "price_id": price_id,
            "product": product,
            "product_name": product_name,
            "nickname": nickname,
            "unit_amount": unit_amount,
            "currency": currency,
            "interval": interval,
            "quantity": quantity,
            "current_period_start": start,
            "current_period_end": current_period_end or start + (365 if interval == "year" else 30) * _DAY,
            "cancel_at_period_end": cancel_at_period_end,
            "trial_end": trial_end,
            "canceled_at": canceled_at,
            "created": created or start,
            "metadata": {k: str(v) for k, v in (metadata or {}).items()},
            "id": id or obj.new_id("sub", 24),
            "item_id": obj.new_id("si"),
            "interval_count": 1,
            "latest_invoice": None,
            "default_payment_method": None,
            "ended_at": None,
        }
        with self._changing() as store:
            return copy.deepcopy(store.put_subscription(spec))

    def update_subscription(self, id: str, **fields: Any) -> dict[str, Any]:
        """Change fields accepted by create_subscription, e.g. ``status="canceled"``."""
        with self._changing() as store:
            return copy.deepcopy(store.update_subscription(id, fields))

    # ---- webhooks ------------------------------------------------------------

    def set_webhook(
        self, url: str | None, secret: str | None = None, *, auto_deliver: bool | None = None
    ) -> None:
        """Where events go (None: nowhere, they wait in the queue); a URL needs a secret."""
        if url is not None:
            if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
                raise ValueError(f"webhook url must be an http(s) URL, not {url!r}")
            if not secret:
                raise ValueError("a webhook url needs a webhook secret (whsec_...) to sign with")
        with self._lock:
            self._webhook_url, self._webhook_secret = url, secret
            if auto_deliver is not None:
                self._auto_deliver = bool(auto_deliver)
        self._deliverer.wake()

    def webhook_config(self) -> dict[str, Any]:
        with self._lock:
            return {
                "url": self._webhook_url,
                "secret_set": bool(self._webhook_secret),
                "auto_deliver": self._auto_deliver,
                "pending": len(self._store.outbox),
                "dropped": self._store.dropped_events,
                "delivered": sum(1 for d in self._deliveries if d.ok),
                "failed": sum(1 for d in self._deliveries if not d.ok),
            }

    def events(self, type: str | None = None) -> list[dict[str, Any]]:
        """Copies of the recorded events, oldest first (``type`` may end in ``*``: "price.*")."""
        with self._lock:
            events = list(self._store.events)
        if type is not None:
            events = [e for e in events if _type_matches(e["type"], type)]
        return copy.deepcopy(events)

    @property
    def pending_events(self) -> list[dict[str, Any]]:
        """Events not delivered yet, oldest first."""
        with self._lock:
            return copy.deepcopy(list(self._store.outbox))

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def deliver_events(self, url: str | None = None, secret: str | None = None) -> list[Delivery]:
        """Deliver every pending event now, in order, from the calling thread."""
        with self._lock:
            url, secret = url or self._webhook_url, secret or self._webhook_secret
        if not url or not secret:
            raise ValueError("no webhook url and secret: pass them or call set_webhook() first")
        return self._drain(url, secret)

    def _auto_drain(self) -> None:
        with self._lock:
            url, secret, auto = self._webhook_url, self._webhook_secret, self._auto_deliver
        if url and secret and auto:
            self._drain(url, secret)

    def _drain(self, url: str, secret: str) -> list[Delivery]:
        results: list[Delivery] = []
        with self._delivery_lock:
            while True:
                with self._lock:
                    store = self._store
                    if not store.outbox:
                        return results
                    event = store.outbox[0]
                delivery = post_event(  # lock not held: the receiver may call us back
                    event,
                    url,
                    secret,
                    retries=self._webhook_retries,
                    backoff_s=self._webhook_backoff_s,
                    timeout_s=self._webhook_timeout_s,
                )
                with self._lock:
                    if store.outbox and store.outbox[0] is event:
                        store.outbox.popleft()
                    self._deliveries.append(delivery)
                    if len(self._deliveries) > self._max_recorded:
                        del self._deliveries[: max(1, self._max_recorded // 10)]
                results.append(delivery)

    @contextlib.contextmanager
    def _changing(self) -> Iterator[Store]:
        """The store under the lock; afterwards, entitlement events and a delivery wake-up."""
        with self._lock:
            try:
                yield self._store
            except ApiError as err:
                raise ValueError(err.error["message"]) from err
            finally:
                self._store.settle()
        self._deliverer.wake()

    # ---- catalogue ----------------------------------------------------------------

    def create_product(
        self,
        name: str,
        *,
        id: str | None = None,
        description: str | None = None,
        active: bool = True,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        with self._changing() as store:
            product = store.new_product(
                name=name, id=id, active=active, description=description, metadata=_strings(metadata)
            )
            return copy.deepcopy(product)

    def update_product(self, id: str, **fields: Any) -> dict[str, Any]:
        """Change ``name``, ``active``, ``description`` or ``metadata`` (emits product.updated)."""
        params = {k: ("true" if v else "false") if isinstance(v, bool) else v for k, v in fields.items()}
        with self._changing() as store:
            call = Call("POST", f"/v1/products/{id}", {}, params, "", self._url or "", "", (id,))
            return copy.deepcopy(store.update_product_api(call))

    def create_price(
        self,
        product: str,
        unit_amount: int,
        *,
        currency: str = "usd",
        interval: str | None = "month",
        interval_count: int = 1,
        lookup_key: str | None = None,
        nickname: str | None = None,
        active: bool = True,
        metadata: dict[str, str] | None = None,
        id: str | None = None,
    ) -> dict[str, Any]:
        """A price of ``product``; ``interval=None`` makes it one-time."""
        if interval is not None and interval not in INTERVALS:
            raise ValueError(f"interval must be one of {', '.join(INTERVALS)} or None")
        with self._changing() as store:
            price = store.new_price(
                product=product,
                unit_amount=int(unit_amount),
                currency=currency.lower(),
                interval=interval,
                interval_count=int(interval_count),
                lookup_key=lookup_key,
                nickname=nickname,
                active=active,
                metadata=_strings(metadata),
                id=id,
            )
            return copy.deepcopy(price)

    def update_price(self, id: str, **fields: Any) -> dict[str, Any]:
        """Change ``active``, ``nickname``, ``lookup_key`` or ``metadata`` (emits price.updated)."""
        params = {k: ("true" if v else "false") if isinstance(v, bool) else v for k, v in fields.items()}
        with self._changing() as store:
            call = Call("POST", f"/v1/prices/{id}", {}, params, "", self._url or "", "", (id,))
            return copy.deepcopy(store.update_price_api(call))

    def create_feature(
        self, name: str, lookup_key: str, *, metadata: dict[str, str] | None = None, id: str | None = None
    ) -> dict[str, Any]:
        with self._changing() as store:
            return copy.deepcopy(
                store.new_feature(name=name, lookup_key=lookup_key, metadata=_strings(metadata), id=id)
            )

    def attach_feature(self, product: str, feature: str) -> dict[str, Any]:
        """Attach an Entitlements feature to a product: a ``product_feature``."""
        with self._changing() as store:
            return copy.deepcopy(store.attach_feature(product, feature))

    def seed_demo_catalogue(self) -> dict[str, list[str]]:
        """The demo plans (fixed ids; seeding twice changes nothing):

        Free (0 a month), Starter (19 a month, 190 a year) and Pro (49 a month,
        490 a year), in USD. Features carry metadata ``code``/``type``/``value``:
        ``PROJECTS`` (boolean) on every plan, ``STORAGE_TB`` (quota) 1 on Starter
        and 5 on Pro (two features, one code), ``EXTENDED_SUPPORT`` (boolean) on Pro.
        """
        features = [
            (
                "feat_demo_projects",
                "Projects",
                "projects",
                {"code": "PROJECTS", "type": "BOOLEAN", "value": "1"},
            ),
            (
                "feat_demo_storage_1tb",
                "1 TB of storage",
                "storage-1tb",
                {"code": "STORAGE_TB", "type": "QUOTA", "value": "1"},
            ),
            (
                "feat_demo_storage_5tb",
                "5 TB of storage",
                "storage-5tb",
                {"code": "STORAGE_TB", "type": "QUOTA", "value": "5"},
            ),
            (
                "feat_demo_extended_support",
                "Extended support",
                "extended-support",
                {"code": "EXTENDED_SUPPORT", "type": "BOOLEAN", "value": "1"},
            ),
        ]
        plans = [
            (
                "prod_demo_free",
                "Free",
                "Try it out: projects, no storage.",
                [("monthly", "month", 0)],
                ["feat_demo_projects"],
            ),
            (
                "prod_demo_starter",
                "Starter",
                "For small teams: 1 TB of storage.",
                [("monthly", "month", 1900), ("yearly", "year", 19000)],
                ["feat_demo_projects", "feat_demo_storage_1tb"],
            ),
            (
                "prod_demo_pro",
                "Pro",
                "For growing teams: 5 TB of storage and extended support.",
                [("monthly", "month", 4900), ("yearly", "year", 49000)],
                ["feat_demo_projects", "feat_demo_storage_5tb", "feat_demo_extended_support"],
            ),
        ]
        made: dict[str, list[str]] = {"products": [], "prices": [], "features": []}
        with self._changing() as store:
            for feature_id, name, lookup_key, metadata in features:
                if feature_id not in store.features:
                    store.new_feature(name=name, lookup_key=lookup_key, metadata=metadata, id=feature_id)
                made["features"].append(feature_id)
            for product_id, name, description, prices, attached in plans:
                if product_id not in store.products:
                    store.new_product(name=name, id=product_id, description=description)
                made["products"].append(product_id)
                for suffix, interval, amount in prices:
                    price_id = f"price_{product_id[len('prod_') :]}_{suffix}"
                    if price_id not in store.prices:
                        store.new_price(
                            product=product_id,
                            unit_amount=amount,
                            interval=interval,
                            id=price_id,
                            lookup_key=price_id[len("price_") :],
                            nickname=f"{name} {suffix}",
                        )
                    made["prices"].append(price_id)
                have = {
                    pf["entitlement_feature"]["id"]
                    for pf in store.product_features.get(product_id, {}).values()
                }
                for feature_id in attached:
                    if feature_id not in have:
                        store.attach_feature(product_id, feature_id)
        return made

    @property
    def products(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._store.products.values()))

    @property
    def prices(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._store.prices.values()))

    @property
    def features(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._store.features.values()))

    def active_entitlements(self, customer: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._store.active_entitlements_for(customer))

    # ---- checkout, renewals, invoices, portal -----------------------------------------

    @property
    def checkout_sessions(self) -> list[dict[str, Any]]:
        with self._lock:
            self._store.sweep_checkout_sessions()
            return copy.deepcopy(list(self._store.checkout_sessions.values()))

    def get_checkout_session(self, session_id: str) -> dict[str, Any] | None:
        with self._changing() as store:
            store.sweep_checkout_sessions()
            return copy.deepcopy(store.checkout_sessions.get(session_id))

    def complete_checkout_session(self, session_id: str) -> dict[str, Any]:
        """What the Checkout page's Pay button does: subscription, paid invoice, completed session."""
        with self._changing() as store:
            return copy.deepcopy(store.complete_checkout(session_id))

    def expire_checkout_session(self, session_id: str) -> dict[str, Any]:
        """Expire an open session (ValueError otherwise), as if its ``expires_at`` had passed."""
        with self._changing() as store:
            if session_id not in store.checkout_sessions:
                raise KeyError(f"No such checkout session: {session_id!r}")
            return copy.deepcopy(store.expire_checkout(session_id))

    def simulate_renewal(self, subscription_id: str, *, succeed: bool = True) -> dict[str, Any]:
        """Renew now: a new period and its invoice, paid (``active``) or failed (``past_due``).

        A subscription set to cancel at period end is canceled instead.
        """
        with self._changing() as store:
            return copy.deepcopy(store.renew(subscription_id, succeed=succeed))

    @property
    def invoices(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._store.invoices.values()))

    def pay_invoice(self, invoice_id: str) -> dict[str, Any]:
        """Mark an open invoice paid; a past-due subscription becomes active again."""
        with self._changing() as store:
            if invoice_id not in store.invoices:
                raise KeyError(f"No such invoice: {invoice_id!r}")
            return copy.deepcopy(store.pay_invoice(invoice_id))

    def save_card(self, customer: str) -> str:
        """Give the customer a default card (pm_...), as Checkout or the portal would."""
        with self._changing() as store:
            if store.live_customer(customer) is None:
                raise KeyError(f"No such customer: {customer!r}")
            return store.save_card(customer)

    @property
    def portal_sessions(self) -> list[dict[str, Any]]:
        """Every billing portal session, with its ``flow`` as given when it was created."""
        with self._lock:
            return copy.deepcopy(list(self._store.portal_sessions.values()))

    @property
    def portal_actions(self) -> list[dict[str, Any]]:
        """The buttons pressed on portal pages: session, customer, action, subscription/price/invoice."""
        with self._lock:
            return copy.deepcopy(self._store.portal_actions)

    # ---- the /v1/ request pipeline -------------------------------------------

    def _handle_api(
        self, method: str, path: str, raw_query: str, body: bytes, headers: dict[str, str]
    ) -> _Answer | None:
        """Answer one /v1/ request; None means "drop the connection"."""
        form_error: FormError | None = None
        query: dict[str, Any] = {}
        params: dict[str, Any] = {}
        try:
            query = parse_form(raw_query)
            params = _decode_body(body, headers.get("content-type", ""))
        except FormError as err:
            form_error = err
        route, args = match_route(method, path)
        record = RecordedRequest(method, path, query, params, headers, time.time(), obj.new_id("req"))
        with self._lock:
            self._record(record, route.label if route else f"{method} {path}")
            faults, delay_ms = self._take_faults(method, path)
        error_fault = next((f.kind for f in faults if f.kind != "latency"), None)
        record.fault = error_fault

        api_key = _api_key(headers.get("authorization", ""))
        host = headers.get("host")
        call = Call(
            method,
            path,
            query,
            params,
            api_key or "",
            f"http://{host}" if host else self.url,
            record.request_id,
            args,
            headers.get("idempotency-key") if method == "POST" else None,
        )
        decided: _Answer | _Execute | None = None  # None: drop the connection
        try:
            if form_error is not None:
                raise ApiError(400, str(form_error), param=form_error.param, saved=False)
            if error_fault == "drop":
                pass
            elif error_fault is not None:
                raise _fault_error(error_fault, call)
            elif not api_key or not obj.API_KEY.match(api_key):
                raise obj.authentication_error(api_key)
            elif route is None:
                raise obj.unrecognized_url(method, path)
            else:
                decided = self._check_idempotency(route, call, headers.get("idempotency-key"), record)
        except ApiError as err:
            decided = _error_answer(err)

        if delay_ms > 0:
            time.sleep(delay_ms / 1000)  # lock not held; an idempotency claim is
        answer = self._execute(decided) if isinstance(decided, _Execute) else decided
        if answer is not None:
            extra = {
                "Request-Id": record.request_id,
                "Stripe-Version": headers.get("stripe-version", DEFAULT_STRIPE_VERSION),
            }
            if method == "POST" and "idempotency-key" in headers:
                extra["Idempotency-Key"] = headers["idempotency-key"]
            answer = answer._replace(headers={**answer.headers, **extra})
        with self._lock:
            record.status = answer.status if answer is not None else None
            key = str(record.status or "dropped")
            self._by_status[key] = self._by_status.get(key, 0) + 1
        return answer

    def _record(self, record: RecordedRequest, label: str) -> None:
        self._request_count += 1
        self._by_path[label] = self._by_path.get(label, 0) + 1
        self._requests.append(record)
        if len(self._requests) > self._max_recorded:
            del self._requests[: max(1, self._max_recorded // 10)]

    def _take_faults(self, method: str, path: str) -> tuple[list[Fault], float]:
        """Consume the faults that apply to this request; returns them and the total delay."""
        matching = [f for f in self._faults if f.matches(method, path)]
        error = next((f for f in matching if f.kind != "latency"), None)
        applied = [f for f in matching if f.kind == "latency" or f is error]
        for fault in applied:
            fault.hits += 1
            if fault.times is not None:
                fault.times -= 1
                if fault.times == 0:  # used up; the caller's Fault object keeps its hits
                    self._faults.remove(fault)
        return applied, self._latency_ms + sum(f.latency_ms or 0 for f in applied)

    def _check_idempotency(
        self, route: Route, call: Call, key: str | None, record: RecordedRequest
    ) -> _Answer | _Execute:
        """For a POST with an Idempotency-Key: claim the key, or answer from what it holds."""
        if call.method != "POST" or not key:
            return _Execute(route, call)
        scope = (call.api_key, key)
        endpoint = f"{call.method} {call.path}"
        with self._lock:
            entry = self._idempotency.get(scope)
            if entry is None:
                entry = self._idempotency[scope] = _Idempotency(endpoint, call.params)
                return _Execute(route, call, (scope, entry))
            if entry.endpoint != endpoint:
                raise obj.idempotency_endpoint_mismatch(key, entry.endpoint, endpoint)
            if entry.params != call.params:
                raise obj.idempotency_mismatch(key)
            if not entry.done:
                raise obj.idempotency_in_progress(key)
            record.replayed = True
            return _Answer(
                entry.status,
                entry.body,
                headers={
                    "Idempotent-Replayed": "true",
                    "Original-Request": entry.request_id,
                },
            )

    def _execute(self, plan: _Execute) -> _Answer:
        """Run the endpoint, then settle its Idempotency-Key (store or release it)."""
        answer: _Answer | None = None
        saved = False
        try:
            try:
                with self._lock:  # serialize under the lock: objects may change later
                    store = self._store
                    store.request = (plan.call.request_id, plan.call.idempotency_key)
                    try:
                        answer = _Answer(200, _json(plan.route.endpoint(store, plan.call)))
                    finally:
                        store.settle()
                        store.request = (None, None)
                saved = True
            except ApiError as err:
                answer, saved = _error_answer(err), err.saved
        finally:
            if plan.idempotency is not None:
                scope, entry = plan.idempotency
                with self._lock:
                    if saved and answer is not None:
                        entry.status, entry.body = answer.status, answer.body
                        entry.request_id, entry.done = plan.call.request_id, True
                        while len(self._idempotency) > self._max_idempotency_keys:
                            del self._idempotency[next(iter(self._idempotency))]  # the oldest
                    elif self._idempotency.get(scope) is entry:
                        del self._idempotency[scope]  # not saved: the key may be used again
            self._deliverer.wake()
        return answer

    # ---- portal page, control endpoints, connection tracking -------------------

    def _handle_page(self, method: str, path: str, body: bytes, host: str | None) -> _Answer:
        """The hosted pages: portal (/p/session/), Checkout (/c/pay/), invoices (/i/)."""
        base = f"http://{host}" if host else self.url
        form: dict[str, Any] = {}
        if method == "POST":
            try:
                form = parse_form(body.decode("utf-8"))
            except (FormError, UnicodeDecodeError):
                return _page_answer(Page(400, pages.document("Bad request", "<h1>Bad request</h1>")))
        page: Page | None = None
        with self._lock:
            store = self._store
            if path.startswith("/p/session/"):
                token = path[len("/p/session/") :]
                session = store.portal_sessions.get(token)
                if method == "GET":
                    self._portal_visits.append(
                        PortalVisit(
                            token,
                            session["id"] if session else None,
                            session["customer"] if session else None,
                            time.time(),
                        )
                    )
                    page = store.portal_page(token)
                elif method == "POST":
                    page = store.portal_post(token, form, base)
            elif path.startswith("/c/pay/"):
                session_id = path[len("/c/pay/") :]
                page = (
                    store.checkout_page(session_id)
                    if method == "GET"
                    else store.checkout_post(session_id, form)
                )
            elif path.startswith("/i/") and method == "GET":
                token, _, rest = path[len("/i/") :].partition("/")
                if rest in ("", "pdf"):
                    page = store.invoice_page(token, pdf=rest == "pdf")
            store.settle()
        self._deliverer.wake()
        if page is None:
            return _error_answer(obj.unrecognized_url(method, path))
        return _page_answer(page)

    def _handle_control(self, method: str, path: str, raw_query: str, body: bytes) -> _Answer:
        try:
            data = json.loads(body) if body.strip() else {}
            query = parse_form(raw_query)
            for verb, pattern, action in _CONTROL:
                if verb == method and (match := re.match(pattern, path)):
                    return _Answer(200, _json(action(self, data, query, *match.groups())))
            message = f"unknown control endpoint {method} {path}"
            return _Answer(404, _json({"error": {"message": message}}))
        except (KeyError, TypeError, ValueError) as err:
            message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
            return _Answer(400, _json({"error": {"message": message, "type": type(err).__name__}}))

    def _connection_opened(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections_opened += 1
            self._sockets.add(sock)

    def _api_connection_opened(self) -> None:
        with self._lock:
            self._api_connections_opened += 1

    def _connection_closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)


# Out-of-process controls: (method, path regex, action(standin, json_body, query, *path_args)).
# Answers are JSON; bad input gets 400 {"error": {"message": ...}}.
_CONTROL: list[tuple[str, str, Callable[..., Any]]] = [
    ("POST", r"^/_standin/reset$", lambda s, d, q: (s.reset(), {"ok": True})[1]),
    ("GET", r"^/_standin/requests$", lambda s, d, q: _requests_report(s, q)),
    ("GET", r"^/_standin/stats$", lambda s, d, q: s.stats()),
    ("GET", r"^/_standin/faults$", lambda s, d, q: s.stats()["faults"]),
    ("POST", r"^/_standin/faults$", lambda s, d, q: s.add_fault(**d).to_dict()),
    ("DELETE", r"^/_standin/faults$", lambda s, d, q: (s.clear_faults(), {"ok": True})[1]),
    ("POST", r"^/_standin/latency$", lambda s, d, q: (s.set_latency(d["ms"]), {"ms": d["ms"]})[1]),
    (
        "POST",
        r"^/_standin/portal_configured$",
        lambda s, d, q: (s.set_portal_configured(d["value"]), {"value": bool(d["value"])})[1],
    ),
    ("GET", r"^/_standin/customers$", lambda s, d, q: s.customers),
    ("POST", r"^/_standin/customers$", lambda s, d, q: s.create_customer(**d)),
    (
        "DELETE",
        r"^/_standin/customers/([^/]+)$",
        lambda s, d, q, cid: (s.delete_customer(cid), obj.deleted_customer(cid))[1],
    ),
    ("GET", r"^/_standin/subscriptions$", lambda s, d, q: s.subscriptions),
    ("POST", r"^/_standin/subscriptions$", lambda s, d, q: s.create_subscription(**d)),
    ("GET", r"^/_standin/webhook$", lambda s, d, q: s.webhook_config()),
    (
        "POST",
        r"^/_standin/webhook$",
        lambda s, d, q: (
            s.set_webhook(d.get("url"), d.get("secret"), auto_deliver=d.get("auto_deliver")),
            s.webhook_config(),
        )[1],
    ),
    ("GET", r"^/_standin/events$", lambda s, d, q: s.events(q.get("type"))),
    (
        "POST",
        r"^/_standin/events/deliver$",
        lambda s, d, q: [x.to_dict() for x in s.deliver_events(d.get("url"), d.get("secret"))],
    ),
    ("GET", r"^/_standin/deliveries$", lambda s, d, q: [x.to_dict() for x in s.deliveries]),
    ("POST", r"^/_standin/catalogue/seed$", lambda s, d, q: s.seed_demo_catalogue()),
    ("POST", r"^/_standin/products$", lambda s, d, q: s.create_product(**d)),
    ("POST", r"^/_standin/prices$", lambda s, d, q: s.create_price(**d)),
    ("POST", r"^/_standin/features$", lambda s, d, q: s.create_feature(**d)),
    (
        "POST",
        r"^/_standin/products/([^/]+)/features$",
        lambda s, d, q, pid: s.attach_feature(pid, d["feature"]),
    ),
    ("GET", r"^/_standin/checkout/sessions$", lambda s, d, q: s.checkout_sessions),
    (
        "POST",
        r"^/_standin/checkout/sessions/([^/]+)/complete$",
        lambda s, d, q, cid: s.complete_checkout_session(cid),
    ),
    (
        "POST",
        r"^/_standin/checkout/sessions/([^/]+)/expire$",
        lambda s, d, q, cid: s.expire_checkout_session(cid),
    ),
    (
        "POST",
        r"^/_standin/subscriptions/([^/]+)/renew$",
        lambda s, d, q, sid: s.simulate_renewal(sid, succeed=bool(d.get("succeed", True))),
    ),
    ("GET", r"^/_standin/invoices$", lambda s, d, q: s.invoices),
    ("POST", r"^/_standin/invoices/([^/]+)/pay$", lambda s, d, q, iid: s.pay_invoice(iid)),
    ("GET", r"^/_standin/portal/sessions$", lambda s, d, q: s.portal_sessions),
    ("GET", r"^/_standin/portal/actions$", lambda s, d, q: s.portal_actions),
    ("POST", r"^/_standin/subscriptions/([^/]+)$", lambda s, d, q, sid: s.update_subscription(sid, **d)),
]


def _requests_report(standin: StripeStandIn, query: dict[str, Any]) -> dict[str, Any]:
    """GET /_standin/requests[?method=POST][&path_prefix=/v1/customers]"""
    method, prefix = str(query.get("method", "")).upper(), str(query.get("path_prefix", ""))
    return {
        "requests": [
            r.to_dict()
            for r in standin.requests
            if (not method or r.method == method) and r.path.startswith(prefix)
        ],
        "portal_visits": [v.to_dict() for v in standin.portal_visits],
    }


def _type_matches(event_type: str, wanted: str) -> bool:
    return event_type.startswith(wanted[:-1]) if wanted.endswith("*") else event_type == wanted


def _strings(metadata: dict[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (metadata or {}).items()}


def _page_answer(page: Page) -> _Answer:
    if page.location is not None:
        return _Answer(303, b"", "text/html; charset=utf-8", headers={"Location": page.location})
    return _Answer(page.status, page.html.encode(), "text/html; charset=utf-8")


def _decode_body(body: bytes, content_type: str) -> dict[str, Any]:
    if not body:
        return {}
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/json"):
            decoded = json.loads(text)
            if not isinstance(decoded, dict):
                raise ValueError("expected a JSON object")
            return decoded
    except ValueError as err:  # includes UnicodeDecodeError and JSONDecodeError
        raise FormError(f"Invalid request body: {err}", "body") from err
    return parse_form(text)


def _api_key(authorization: str) -> str | None:
    """The key from "Bearer sk_..." (what the SDK sends) or Basic auth (curl -u sk_...:)."""
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip() or None
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(credentials).decode().partition(":")[0] or None
        except ValueError:
            return credentials
    return authorization.strip() or None


def _fault_error(kind: str, call: Call) -> ApiError:
    if kind == "500":
        return obj.internal_error()
    if kind == "429":
        return obj.rate_limited()
    if kind == "401":
        return obj.authentication_error(call.api_key or None)
    if kind == "portal_not_configured":
        return obj.portal_not_configured(call.livemode)
    # no_such_customer, shaped like that endpoint's own answer for a missing customer
    if call.path.startswith("/v1/customers/"):
        return obj.no_such("customer", call.path.split("/")[3], param="id", status=404)
    customer = call.params.get("customer") or call.query.get("customer") or "cus_unknown"
    return obj.no_such("customer", str(customer), param="customer", status=400)


# ---- HTTP plumbing ----------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], standin: StripeStandIn) -> None:
        self.standin = standin
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() looks up the FQDN, which can stall offline.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.standin._connection_opened(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.standin._connection_closed(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            BaseServer.handle_error(self, request, client_address)  # clients hanging up are fine


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "stripe-standin"
    disable_nagle_algorithm = True
    server: _Server
    _api_seen = False  # one handler instance serves one connection

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        standin = self.server.standin
        answer: _Answer | None
        try:
            if path.startswith("/v1/"):
                if not self._api_seen:
                    self._api_seen = True
                    standin._api_connection_opened()
                headers = {name.lower(): value for name, value in self.headers.items()}
                answer = standin._handle_api(self.command, path, query, body, headers)
            elif path.startswith("/_standin/"):
                answer = standin._handle_control(self.command, path, query, body)
            elif path.startswith(("/p/session/", "/c/pay/", "/i/")) and self.command in ("GET", "POST"):
                answer = standin._handle_page(self.command, path, body, self.headers.get("Host"))
            else:
                answer = _error_answer(obj.unrecognized_url(self.command, path))
        except Exception as err:  # a bug in the stand-in: say so loudly, Stripe-style
            traceback.print_exc()
            answer = _error_answer(ApiError(500, f"stripe-standin internal error: {err!r}", type="api_error"))
        if answer is None:  # "drop" fault: hang up without answering
            self.close_connection = True
            return
        reason = self.responses.get(answer.status, ("",))[0]
        head = [
            f"HTTP/1.1 {answer.status} {reason}",
            f"Content-Type: {answer.content_type}",
            f"Content-Length: {len(answer.body)}",
            "Cache-Control: no-cache, no-store",
            f"Server: {self.server_version}",
            f"Connection: {'close' if self.close_connection else 'keep-alive'}",
            *(f"{name}: {value}" for name, value in answer.headers.items()),
        ]
        # One write per response: no Nagle/delayed-ACK stalls on keep-alive connections.
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + answer.body)
