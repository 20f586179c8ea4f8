"""The stand-in's controls: what tests and the demo do that Stripe's API cannot.

Seed customers and subscriptions, inject faults and latency, advance things (pay or expire a
Checkout session, renew a subscription, pay an invoice), deliver events, read what was done.
Each is a Python method of ``StripeStandIn`` and, for out-of-process use (the benchmark, the
demo), an HTTP endpoint under ``/_standin/`` (``CONTROL_ROUTES``), answering JSON; bad input
gets 400 ``{"error": {"message": ...}}``. None of this is part of Stripe's API (``routes``).
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from stripe_standin import core, errors
from stripe_standin.core import Call
from stripe_standin.errors import ApiError
from stripe_standin.resources import checkout, customers, entitlements, events, invoices, subscriptions
from stripe_standin.resources.events import Deliverer, Delivery, post_event
from stripe_standin.store import Store

if TYPE_CHECKING:
    from stripe_standin.server import StripeStandIn

FAULT_KINDS = (
    "latency",
    "500",
    "429",
    "rate_limit",
    "401",
    "drop",
    "no_such_customer",
    "portal_not_configured",
)


@dataclass
class Fault:
    """Applies ``kind`` to the next ``times`` matching /v1/ requests (None: until reset)."""

    kind: str
    method: str | None = None
    path_prefix: str | None = None
    times: int | None = None  # remaining
    latency_ms: float | None = None
    per_second: int | None = None  # "rate_limit": how many matching requests a second pass
    hits: int = 0
    second: int = 0  # "rate_limit": the current second, and the matching requests seen in it
    seen: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            (self.times is None or self.times > 0)
            and (self.method is None or self.method == method)
            and (self.path_prefix is None or path.startswith(self.path_prefix))
        )

    def over_rate(self, now: float) -> bool:
        """Count a matching request in its second: past ``per_second`` it is refused."""
        second = int(now)
        if second != self.second:
            self.second, self.seen = second, 0
        self.seen += 1
        return self.seen > (self.per_second or 0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fault_error(kind: str, call: Call) -> ApiError:
    if kind == "500":
        return errors.internal_error()
    if kind == "429":
        return errors.rate_limited()
    if kind == "rate_limit":
        # Stripe asks clients not to retry a real rate limit at once (it only adds load).
        error = errors.rate_limited()
        error.headers["Stripe-Should-Retry"] = "false"
        return error
    if kind == "401":
        return errors.authentication_error(call.api_key or None)
    if kind == "portal_not_configured":
        return errors.portal_not_configured(call.livemode)
    # no_such_customer, shaped like that endpoint's own answer for a missing customer
    if call.path.startswith("/v1/customers/"):
        return errors.no_such("customer", call.path.split("/")[3], param="id", status=404)
    customer = call.params.get("customer") or call.query.get("customer") or "cus_unknown"
    return errors.no_such("customer", str(customer), param="customer", status=400)


class ControlBase:
    """What the controls need of the stand-in (``StripeStandIn`` sets it up)."""

    _lock: threading.Lock
    _delivery_lock: threading.Lock
    _store: Store
    _url: str | None
    _faults: list[Fault]
    _latency_ms: float
    _deliverer: Deliverer
    _deliveries: list[Delivery]
    _max_recorded: int
    _webhook_url: str | None
    _webhook_secret: str | None
    _auto_deliver: bool
    _webhook_retries: int
    _webhook_backoff_s: float
    _webhook_timeout_s: float

    @contextlib.contextmanager
    def _changing(self) -> Iterator[Store]:
        """The store under the lock; afterwards, entitlement events and a delivery wake-up."""
        with self._lock:
            try:
                yield self._store
            except ApiError as err:
                raise ValueError(err.error["message"]) from err
            finally:
                entitlements.settle(self._store)
        self._deliverer.wake()


class Controls(ControlBase):
    """Faults, fixtures, webhook delivery and the things only time or a customer would do."""

    def add_fault(
        self,
        kind: str | int,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        times: int | None = None,
        latency_ms: float | None = None,
        per_second: int | None = None,
    ) -> Fault:
        """Inject ``kind`` (one of FAULT_KINDS) into matching /v1/ requests.

        ``latency_ms`` is required for "latency"; for the other kinds it delays
        the fault. Latency faults stack with each other and with at most one
        error fault (the earliest added that matches).

        "rate_limit" needs ``per_second``: in each second of the clock, the matching
        requests past the first ``per_second`` get Stripe's 429 ``rate_limit`` answer
        (``times`` then counts the refusals).
        """
        kind = str(kind)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if kind == "latency" and latency_ms is None:
            raise ValueError("a latency fault needs latency_ms")
        if kind == "rate_limit" and (per_second is None or int(per_second) < 0):
            raise ValueError("a rate_limit fault needs per_second (0 or more)")
        fault = Fault(
            kind,
            method.upper() if method else None,
            path_prefix,
            times,
            latency_ms,
            None if per_second is None else int(per_second),
        )
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
        customer = customers.customer_object(
            id=id or core.new_id("cus"),
            name=name,
            email=email,
            description=description,
            phone=phone,
            metadata={k: str(v) for k, v in (metadata or {}).items()},
            livemode=False,
        )
        with self._changing() as store:
            return copy.deepcopy(customers.put_customer(store, customer))

    def get_customer(self, customer_id: str) -> dict[str, Any] | None:
        """The customer, its deleted stub, or None if unknown."""
        with self._lock:
            if customer_id in self._store.deleted:
                return customers.deleted_customer(customer_id)
            return copy.deepcopy(self._store.customers.get(customer_id))

    def delete_customer(self, customer_id: str) -> None:
        """Delete like Stripe does: the customer's subscriptions are canceled too."""
        with self._changing() as store:
            if store.live_customer(customer_id) is None:
                raise KeyError(f"No such customer: {customer_id!r}")
            customers.delete_customer(store, customer_id)

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
        start = current_period_start or created or core.now()
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
            "current_period_end": current_period_end
            or start + (365 if interval == "year" else 30) * core.DAY,
            "cancel_at_period_end": cancel_at_period_end,
            "trial_end": trial_end,
            "canceled_at": canceled_at,
            "created": created or start,
            "metadata": {k: str(v) for k, v in (metadata or {}).items()},
            "id": id or core.new_id("sub", 24),
            "item_id": core.new_id("si"),
            "interval_count": 1,
            "latest_invoice": None,
            "default_payment_method": None,
            "ended_at": None,
        }
        with self._changing() as store:
            return copy.deepcopy(subscriptions.put_subscription(store, spec))

    def update_subscription(self, id: str, **fields: Any) -> dict[str, Any]:
        """Change fields accepted by create_subscription, e.g. ``status="canceled"``."""
        with self._changing() as store:
            return copy.deepcopy(subscriptions.update_subscription(store, id, fields))

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
            recorded = list(self._store.events)
        if type is not None:
            recorded = [e for e in recorded if events.type_matches(e["type"], type)]
        return copy.deepcopy(recorded)

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

    # ---- checkout, renewals, invoices, portal -----------------------------------------

    @property
    def checkout_sessions(self) -> list[dict[str, Any]]:
        with self._lock:
            checkout.sweep_checkout_sessions(self._store)
            return copy.deepcopy(list(self._store.checkout_sessions.values()))

    def get_checkout_session(self, session_id: str) -> dict[str, Any] | None:
        with self._changing() as store:
            checkout.sweep_checkout_sessions(store)
            return copy.deepcopy(store.checkout_sessions.get(session_id))

    def complete_checkout_session(self, session_id: str) -> dict[str, Any]:
        """What the Checkout page's Pay button does: subscription, paid invoice, completed session."""
        with self._changing() as store:
            return copy.deepcopy(checkout.complete_checkout(store, session_id))

    def expire_checkout_session(self, session_id: str) -> dict[str, Any]:
        """Expire an open session (ValueError otherwise), as if its ``expires_at`` had passed."""
        with self._changing() as store:
            if session_id not in store.checkout_sessions:
                raise KeyError(f"No such checkout session: {session_id!r}")
            return copy.deepcopy(checkout.expire_checkout(store, session_id))

    def simulate_renewal(self, subscription_id: str, *, succeed: bool = True) -> dict[str, Any]:
        """Renew now: a new period and its invoice, paid (``active``) or failed (``past_due``).

        A subscription set to cancel at period end is canceled instead.
        """
        with self._changing() as store:
            return copy.deepcopy(subscriptions.renew(store, subscription_id, succeed=succeed))

    @property
    def invoices(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._store.invoices.values()))

    def pay_invoice(self, invoice_id: str) -> dict[str, Any]:
        """Mark an open invoice paid; a past-due subscription becomes active again."""
        with self._changing() as store:
            if invoice_id not in store.invoices:
                raise KeyError(f"No such invoice: {invoice_id!r}")
            return copy.deepcopy(invoices.pay_invoice(store, invoice_id))

    def save_card(self, customer: str, *, declines: bool = False) -> str:
        """Give the customer a default card (pm_...), as Checkout or the portal would; with
        `declines`, one whose charges fail (Stripe's test card 4000 0000 0000 0341)."""
        with self._changing() as store:
            if store.live_customer(customer) is None:
                raise KeyError(f"No such customer: {customer!r}")
            return customers.save_card(store, customer, declines=declines)

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


# Out-of-process controls: (method, path regex, action(standin, json_body, query, *path_args)).
CONTROL_ROUTES: list[tuple[str, str, Callable[..., Any]]] = [
    ("POST", r"^/_standin/reset$", lambda s, d, q: (s.reset(), {"ok": True})[1]),
    ("GET", r"^/_standin/requests$", lambda s, d, q: requests_report(s, q)),
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
        lambda s, d, q, cid: (s.delete_customer(cid), customers.deleted_customer(cid))[1],
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
    (
        "POST",
        r"^/_standin/seed_bulk$",
        lambda s, d, q: {"customers": s.seed_bulk(d["n"], emit_events=bool(d.get("emit_events", False)))},
    ),
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


def requests_report(standin: StripeStandIn, query: dict[str, Any]) -> dict[str, Any]:
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
