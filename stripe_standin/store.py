"""The stand-in's state: every Stripe object it holds, and the events it has to send.

``Store`` is plain data plus what every resource needs of it (``emit``, ``expand``,
``found``, ``live_customer``); each resource's logic lives in ``stripe_standin.resources``,
as functions taking the store. It knows nothing about HTTP, threads, faults or idempotency:
the server calls the resources with its one lock held.
"""

from __future__ import annotations

import copy
from collections import deque
from typing import Any

from stripe_standin import core, errors, params
from stripe_standin.resources import customers, events


class Store:
    """Customers, catalogue, subscriptions, invoices, sessions and events. Not thread-safe."""

    def __init__(
        self,
        *,
        api_version: str = core.DEFAULT_STRIPE_VERSION,
        base_url: str = "",
        account_id: str = "acct_standin",
    ) -> None:
        self.account_id = account_id
        self.api_version = api_version  # the version events are rendered in
        self.base_url = base_url  # for URLs handed out outside an API call (pages, helpers)
        self.customers: dict[str, dict[str, Any]] = {}  # deleted ones stay here...
        self.deleted: set[str] = set()  # ...and are listed here
        self.products: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self.fixture_prices: set[str] = set()  # prices made up by subscription fixtures
        self.features: dict[str, dict[str, Any]] = {}
        self.product_features: dict[str, dict[str, dict[str, Any]]] = {}  # product -> pf id -> pf
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.subscription_specs: dict[str, dict[str, Any]] = {}  # the fixture fields
        # Subscription ids newest first and each one's place, for as many as there were (None:
        # a `created` changed): a page of a long list costs its own length, not a sort.
        self.subscription_order: _Order | None = None
        self.customer_order: _Order | None = None
        self.checkout_sessions: dict[str, dict[str, Any]] = {}
        self.checkout_specs: dict[str, dict[str, Any]] = {}  # line items, subscription_data
        self.invoices: dict[str, dict[str, Any]] = {}
        self.invoice_tokens: dict[str, str] = {}  # page token -> invoice id
        self.payment_methods: dict[str, str] = {}  # customer -> its default card (pm_...)
        self.portal_sessions: dict[str, dict[str, Any]] = {}  # by URL token
        self.portal_flows_done: set[str] = set()  # tokens whose flow was confirmed
        self.portal_actions: list[dict[str, Any]] = []  # what was done on portal pages
        self.portal_notices: dict[str, str] = {}  # token -> message for the next page view
        self.portal_configured = True
        self.portal_configuration = core.new_id("bpc", 24)  # the default one
        self.portal_configurations: dict[str, dict[str, Any]] = {}  # made through the API
        self.created = core.now()  # when the account was opened: its portal configuration's date
        self.events: list[dict[str, Any]] = []
        self.outbox: deque[dict[str, Any]] = deque()
        self.max_events = 20_000
        self.max_outbox = 10_000
        self.dropped_events = 0  # queued events pushed out of a full outbox, never delivered
        self.request: tuple[str | None, str | None] = (None, None)  # request id, idempotency key
        self.entitled: dict[str, tuple[str, ...]] = {}  # customer -> feature ids last announced
        self.dirty: set[str] = set()  # customers whose entitlements may have changed
        self.invoice_number = 0
        self.coupons: dict[str, dict[str, Any]] = {}
        self.promotion_codes: dict[str, dict[str, Any]] = {}
        # subscription -> what its invoices carry beyond the price: a coupon's discount (and on
        # how many more invoices), Checkout's automatic tax
        self.invoice_terms: dict[str, dict[str, Any]] = {}
        self.test_clocks: dict[str, dict[str, Any]] = {}
        # Proration lines waiting for a subscription's next invoice (Stripe's pending invoice items).
        self.pending_lines: dict[str, list[dict[str, Any]]] = {}
        self.declining_cards: set[str] = set()  # cards that attach but whose charges fail

    def _event_time(self, data_object: dict[str, Any]) -> int:
        """When an event about `data_object` happens: on its customer's test clock, if any
        (Stripe dates what a clock's advance causes at the clock's time)."""
        kind = data_object.get("object")
        if kind == "test_helpers.test_clock":
            return int(data_object["frozen_time"])
        customer = data_object.get("id") if kind == "customer" else data_object.get("customer")
        return self.now_of(customer if isinstance(customer, str) else None)

    def now_of(self, customer_id: str | None) -> int:
        """The time for a customer: its test clock's frozen time, else the wall clock."""
        customer = self.customers.get(customer_id or "")
        clock = self.test_clocks.get((customer or {}).get("test_clock") or "")
        return int(clock["frozen_time"]) if clock is not None else core.now()

    def card_charges(self, customer_id: str) -> bool:
        """Whether a charge on the customer's default card goes through."""
        card = self.payment_methods.get(customer_id)
        return card is not None and card not in self.declining_cards

    def emit(self, type: str, data_object: dict[str, Any], previous: dict[str, Any] | None = None) -> None:
        """Record an event and queue it for delivery (a full queue drops its oldest)."""
        request_id, idempotency_key = self.request
        event = events.event_object(
            type,
            copy.deepcopy(data_object),
            copy.deepcopy(previous),
            api_version=self.api_version,
            request_id=request_id,
            idempotency_key=idempotency_key,
            created=self._event_time(data_object),
        )
        self.events.append(event)
        if len(self.events) > self.max_events:
            del self.events[: max(1, self.max_events // 10)]
        if len(self.outbox) >= self.max_outbox:
            self.outbox.popleft()
            self.dropped_events += 1
        self.outbox.append(event)

    def subscriptions_newest_first(self) -> tuple[list[str], dict[str, int]]:
        """Subscription ids newest first (of equal ``created``, the later made first), and the
        place of each in that list."""
        self.subscription_order = _ordered(self.subscription_order, self.subscriptions)
        return self.subscription_order[1], self.subscription_order[2]

    def customers_newest_first(self) -> tuple[list[str], dict[str, int]]:
        """The same for customers (deleted ones included: the list leaves them out)."""
        self.customer_order = _ordered(self.customer_order, self.customers)
        return self.customer_order[1], self.customer_order[2]

    def live_customer(self, customer_id: str) -> dict[str, Any] | None:
        return None if customer_id in self.deleted else self.customers.get(customer_id)

    @staticmethod
    def found(objects: dict[str, dict[str, Any]], kind: str, object_id: str, *, param: str) -> dict[str, Any]:
        """`objects[object_id]`, or Stripe's 404 for a `kind` it does not know."""
        found = objects.get(object_id)
        if found is None:
            raise errors.no_such(kind, object_id, param=param, status=404)
        return found

    def expand(self, payload: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        """Apply ``expand[]`` paths such as "customer" or "items.data.price.product"."""
        paths = params.get("expand") or []
        if not paths:
            return payload
        payload = copy.deepcopy(payload)
        for path in [paths] if isinstance(paths, str) else paths:
            self._expand_path(payload, str(path).split("."), str(path))
        return payload

    def _expand_path(self, node: Any, parts: list[str], full: str) -> None:
        key, rest = parts[0], parts[1:]
        if isinstance(node, dict) and node.get("object") == "list" and key == "data" and rest:
            for item in node["data"]:
                self._expand_path(item, rest, full)
            return
        cannot = errors.ApiError(400, f"This property cannot be expanded ({full}).", saved=False)
        if not isinstance(node, dict) or key not in node:
            raise cannot
        value = node[key]
        if isinstance(value, str):
            if value.startswith("cus_") and value in self.customers:
                value = self.live_customer(value) or customers.deleted_customer(value)
            elif value.startswith("prod_") and value in self.products:
                value = self.products[value]
            elif value in self.prices:
                value = self.prices[value]
            elif value in self.features:
                value = self.features[value]
            elif value in self.subscriptions:
                value = self.subscriptions[value]
            elif value in self.invoices:
                value = self.invoices[value]
            else:
                raise cannot
            node[key] = value = copy.deepcopy(value)
        if rest:
            self._expand_path(value, rest, full)


_Order = tuple[int, list[str], dict[str, int]]


def _ordered(cached: _Order | None, objects: dict[str, dict[str, Any]]) -> _Order:
    """Ids newest first and the place of each, kept until the number of objects changes (a
    change of order in place, such as a new ``created``, drops the cache itself)."""
    if cached is None or cached[0] != len(objects):
        ids = [o["id"] for o in params.newest_first(objects.values())]
        cached = (len(ids), ids, {oid: n for n, oid in enumerate(ids)})
    return cached
