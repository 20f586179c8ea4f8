"""A local stand-in for the slice of Stripe's REST API that the billing app uses.

What it is
    A small HTTP/1.1 server (keep-alive, one thread per connection) that the
    *real* ``stripe`` SDK talks to when its API base points here
    (``base_addresses={"api": standin.url}``). It speaks Stripe's wire format:
    form-encoded bodies with bracket nesting, Bearer API keys, Idempotency-Key
    semantics, ``{"error": {...}}`` bodies and a ``Request-Id`` header on every
    answer. It keeps Stripe's objects in memory, records every API request, and
    injects faults (latency, 500, 429, a rate limit of N requests a second, 401,
    dropped connections, ...) so retries and error handling can be seen. It serves
    the events it recorded (``GET /v1/events``), and seeds many customers with a
    subscription each at once (``seed_bulk``) for a sync at scale.

    Used by the test suite in-process (``StripeStandIn().start()``), and by the
    benchmark and the offline demo out of process (``python -m stripe_standin``,
    controlled over HTTP under ``/_standin/``, see ``stripe_standin.control``).

What it is not
    Not a Stripe emulator. Only the endpoints of ``stripe_standin.routes`` exist
    (anything else gets Stripe's "Unrecognized request URL" 404). One item per
    subscription and per Checkout session, Checkout in subscription mode only,
    no taxes, discounts or test/live data separation; validation covers what the
    app relies on. It never contacts Stripe. A plan change prorates as Stripe does
    (unused time credited, the rest of the period charged at the new price, on the
    next invoice or at once; a change of interval starts a new cycle invoiced at
    once) and ``invoices/create_preview`` shows it first; test clocks
    (``test_helpers/test_clocks``) move a customer's time on, running renewals,
    failed payments and period-end cancellations on the way.

    Hosted pages (HTML, no external assets; buttons are form posts with an
    ``action`` field): the portal ``/p/session/{token}`` (cancel at period end,
    resume, switch plan, update card, pay invoice, simulate failed renewal, and a
    flow's confirm screen, a card that declines), Checkout ``/c/pay/{cs_id}`` (pay, declined card,
    back) and invoices ``/i/{token}`` and ``/i/{token}/pdf`` (an HTML page).

    Every change is recorded as a Stripe-shaped event and, with a webhook URL
    set, POSTed there signed (``stripe_standin.resources.events``).

How a /v1/ request flows (``StripeStandIn._handle_api``)
    record it -> pick matching faults -> decide: injected error, bad API key,
    unknown URL, or idempotency replay/conflict/claim -> sleep for latency (lock
    released) -> run the route's endpoint on the store under the lock -> store the
    answer under its Idempotency-Key -> reply with one write.

Modules
    ``routes`` is the one table of /v1/ endpoints; ``resources/`` holds each
    resource's objects and logic (customers, catalogue, features, entitlements,
    subscriptions, invoices, checkout, portal, events); ``store`` their state;
    ``errors`` and ``params`` Stripe's error answers and parameter checks;
    ``forms`` decodes Stripe's bracket syntax; ``hosted`` and ``pages`` the hosted
    pages (behaviour and HTML); ``control`` and ``control_catalogue`` the test and
    demo controls; ``wire`` the HTTP plumbing; this module the request pipeline
    (recording, faults, idempotency, locking); ``__main__`` is the CLI.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import socket
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from stripe_standin import control, core, errors, hosted, pages
from stripe_standin.control import FAULT_KINDS, Controls, Fault
from stripe_standin.control_catalogue import CatalogueControls
from stripe_standin.core import DEFAULT_STRIPE_VERSION, Call
from stripe_standin.errors import ApiError
from stripe_standin.forms import FormError, parse_form
from stripe_standin.pages import Page
from stripe_standin.resources import entitlements
from stripe_standin.resources.events import Deliverer, Delivery
from stripe_standin.routes import Route, match_route
from stripe_standin.store import Store
from stripe_standin.wire import (
    Answer,
    Server,
    api_key_from,
    decode_body,
    error_answer,
    json_bytes,
    page_answer,
)

__all__ = ["FAULT_KINDS", "Fault", "PortalVisit", "RecordedRequest", "StripeStandIn"]


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
class _Idempotency:
    """What an Idempotency-Key (scoped to its API key) was first used for."""

    endpoint: str  # "POST /v1/customers"
    params: dict[str, Any]
    done: bool = False  # False while the first request is in flight
    status: int = 0
    body: bytes = b""
    request_id: str = ""


@dataclass
class _Execute:
    """A request that passed every check and now runs its endpoint."""

    route: Route
    call: Call
    idempotency: tuple[tuple[str, str], _Idempotency] | None = None


class StripeStandIn(Controls, CatalogueControls):
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
        self.account_id = account_id or core.new_id("acct", 16)
        self._lock = threading.Lock()
        self._delivery_lock = threading.Lock()  # one delivery at a time, in order
        self._default_latency_ms = float(latency_ms)
        self._max_recorded = max_recorded
        self._max_idempotency_keys = max_idempotency_keys
        self._server: Server | None = None
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
        self._server = server = Server((host, port), self)
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

    # ---- the /v1/ request pipeline -------------------------------------------

    def _handle_api(
        self, method: str, path: str, raw_query: str, body: bytes, headers: dict[str, str]
    ) -> Answer | None:
        """Answer one /v1/ request; None means "drop the connection"."""
        form_error: FormError | None = None
        query: dict[str, Any] = {}
        params: dict[str, Any] = {}
        try:
            query = parse_form(raw_query)
            params = decode_body(body, headers.get("content-type", ""))
        except FormError as err:
            form_error = err
        route, args = match_route(method, path)
        record = RecordedRequest(method, path, query, params, headers, time.time(), core.new_id("req"))
        with self._lock:
            self._record(record, route.label if route else f"{method} {path}")
            faults, delay_ms = self._take_faults(method, path)
        error_fault = next((f.kind for f in faults if f.kind != "latency"), None)
        record.fault = error_fault

        api_key = api_key_from(headers.get("authorization", ""))
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
        decided: Answer | _Execute | None = None  # None: drop the connection
        try:
            if form_error is not None:
                raise ApiError(400, str(form_error), param=form_error.param, saved=False)
            if error_fault == "drop":
                pass
            elif error_fault is not None:
                raise control.fault_error(error_fault, call)
            elif not api_key or not core.API_KEY.match(api_key):
                raise errors.authentication_error(api_key)
            elif route is None:
                raise errors.unrecognized_url(method, path)
            else:
                decided = self._check_idempotency(route, call, headers.get("idempotency-key"), record)
        except ApiError as err:
            decided = error_answer(err)

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
        now = time.time()
        matching = [
            f
            for f in self._faults
            if f.matches(method, path) and (f.kind != "rate_limit" or f.over_rate(now))
        ]
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
    ) -> Answer | _Execute:
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
                raise errors.idempotency_endpoint_mismatch(key, entry.endpoint, endpoint)
            if entry.params != call.params:
                raise errors.idempotency_mismatch(key)
            if not entry.done:
                raise errors.idempotency_in_progress(key)
            record.replayed = True
            return Answer(
                entry.status,
                entry.body,
                headers={
                    "Idempotent-Replayed": "true",
                    "Original-Request": entry.request_id,
                },
            )

    def _execute(self, plan: _Execute) -> Answer:
        """Run the endpoint, then settle its Idempotency-Key (store or release it)."""
        answer: Answer | None = None
        saved = False
        try:
            try:
                with self._lock:  # serialize under the lock: objects may change later
                    store = self._store
                    store.request = (plan.call.request_id, plan.call.idempotency_key)
                    try:
                        answer = Answer(200, json_bytes(plan.route.endpoint(store, plan.call)))
                    finally:
                        entitlements.settle(store)
                        store.request = (None, None)
                saved = True
            except ApiError as err:
                answer, saved = error_answer(err), err.saved
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

    def _handle_page(self, method: str, path: str, body: bytes, host: str | None) -> Answer:
        """The hosted pages: portal (/p/session/), Checkout (/c/pay/), invoices (/i/)."""
        base = f"http://{host}" if host else self.url
        form: dict[str, Any] = {}
        if method == "POST":
            try:
                form = parse_form(body.decode("utf-8"))
            except (FormError, UnicodeDecodeError):
                return page_answer(Page(400, pages.document("Bad request", "<h1>Bad request</h1>")))
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
                    page = hosted.portal_page(store, token)
                elif method == "POST":
                    page = hosted.portal_post(store, token, form, base)
            elif path.startswith("/c/pay/"):
                session_id = path[len("/c/pay/") :]
                page = (
                    hosted.checkout_page(store, session_id)
                    if method == "GET"
                    else hosted.checkout_post(store, session_id, form)
                )
            elif path.startswith("/i/") and method == "GET":
                token, _, rest = path[len("/i/") :].partition("/")
                if rest in ("", "pdf"):
                    page = hosted.invoice_page(store, token, pdf=rest == "pdf")
            entitlements.settle(store)
        self._deliverer.wake()
        if page is None:
            return error_answer(errors.unrecognized_url(method, path))
        return page_answer(page)

    def _handle_control(self, method: str, path: str, raw_query: str, body: bytes) -> Answer:
        try:
            data = json.loads(body) if body.strip() else {}
            query = parse_form(raw_query)
            for verb, pattern, action in control.CONTROL_ROUTES:
                if verb == method and (match := re.match(pattern, path)):
                    return Answer(200, json_bytes(action(self, data, query, *match.groups())))
            message = f"unknown control endpoint {method} {path}"
            return Answer(404, json_bytes({"error": {"message": message}}))
        except (KeyError, TypeError, ValueError) as err:
            message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
            return Answer(400, json_bytes({"error": {"message": message, "type": type(err).__name__}}))

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
