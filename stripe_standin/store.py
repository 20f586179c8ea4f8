"""The stand-in's in-memory Stripe objects and its /v1/ endpoints.

``Store`` knows nothing about HTTP, threads, faults or idempotency: the server
(``stripe_standin.server``) calls it with its one lock held, passing a ``Call``
(the decoded request). Endpoints return a JSON-able dict or raise ``ApiError``.
"""

from __future__ import annotations

import calendar
import copy
import hashlib
import re
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from stripe_standin import objects as obj
from stripe_standin import pages
from stripe_standin.objects import ApiError
from stripe_standin.pages import Page

SUBSCRIPTION_STATUSES = (
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "paused",
)
_ENDED = ("canceled", "incomplete_expired")
# Statuses whose subscription provisions its product's features (Stripe keeps entitlements
# while a payment is being retried; they go when the subscription stops or is unpaid).
ENTITLED_STATUSES = ("trialing", "active", "past_due")


@dataclass
class Call:
    """What an endpoint gets to see of a request."""

    method: str
    path: str
    query: dict[str, Any]
    params: dict[str, Any]  # decoded body
    api_key: str
    base_url: str  # how the client reached us, for URLs we hand out
    request_id: str
    args: tuple[str, ...] = ()  # path parameters, e.g. the customer id
    idempotency_key: str | None = None

    @property
    def livemode(self) -> bool:
        return "_live_" in self.api_key


class Store:
    """Customers, products, subscriptions and portal sessions. Not thread-safe."""

    def __init__(
        self, *, api_version: str = "2026-10-28.endive", base_url: str = "", account_id: str = "acct_standin"
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
        self.portal_configuration = obj.new_id("bpc", 24)
        self.events: list[dict[str, Any]] = []
        self.outbox: deque[dict[str, Any]] = deque()
        self.max_events = 20_000
        self.max_outbox = 10_000
        self.dropped_events = 0  # queued events pushed out of a full outbox, never delivered
        self.request: tuple[str | None, str | None] = (None, None)  # request id, idempotency key
        self._entitled: dict[str, tuple[str, ...]] = {}  # customer -> feature ids last announced
        self._dirty: set[str] = set()  # customers whose entitlements may have changed
        self._invoice_number = 0

    # ---- events ------------------------------------------------------------

    def emit(self, type: str, data_object: dict[str, Any], previous: dict[str, Any] | None = None) -> None:
        """Record an event and queue it for delivery (a full queue drops its oldest)."""
        request_id, idempotency_key = self.request
        event = obj.event_object(
            type,
            copy.deepcopy(data_object),
            copy.deepcopy(previous),
            api_version=self.api_version,
            request_id=request_id,
            idempotency_key=idempotency_key,
        )
        self.events.append(event)
        if len(self.events) > self.max_events:
            del self.events[: max(1, self.max_events // 10)]
        if len(self.outbox) >= self.max_outbox:
            self.outbox.popleft()
            self.dropped_events += 1
        self.outbox.append(event)

    def settle(self) -> None:
        """Announce the entitlements of every customer whose subscriptions or plans changed."""
        dirty, self._dirty = self._dirty, set()
        for customer_id in sorted(dirty):
            entitlements = self.active_entitlements_for(customer_id)
            now_ids = tuple(e["feature"] for e in entitlements)
            before = self._entitled.get(customer_id, ())
            if now_ids == before:
                continue
            self._entitled[customer_id] = now_ids
            previous = [
                obj.active_entitlement_object(_entitlement_id(customer_id, f), self.features[f])
                for f in before
                if f in self.features
            ]
            self.emit(
                "entitlements.active_entitlement_summary.updated",
                obj.entitlement_summary_object(customer_id, entitlements),
                {"entitlements": {"object": "list", "data": previous, "has_more": False}},
            )

    def active_entitlements_for(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's features through its subscriptions that grant them, in attach order."""
        seen: dict[str, dict[str, Any]] = {}
        for subscription in self.subscriptions.values():
            if subscription["customer"] != customer_id or subscription["status"] not in ENTITLED_STATUSES:
                continue
            for item in subscription["items"]["data"]:
                for pf in self.product_features.get(item["price"]["product"], {}).values():
                    feature = self.features.get(pf["entitlement_feature"]["id"])
                    if feature is not None and feature["active"]:
                        seen.setdefault(feature["id"], feature)
        return [obj.active_entitlement_object(_entitlement_id(customer_id, f), seen[f]) for f in seen]

    # ---- fixtures ----------------------------------------------------------

    def put_customer(self, customer: dict[str, Any]) -> dict[str, Any]:
        new = customer["id"] not in self.customers or customer["id"] in self.deleted
        self.customers[customer["id"]] = customer
        self.deleted.discard(customer["id"])
        if new:
            self.emit("customer.created", customer)
        return customer

    def delete_customer(self, customer_id: str) -> None:
        """Like Stripe: the customer's live subscriptions are canceled too."""
        self.deleted.add(customer_id)
        for spec in list(self.subscription_specs.values()):
            if spec["customer"] == customer_id and spec["status"] not in _ENDED:
                self.put_subscription({**spec, "status": "canceled", "canceled_at": obj.now()})
        self.settle()  # its entitlements end before the customer does
        self.emit("customer.deleted", self.customers[customer_id])

    def live_customer(self, customer_id: str) -> dict[str, Any] | None:
        return None if customer_id in self.deleted else self.customers.get(customer_id)

    def put_product(self, product_id: str, name: str | None) -> None:
        if name is not None or product_id not in self.products:
            old = self.products.get(product_id)
            self.products[product_id] = product = obj.product_object(product_id, name or product_id)
            if old is None:
                self.emit("product.created", product)
            else:
                product["created"] = old["created"]
                if old["name"] != product["name"]:
                    self.emit("product.updated", product, {"name": old["name"]})

    def new_product(
        self,
        *,
        name: str,
        id: str | None = None,
        active: bool = True,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        livemode: bool = False,
    ) -> dict[str, Any]:
        product_id = id or obj.new_id("prod")
        if product_id in self.products:
            raise ApiError(400, "Product already exists.", code="resource_already_exists", param="id")
        product = obj.product_object(
            product_id, name, active=active, description=description, metadata=metadata, livemode=livemode
        )
        self.products[product_id] = product
        self.emit("product.created", product)
        return product

    def new_price(
        self,
        *,
        product: str,
        unit_amount: int,
        currency: str = "usd",
        interval: str | None = "month",
        interval_count: int = 1,
        lookup_key: str | None = None,
        transfer_lookup_key: bool = False,
        nickname: str | None = None,
        active: bool = True,
        metadata: dict[str, str] | None = None,
        id: str | None = None,
        livemode: bool = False,
    ) -> dict[str, Any]:
        if product not in self.products:
            raise obj.no_such("product", product, param="product", status=400)
        price_id = id or obj.new_id("price", 24)
        if price_id in self.prices:
            raise ApiError(400, "Price already exists.", code="resource_already_exists", param="id")
        self._claim_lookup_key(lookup_key, transfer_lookup_key, price_id)
        price = obj.price_object(
            price_id=price_id,
            product=product,
            nickname=nickname,
            unit_amount=unit_amount,
            currency=currency,
            interval=interval,
            interval_count=interval_count,
            lookup_key=lookup_key,
            active=active,
            metadata=metadata,
            livemode=livemode,
        )
        self.prices[price_id] = price
        self.emit("price.created", price)
        return price

    def _claim_lookup_key(self, lookup_key: str | None, transfer: bool, price_id: str) -> None:
        if lookup_key is None:
            return
        holder = next(
            (p for p in self.prices.values() if p["lookup_key"] == lookup_key and p["id"] != price_id), None
        )
        if holder is None:
            return
        if not transfer:
            raise ApiError(
                400,
                f"A price (`{holder['id']}`) already uses that lookup key.",
                code="lookup_key_already_exists",
                param="lookup_key",
            )
        holder["lookup_key"] = None
        self.emit("price.updated", holder, {"lookup_key": lookup_key})

    def new_feature(
        self, *, name: str, lookup_key: str, metadata: dict[str, str] | None = None, id: str | None = None
    ) -> dict[str, Any]:
        if any(f["lookup_key"] == lookup_key for f in self.features.values()):
            raise ApiError(
                400,
                f"A feature with the lookup key `{lookup_key}` already exists.",
                code="resource_already_exists",
                param="lookup_key",
            )
        feature_id = id or obj.new_id("feat_test", 24)
        if feature_id in self.features:
            raise ApiError(400, "Feature already exists.", code="resource_already_exists", param="id")
        feature = obj.feature_object(
            feature_id=feature_id, name=name, lookup_key=lookup_key, metadata=dict(metadata or {})
        )
        self.features[feature_id] = feature
        return feature

    def attach_feature(self, product_id: str, feature_id: str) -> dict[str, Any]:
        if product_id not in self.products:
            raise obj.no_such("product", product_id, param="product", status=404)
        feature = self.features.get(feature_id)
        if feature is None:
            raise obj.no_such("feature", feature_id, param="entitlement_feature", status=400)
        attached = self.product_features.setdefault(product_id, {})
        if any(pf["entitlement_feature"]["id"] == feature_id for pf in attached.values()):
            raise ApiError(
                400,
                f"The feature `{feature_id}` is already attached to product `{product_id}`.",
                code="resource_already_exists",
                param="entitlement_feature",
            )
        pf = obj.product_feature_object(obj.new_id("prodft", 24), feature)
        attached[pf["id"]] = pf
        self._touch_product(product_id)
        return pf

    def _touch_product(self, product_id: str) -> None:
        """The product's features changed: its subscribers' entitlements may have too."""
        for subscription in self.subscriptions.values():
            if any(i["price"]["product"] == product_id for i in subscription["items"]["data"]):
                self._dirty.add(subscription["customer"])

    def put_subscription(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Build (or rebuild) a subscription object from its fields; emits its event."""
        if spec["customer"] not in self.customers:
            raise KeyError(f"No such customer: {spec['customer']!r}")
        if spec["status"] not in SUBSCRIPTION_STATUSES:
            raise ValueError(f"status must be one of {', '.join(SUBSCRIPTION_STATUSES)}")
        if spec["status"] == "canceled" and spec["canceled_at"] is None:
            spec["canceled_at"] = obj.now()
        catalogued = self.prices.get(spec["price_id"])
        if catalogued is not None and spec["price_id"] not in self.fixture_prices:
            price = copy.deepcopy(catalogued)
            recurring = price["recurring"] or {}
            spec.pop("product_name", None)
            spec.update(
                product=price["product"],
                nickname=price["nickname"],
                unit_amount=price["unit_amount"],
                currency=price["currency"],
                interval=recurring.get("interval", "month"),
                interval_count=recurring.get("interval_count", 1),
            )
        else:
            self.put_product(spec["product"], spec.pop("product_name", None))
            price = obj.price_object(
                price_id=spec["price_id"],
                product=spec["product"],
                nickname=spec["nickname"],
                unit_amount=int(spec["unit_amount"]),
                currency=spec["currency"],
                interval=spec["interval"],
                interval_count=int(spec.get("interval_count", 1)),
            )
            if spec["price_id"] in self.prices:
                price["created"] = self.prices[spec["price_id"]]["created"]
            self.prices[spec["price_id"]] = copy.deepcopy(price)
            self.fixture_prices.add(spec["price_id"])
        subscription = obj.subscription_object(
            id=spec["id"],
            item_id=spec["item_id"],
            customer=spec["customer"],
            status=spec["status"],
            price=price,
            quantity=int(spec["quantity"]),
            current_period_start=spec["current_period_start"],
            current_period_end=spec["current_period_end"],
            cancel_at_period_end=bool(spec["cancel_at_period_end"]),
            trial_end=spec["trial_end"],
            canceled_at=spec["canceled_at"],
            created=spec["created"],
            metadata=spec["metadata"],
            latest_invoice=spec.get("latest_invoice"),
            default_payment_method=spec.get("default_payment_method"),
            ended_at=spec.get("ended_at"),
        )
        old = self.subscriptions.get(spec["id"])
        self.subscription_specs[spec["id"]] = spec
        self.subscriptions[spec["id"]] = subscription
        self._dirty.add(spec["customer"])
        if old is None:
            self.emit("customer.subscription.created", subscription)
        elif subscription["status"] == "canceled" and old["status"] != "canceled":
            self.emit("customer.subscription.deleted", subscription)
        elif previous := _changed(old, subscription):
            self.emit("customer.subscription.updated", subscription, previous)
        return subscription

    def update_subscription(self, subscription_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        spec = self.subscription_specs.get(subscription_id)
        if spec is None:
            raise KeyError(f"No such subscription: {subscription_id!r}")
        unknown = set(fields) - (set(spec) - {"id", "item_id", "customer"} | {"product_name"})
        if unknown:
            raise TypeError(f"cannot update subscription field(s): {', '.join(sorted(unknown))}")
        return self.put_subscription({**spec, **fields})

    # ---- API endpoints -------------------------------------------------------

    def create_customer(self, call: Call) -> dict[str, Any]:
        p = _allow(call.params, "name", "email", "description", "phone", "metadata", "expand")
        return self.put_customer(
            obj.customer_object(
                id=obj.new_id("cus"),
                name=_str(p, "name"),
                email=_str(p, "email"),
                description=_str(p, "description"),
                phone=_str(p, "phone"),
                metadata=_metadata(p),
                livemode=call.livemode,
            )
        )

    def retrieve_account(self, call: Call) -> dict[str, Any]:
        """`GET /v1/account`: the account the key belongs to."""
        return {
            "id": self.account_id,
            "object": "account",
            "business_profile": {"name": "Stand-in"},
            "charges_enabled": True,
            "country": "US",
            "default_currency": "usd",
            "details_submitted": True,
            "email": None,
            "payouts_enabled": True,
            "type": "standard",
        }

    def retrieve_customer(self, call: Call) -> dict[str, Any]:
        (customer_id,) = call.args
        if customer_id in self.deleted:
            return obj.deleted_customer(customer_id)  # real Stripe answers 200 with the stub
        return self._customer_or_404(customer_id)

    def update_customer(self, call: Call) -> dict[str, Any]:
        p = _allow(call.params, "name", "email", "description", "phone", "metadata", "expand")
        customer = self._customer_or_404(call.args[0], live=True)
        for name in ("name", "email", "description", "phone"):
            if name in p:
                customer[name] = _str(p, name) or None
        if p.get("metadata") == "":
            customer["metadata"] = {}
        for key, value in _metadata(p).items():  # an empty value unsets the key
            if value == "":
                customer["metadata"].pop(key, None)
            else:
                customer["metadata"][key] = value
        self.emit("customer.updated", customer)
        return customer

    def delete_customer_api(self, call: Call) -> dict[str, Any]:
        (customer_id,) = call.args
        self._customer_or_404(customer_id, live=True)
        self.delete_customer(customer_id)
        return obj.deleted_customer(customer_id)

    def create_portal_session(self, call: Call) -> dict[str, Any]:
        p = _allow(
            call.params,
            "customer",
            "return_url",
            "configuration",
            "locale",
            "on_behalf_of",
            "flow_data",
            "expand",
        )
        customer_id = _str(p, "customer")
        if not customer_id:
            raise obj.missing_parameter("customer")
        configuration = _str(p, "configuration")
        if configuration is not None and not configuration.startswith("bpc_"):
            raise obj.no_such("configuration", configuration, param="configuration", status=400)
        if self.live_customer(customer_id) is None:
            raise obj.no_such("customer", customer_id, param="customer", status=400)
        if configuration is None and not self.portal_configured:
            raise obj.portal_not_configured(call.livemode)
        flow = self._portal_flow(p["flow_data"], customer_id) if "flow_data" in p else None
        token = "test_" + secrets.token_urlsafe(24)
        session = {
            "id": obj.new_id("bps", 24),
            "object": "billing_portal.session",
            "configuration": configuration or self.portal_configuration,
            "created": obj.now(),
            "customer": customer_id,
            "flow": flow,
            "livemode": call.livemode,
            "locale": _str(p, "locale"),
            "on_behalf_of": _str(p, "on_behalf_of"),
            "return_url": _str(p, "return_url"),
            "url": f"{call.base_url}/p/session/{token}",
        }
        self.portal_sessions[token] = session
        return session

    def list_subscriptions(self, call: Call) -> dict[str, Any]:
        q = _allow(
            call.query,
            "customer",
            "price",
            "status",
            "limit",
            "starting_after",
            "ending_before",
            "expand",
            "created",
            "current_period_end",
            "current_period_start",
            "collection_method",
            "test_clock",
            "automatic_tax",
        )
        customer, price, status = _str(q, "customer"), _str(q, "price"), _str(q, "status")
        if status is not None and status not in (*SUBSCRIPTION_STATUSES, "all", "ended"):
            raise obj.invalid_parameter(
                "status", f"Invalid status: must be one of {', '.join(SUBSCRIPTION_STATUSES)}, all, or ended"
            )
        if customer is not None and customer not in self.customers:
            raise obj.no_such("customer", customer, param="customer", status=400)
        limit = _limit(q)
        newest_first = [
            s
            for _, s in sorted(
                enumerate(self.subscriptions.values()),
                key=lambda pair: (pair[1]["created"], pair[0]),
                reverse=True,
            )
        ]
        matching = [
            s
            for s in newest_first
            if (customer is None or s["customer"] == customer)
            and (price is None or s["items"]["data"][0]["price"]["id"] == price)
            and _status_matches(s["status"], status)
        ]
        ids = [s["id"] for s in matching]
        if (after := _str(q, "starting_after")) in ids:
            matching = matching[ids.index(after) + 1 :]
        elif (before := _str(q, "ending_before")) in ids:
            matching = matching[: ids.index(before)][-limit:]
        page = obj.list_object(matching[:limit], "/v1/subscriptions", has_more=len(matching) > limit)
        return self._expand(page, q)

    def retrieve_subscription(self, call: Call) -> dict[str, Any]:
        subscription = self.subscriptions.get(call.args[0])
        if subscription is None:
            raise obj.no_such("subscription", call.args[0], param="id", status=404)
        return self._expand(subscription, call.query)

    def _portal_flow(self, data: Any, customer_id: str) -> dict[str, Any]:
        """Validate ``flow_data`` and render the session's ``flow`` the way Stripe does."""
        if not isinstance(data, dict):
            raise obj.invalid_parameter("flow_data", "Invalid object", code="parameter_invalid_object")
        allowed = (
            "type",
            "after_completion",
            "subscription_cancel",
            "subscription_update",
            "subscription_update_confirm",
        )
        for name in data:
            if name not in allowed:
                raise obj.unknown_parameter(f"flow_data[{name}]")
        kind = _str(data, "type")
        if not kind:
            raise obj.missing_parameter("flow_data[type]")
        kinds = (
            "payment_method_update",
            "subscription_cancel",
            "subscription_update",
            "subscription_update_confirm",
        )
        if kind not in kinds:
            raise obj.invalid_parameter(
                "flow_data[type]",
                f"Invalid flow_data[type]: must be one of {', '.join(kinds[:-1])}, or {kinds[-1]}",
            )
        flow: dict[str, Any] = {
            "after_completion": self._after_completion(data.get("after_completion")),
            "subscription_cancel": None,
            "subscription_update": None,
            "subscription_update_confirm": None,
            "type": kind,
        }
        for other in kinds[1:]:
            if other != kind and other in data:
                raise obj.invalid_parameter(
                    f"flow_data[{other}]",
                    f"You passed `flow_data[{other}]` but `flow_data[type]` is `{kind}`.",
                )
        if kind == "payment_method_update":
            return flow
        details = data.get(kind)
        if not isinstance(details, dict):
            raise obj.missing_parameter(f"flow_data[{kind}]")
        fields = {
            "subscription_cancel": ("subscription", "retention"),
            "subscription_update": ("subscription",),
            "subscription_update_confirm": ("subscription", "items", "discounts"),
        }[kind]
        for name in details:
            if name not in fields:
                raise obj.unknown_parameter(f"flow_data[{kind}][{name}]")
        param = f"flow_data[{kind}][subscription]"
        subscription_id = _str(details, "subscription")
        if not subscription_id:
            raise obj.missing_parameter(param)
        subscription = self.subscriptions.get(subscription_id)
        if subscription is None:
            raise obj.no_such("subscription", subscription_id, param=param, status=400)
        if subscription["customer"] != customer_id:
            raise obj.invalid_parameter(
                param,
                f"The subscription `{subscription_id}` does not belong to the customer `{customer_id}`.",
            )
        if subscription["status"] in _ENDED:
            raise obj.invalid_parameter(
                param,
                f"The subscription `{subscription_id}` cannot be managed in the portal because it is "
                f"`{subscription['status']}`.",
            )
        if kind == "subscription_cancel":
            flow[kind] = {"retention": None, "subscription": subscription_id}
        elif kind == "subscription_update":
            flow[kind] = {"subscription": subscription_id}
        else:
            flow[kind] = {
                "discounts": None,
                "items": self._flow_items(details.get("items"), subscription),
                "subscription": subscription_id,
            }
        return flow

    def _after_completion(self, data: Any) -> dict[str, Any]:
        done: dict[str, Any] = {"hosted_confirmation": None, "redirect": None, "type": "portal_homepage"}
        if data is None:
            return done
        if not isinstance(data, dict):
            raise obj.invalid_parameter(
                "flow_data[after_completion]", "Invalid object", code="parameter_invalid_object"
            )
        for name in data:
            if name not in ("type", "redirect", "hosted_confirmation"):
                raise obj.unknown_parameter(f"flow_data[after_completion][{name}]")
        kind = _str(data, "type")
        if not kind:
            raise obj.missing_parameter("flow_data[after_completion][type]")
        if kind not in ("hosted_confirmation", "portal_homepage", "redirect"):
            raise obj.invalid_parameter(
                "flow_data[after_completion][type]",
                "Invalid flow_data[after_completion][type]: must be one of hosted_confirmation, "
                "portal_homepage, or redirect",
            )
        done["type"] = kind
        if kind == "redirect":
            redirect = data.get("redirect")
            url = _str(redirect, "return_url") if isinstance(redirect, dict) else None
            if not url:
                raise obj.missing_parameter("flow_data[after_completion][redirect][return_url]")
            _check_url(url, "flow_data[after_completion][redirect][return_url]")
            done["redirect"] = {"return_url": url}
        elif kind == "hosted_confirmation":
            confirmation = data.get("hosted_confirmation")
            message = _str(confirmation, "custom_message") if isinstance(confirmation, dict) else None
            done["hosted_confirmation"] = {"custom_message": message}
        return done

    def _flow_items(self, items: Any, subscription: dict[str, Any]) -> list[dict[str, Any]]:
        base = "flow_data[subscription_update_confirm][items]"
        if not isinstance(items, list) or not items:
            raise obj.missing_parameter(base)
        item_ids = {i["id"] for i in subscription["items"]["data"]}
        rendered = []
        for n, item in enumerate(items):
            if not isinstance(item, dict):
                raise obj.invalid_parameter(f"{base}[{n}]", "Invalid object", code="parameter_invalid_object")
            for name in item:
                if name not in ("id", "price", "quantity"):
                    raise obj.unknown_parameter(f"{base}[{n}][{name}]")
            item_id = _str(item, "id")
            if not item_id:
                raise obj.missing_parameter(f"{base}[{n}][id]")
            if item_id not in item_ids:
                raise obj.invalid_parameter(
                    f"{base}[{n}][id]",
                    f"The subscription item `{item_id}` does not belong to the subscription "
                    f"`{subscription['id']}`.",
                )
            price_id = _str(item, "price")
            if price_id is not None:
                self._recurring_price(price_id, f"{base}[{n}][price]")
            quantity = _int(item, "quantity", f"{base}[{n}][quantity]", minimum=1)
            if price_id is None and quantity is None:
                raise obj.invalid_parameter(
                    f"{base}[{n}]", "Each item needs a new `price` or `quantity` to confirm."
                )
            rendered.append({"id": item_id, "price": price_id, "quantity": quantity})
        return rendered

    def _recurring_price(self, price_id: str, param: str) -> dict[str, Any]:
        price = self.prices.get(price_id)
        if price is None:
            raise obj.no_such("price", price_id, param=param, status=400)
        if not price["active"]:
            raise obj.invalid_parameter(
                param, "The price specified is inactive. This field only accepts active prices."
            )
        if price["type"] != "recurring":
            raise obj.invalid_parameter(
                param,
                "The price specified is set to `type=one_time` but this field only accepts prices with "
                "`type=recurring`.",
            )
        return price

    # ---- catalogue endpoints ---------------------------------------------------

    def create_product_api(self, call: Call) -> dict[str, Any]:
        p = _allow(
            call.params,
            "name",
            "id",
            "active",
            "description",
            "metadata",
            "images",
            "marketing_features",
            "statement_descriptor",
            "tax_code",
            "unit_label",
            "url",
            "shippable",
            "default_price_data",
            "expand",
        )
        name = _str(p, "name")
        if not name:
            raise obj.missing_parameter("name")
        if "default_price_data" in p:
            raise obj.invalid_parameter(
                "default_price_data", "The stand-in does not support default_price_data."
            )
        product = self.new_product(
            name=name,
            id=_str(p, "id"),
            active=bool(_bool(p, "active", True)),
            description=_str(p, "description"),
            metadata=_metadata(p),
            livemode=call.livemode,
        )
        return product

    def retrieve_product(self, call: Call) -> dict[str, Any]:
        return self._expand(self._product_or_404(call.args[0]), call.query)

    def update_product_api(self, call: Call) -> dict[str, Any]:
        p = _allow(
            call.params,
            "name",
            "active",
            "description",
            "metadata",
            "default_price",
            "images",
            "marketing_features",
            "statement_descriptor",
            "tax_code",
            "unit_label",
            "url",
            "shippable",
            "expand",
        )
        product = self._product_or_404(call.args[0])
        before = copy.deepcopy(product)
        if "name" in p:
            name = _str(p, "name")
            if not name:
                raise obj.invalid_parameter(
                    "name",
                    "You passed an empty string for 'name'. We assume empty "
                    "values are an attempt to unset a parameter; however 'name' "
                    "cannot be unset. You should remove 'name' from your request "
                    "or supply a non-empty value.",
                    code="parameter_invalid_empty",
                )
            product["name"] = name
        if "active" in p:
            product["active"] = _bool(p, "active", True)
        if "description" in p:
            product["description"] = _str(p, "description") or None
        if "default_price" in p:
            default = _str(p, "default_price") or None
            if default is not None and self.prices.get(default, {}).get("product") != product["id"]:
                raise obj.no_such("price", default, param="default_price", status=400)
            product["default_price"] = default
        _update_metadata(product, p)
        if previous := _changed(before, product):
            product["updated"] = obj.now()
            previous["updated"] = before["updated"]
            self.emit("product.updated", product, previous)
        return product

    def list_products(self, call: Call) -> dict[str, Any]:
        q = _allow(
            call.query,
            "active",
            "ids",
            "created",
            "limit",
            "starting_after",
            "ending_before",
            "shippable",
            "url",
            "expand",
        )
        active = _bool(q, "active", None)
        ids = q.get("ids")
        matching = [
            product
            for product in _newest_first(self.products.values())
            if (active is None or product["active"] == active)
            and (not isinstance(ids, list) or product["id"] in ids)
            and _created_matches(product["created"], q)
        ]
        return self._expand(_paginate(matching, q, "/v1/products"), q)

    def create_price_api(self, call: Call) -> dict[str, Any]:
        p = _allow(
            call.params,
            "currency",
            "product",
            "unit_amount",
            "unit_amount_decimal",
            "recurring",
            "lookup_key",
            "transfer_lookup_key",
            "nickname",
            "metadata",
            "active",
            "product_data",
            "tax_behavior",
            "billing_scheme",
            "expand",
        )
        currency = _str(p, "currency")
        if not currency:
            raise obj.missing_parameter("currency")
        if not re.fullmatch(r"[a-zA-Z]{3}", currency):
            raise obj.invalid_parameter("currency", f"Invalid currency: {currency.lower()}.")
        product_id = _str(p, "product")
        if product_id is None:
            data = p.get("product_data")
            if not isinstance(data, dict):
                raise obj.missing_parameter("product")
            name = _str(data, "name")
            if not name:
                raise obj.missing_parameter("product_data[name]")
            product_id = self.new_product(name=name, livemode=call.livemode)["id"]
        elif product_id not in self.products:
            raise obj.no_such("product", product_id, param="product", status=400)
        amount = _int(p, "unit_amount", "unit_amount", minimum=0)
        if amount is None and (decimal := _str(p, "unit_amount_decimal")) is not None:
            if not re.fullmatch(r"\d+", decimal):
                raise obj.invalid_parameter("unit_amount_decimal", "The stand-in only takes whole amounts.")
            amount = int(decimal)
        if amount is None:
            raise obj.missing_parameter("unit_amount")
        interval, count = None, 1
        recurring = p.get("recurring")
        if recurring is not None:
            if not isinstance(recurring, dict):
                raise obj.invalid_parameter("recurring", "Invalid hash", code="parameter_invalid_object")
            for name in recurring:
                if name not in ("interval", "interval_count", "usage_type", "meter", "trial_period_days"):
                    raise obj.unknown_parameter(f"recurring[{name}]")
            interval = _str(recurring, "interval")
            if not interval:
                raise obj.missing_parameter("recurring[interval]")
            if interval not in INTERVALS:
                raise obj.invalid_parameter(
                    "recurring[interval]",
                    "Invalid recurring[interval]: must be one of day, month, week, or year",
                )
            count = _int(recurring, "interval_count", "recurring[interval_count]", minimum=1) or 1
            if count * {"day": 1, "week": 7, "month": 30, "year": 365}[interval] > 3 * 366:
                raise obj.invalid_parameter(
                    "recurring[interval_count]", "The maximum billing frequency is 3 years (36 months)."
                )
        return self.new_price(
            product=product_id,
            unit_amount=amount,
            currency=currency.lower(),
            interval=interval,
            interval_count=count,
            lookup_key=_str(p, "lookup_key"),
            transfer_lookup_key=bool(_bool(p, "transfer_lookup_key", False)),
            nickname=_str(p, "nickname"),
            active=bool(_bool(p, "active", True)),
            metadata=_metadata(p),
            livemode=call.livemode,
        )

    def retrieve_price(self, call: Call) -> dict[str, Any]:
        return self._expand(self._price_or_404(call.args[0]), call.query)

    def update_price_api(self, call: Call) -> dict[str, Any]:
        p = _allow(
            call.params,
            "active",
            "nickname",
            "metadata",
            "lookup_key",
            "transfer_lookup_key",
            "tax_behavior",
            "expand",
        )
        price = self._price_or_404(call.args[0])
        before = copy.deepcopy(price)
        if "lookup_key" in p:
            key = _str(p, "lookup_key") or None
            self._claim_lookup_key(key, bool(_bool(p, "transfer_lookup_key", False)), price["id"])
            price["lookup_key"] = key
        if "active" in p:
            price["active"] = _bool(p, "active", True)
        if "nickname" in p:
            price["nickname"] = _str(p, "nickname") or None
        _update_metadata(price, p)
        if previous := _changed(before, price):
            self.emit("price.updated", price, previous)
        return price

    def list_prices(self, call: Call) -> dict[str, Any]:
        q = _allow(
            call.query,
            "product",
            "active",
            "type",
            "currency",
            "lookup_keys",
            "recurring",
            "created",
            "limit",
            "starting_after",
            "ending_before",
            "expand",
        )
        active = _bool(q, "active", None)
        product, currency, kind = _str(q, "product"), _str(q, "currency"), _str(q, "type")
        if kind is not None and kind not in ("one_time", "recurring"):
            raise obj.invalid_parameter("type", "Invalid type: must be one of one_time or recurring")
        lookup_keys = q.get("lookup_keys")
        recurring: dict[str, Any] = q["recurring"] if isinstance(q.get("recurring"), dict) else {}
        matching = [
            price
            for price in _newest_first(self.prices.values())
            if price["id"] not in self.fixture_prices
            and (active is None or price["active"] == active)
            and (product is None or price["product"] == product)
            and (currency is None or price["currency"] == currency.lower())
            and (kind is None or price["type"] == kind)
            and (not isinstance(lookup_keys, list) or price["lookup_key"] in lookup_keys)
            and (
                not recurring.get("interval")
                or (price["recurring"] or {}).get("interval") == recurring["interval"]
            )
            and _created_matches(price["created"], q)
        ]
        return self._expand(_paginate(matching, q, "/v1/prices"), q)

    # ---- entitlements endpoints ------------------------------------------------

    def create_feature_api(self, call: Call) -> dict[str, Any]:
        p = _allow(call.params, "name", "lookup_key", "metadata", "expand")
        name, lookup_key = _str(p, "name"), _str(p, "lookup_key")
        if not name:
            raise obj.missing_parameter("name")
        if not lookup_key:
            raise obj.missing_parameter("lookup_key")
        feature = self.new_feature(name=name, lookup_key=lookup_key, metadata=_metadata(p))
        feature["livemode"] = call.livemode
        return feature

    def retrieve_feature(self, call: Call) -> dict[str, Any]:
        return self._feature_or_404(call.args[0])

    def update_feature_api(self, call: Call) -> dict[str, Any]:
        p = _allow(call.params, "name", "active", "metadata", "expand")
        feature = self._feature_or_404(call.args[0])
        if "name" in p:
            feature["name"] = _str(p, "name") or feature["name"]
        if "active" in p:
            feature["active"] = _bool(p, "active", True)
            for product_id, attached in self.product_features.items():
                if any(pf["entitlement_feature"]["id"] == feature["id"] for pf in attached.values()):
                    self._touch_product(product_id)
        _update_metadata(feature, p)
        self._refresh_feature_copies(feature)
        return feature

    def _refresh_feature_copies(self, feature: dict[str, Any]) -> None:
        for attached in self.product_features.values():
            for pf in attached.values():
                if pf["entitlement_feature"]["id"] == feature["id"]:
                    pf["entitlement_feature"] = copy.deepcopy(feature)

    def list_features(self, call: Call) -> dict[str, Any]:
        q = _allow(call.query, "lookup_key", "archived", "limit", "starting_after", "ending_before", "expand")
        lookup_key = _str(q, "lookup_key")
        archived = _bool(q, "archived", None)
        matching = [
            f
            for f in reversed(list(self.features.values()))
            if (lookup_key is None or f["lookup_key"] == lookup_key)
            and (archived is None or f["active"] != archived)
        ]
        return _paginate(matching, q, "/v1/entitlements/features")

    def attach_feature_api(self, call: Call) -> dict[str, Any]:
        p = _allow(call.params, "entitlement_feature", "expand")
        self._product_or_404(call.args[0])
        feature_id = _str(p, "entitlement_feature")
        if not feature_id:
            raise obj.missing_parameter("entitlement_feature")
        return self.attach_feature(call.args[0], feature_id)

    def list_product_features(self, call: Call) -> dict[str, Any]:
        q = _allow(call.query, "limit", "starting_after", "ending_before", "expand")
        self._product_or_404(call.args[0])
        attached = list(self.product_features.get(call.args[0], {}).values())
        return _paginate(list(reversed(attached)), q, f"/v1/products/{call.args[0]}/features")

    def retrieve_product_feature(self, call: Call) -> dict[str, Any]:
        product_id, pf_id = call.args
        self._product_or_404(product_id)
        pf = self.product_features.get(product_id, {}).get(pf_id)
        if pf is None:
            raise obj.no_such("product_feature", pf_id, param="id", status=404)
        return pf

    def detach_feature_api(self, call: Call) -> dict[str, Any]:
        product_id, pf_id = call.args
        self._product_or_404(product_id)
        pf = self.product_features.get(product_id, {}).pop(pf_id, None)
        if pf is None:
            raise obj.no_such("product_feature", pf_id, param="id", status=404)
        self._touch_product(product_id)
        return {"id": pf_id, "object": "product_feature", "deleted": True}

    def list_active_entitlements(self, call: Call) -> dict[str, Any]:
        q = _allow(call.query, "customer", "limit", "starting_after", "ending_before", "expand")
        customer_id = _str(q, "customer")
        if not customer_id:
            raise obj.missing_parameter("customer")
        if customer_id not in self.customers:
            raise obj.no_such("customer", customer_id, param="customer", status=400)
        page = _paginate(self.active_entitlements_for(customer_id), q, "/v1/entitlements/active_entitlements")
        return self._expand(page, q)

    def retrieve_active_entitlement(self, call: Call) -> dict[str, Any]:
        for customer_id in self.customers:
            for entitlement in self.active_entitlements_for(customer_id):
                if entitlement["id"] == call.args[0]:
                    return self._expand(entitlement, call.query)
        raise obj.no_such("active_entitlement", call.args[0], param="id", status=404)

    # ---- checkout endpoints ------------------------------------------------------

    def create_checkout_session(self, call: Call) -> dict[str, Any]:
        p = _allow(
            call.params,
            "mode",
            "customer",
            "customer_email",
            "line_items",
            "success_url",
            "cancel_url",
            "client_reference_id",
            "metadata",
            "subscription_data",
            "expires_at",
            "locale",
            "allow_promotion_codes",
            "payment_method_types",
            "billing_address_collection",
            "ui_mode",
            "payment_method_collection",
            "expand",
        )
        mode = _str(p, "mode")
        if not mode:
            raise obj.missing_parameter("mode")
        if mode not in ("payment", "setup", "subscription"):
            raise obj.invalid_parameter(
                "mode", "Invalid mode: must be one of payment, setup, or subscription"
            )
        if mode != "subscription":
            raise obj.invalid_parameter("mode", "The stand-in only supports Checkout in `subscription` mode.")
        customer_id = _str(p, "customer")
        if customer_id is not None and self.live_customer(customer_id) is None:
            raise obj.no_such("customer", customer_id, param="customer", status=400)
        if customer_id is not None and "customer_email" in p:
            raise obj.invalid_parameter(
                "customer_email", "You may only specify one of these parameters: customer, customer_email."
            )
        for name in ("success_url", "cancel_url"):
            if (url := _str(p, name)) is not None:
                _check_url(url, name)
        items = p.get("line_items")
        if not isinstance(items, list) or not items:
            raise obj.invalid_parameter(
                "line_items",
                "You must provide at least one recurring price in `subscription` mode when using prices.",
            )
        lines = []
        for n, item in enumerate(items):
            if not isinstance(item, dict):
                raise obj.invalid_parameter(
                    f"line_items[{n}]", "Invalid object", code="parameter_invalid_object"
                )
            for name in item:
                if name not in ("price", "quantity", "adjustable_quantity", "tax_rates"):
                    raise obj.unknown_parameter(f"line_items[{n}][{name}]")
            price_id = _str(item, "price")
            if not price_id:
                raise obj.missing_parameter(f"line_items[{n}][price]")
            price = self._recurring_price(price_id, f"line_items[{n}][price]")
            quantity = _int(item, "quantity", f"line_items[{n}][quantity]", minimum=1)
            if quantity is None:
                raise obj.missing_parameter(f"line_items[{n}][quantity]")
            lines.append((price, quantity))
        if len(lines) > 1:
            raise obj.invalid_parameter("line_items", "The stand-in supports one line item per session.")
        data = p.get("subscription_data") or {}
        if not isinstance(data, dict):
            raise obj.invalid_parameter("subscription_data", "Invalid hash", code="parameter_invalid_object")
        for name in data:
            if name not in ("metadata", "trial_period_days", "description", "trial_settings"):
                raise obj.unknown_parameter(f"subscription_data[{name}]")
        trial_days = _int(data, "trial_period_days", "subscription_data[trial_period_days]", minimum=1)
        if trial_days is not None and trial_days > 730:
            raise obj.invalid_parameter(
                "subscription_data[trial_period_days]",
                "The maximum number of trial period days is 730 (2 years).",
            )
        sub_metadata = _metadata(data)
        now = obj.now()
        expires_at = _int(p, "expires_at", "expires_at", minimum=0)
        if expires_at is None:
            expires_at = now + _DAY
        elif expires_at < now + 30 * 60 - 5:
            raise obj.invalid_parameter(
                "expires_at",
                "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
            )
        elif expires_at > now + _DAY + 5:
            raise obj.invalid_parameter(
                "expires_at",
                "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
            )
        price, quantity = lines[0]
        session_id = obj.new_id("cs_test", 58)
        session = obj.checkout_session_object(
            id=session_id,
            url=f"{call.base_url}/c/pay/{session_id}",
            customer=customer_id,
            customer_email=_str(p, "customer_email"),
            currency=price["currency"],
            amount=price["unit_amount"] * quantity,
            success_url=_str(p, "success_url"),
            cancel_url=_str(p, "cancel_url"),
            client_reference_id=_str(p, "client_reference_id"),
            metadata=_metadata(p),
            expires_at=expires_at,
            livemode=call.livemode,
            locale=_str(p, "locale"),
        )
        self.checkout_sessions[session_id] = session
        self.checkout_specs[session_id] = {
            "price": price["id"],
            "quantity": quantity,
            "trial_period_days": trial_days,
            "metadata": sub_metadata,
            "base_url": call.base_url,
            "declines": 0,
        }
        return self._checkout_view(session, p)

    def _checkout_view(self, session: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        expand = params.get("expand") or []
        paths = [expand] if isinstance(expand, str) else list(expand)
        if "line_items" in paths:
            session = copy.deepcopy(session)
            session["line_items"] = self._checkout_line_items(session["id"])
            paths.remove("line_items")
        return self._expand(session, {"expand": paths})

    def _checkout_line_items(self, session_id: str) -> dict[str, Any]:
        spec = self.checkout_specs[session_id]
        price = copy.deepcopy(self.prices[spec["price"]])
        amount = price["unit_amount"] * spec["quantity"]
        product = self.products.get(price["product"], {})
        line = {
            "id": "li_" + hashlib.sha256(session_id.encode()).hexdigest()[:24],
            "object": "item",
            "amount_discount": 0,
            "amount_subtotal": amount,
            "amount_tax": 0,
            "amount_total": amount,
            "currency": price["currency"],
            "description": product.get("name", price["product"]),
            "price": price,
            "quantity": spec["quantity"],
        }
        return obj.list_object([line], f"/v1/checkout/sessions/{session_id}/line_items", has_more=False)

    def sweep_checkout_sessions(self) -> None:
        """Expire open sessions past their ``expires_at``, as Stripe does on its own."""
        now = obj.now()
        for session in self.checkout_sessions.values():
            if session["status"] == "open" and session["expires_at"] <= now:
                self.expire_checkout(session["id"])

    def retrieve_checkout_session(self, call: Call) -> dict[str, Any]:
        self.sweep_checkout_sessions()
        return self._checkout_view(self._checkout_or_404(call.args[0]), call.query)

    def list_checkout_line_items(self, call: Call) -> dict[str, Any]:
        q = _allow(call.query, "limit", "starting_after", "ending_before", "expand")
        self._checkout_or_404(call.args[0])
        return self._expand(self._checkout_line_items(call.args[0]), q)

    def list_checkout_sessions(self, call: Call) -> dict[str, Any]:
        q = _allow(
            call.query,
            "customer",
            "status",
            "subscription",
            "payment_intent",
            "payment_link",
            "customer_details",
            "created",
            "limit",
            "starting_after",
            "ending_before",
            "expand",
        )
        self.sweep_checkout_sessions()
        customer, status, subscription = _str(q, "customer"), _str(q, "status"), _str(q, "subscription")
        if status is not None and status not in ("open", "complete", "expired"):
            raise obj.invalid_parameter("status", "Invalid status: must be one of complete, expired, or open")
        matching = [
            s
            for s in _newest_first(self.checkout_sessions.values())
            if (customer is None or s["customer"] == customer)
            and (status is None or s["status"] == status)
            and (subscription is None or s["subscription"] == subscription)
            and _created_matches(s["created"], q)
        ]
        return self._expand(_paginate(matching, q, "/v1/checkout/sessions"), q)

    def expire_checkout_session(self, call: Call) -> dict[str, Any]:
        _allow(call.params, "expand")
        self.sweep_checkout_sessions()
        session = self._checkout_or_404(call.args[0])
        if session["status"] != "open":
            raise ApiError(
                400,
                'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has '
                f"a status of `{session['status']}`.",
            )
        return self._checkout_view(self.expire_checkout(session["id"]), call.params)

    def expire_checkout(self, session_id: str) -> dict[str, Any]:
        session = self.checkout_sessions[session_id]
        if session["status"] != "open":
            raise ValueError(f"checkout session {session_id} is {session['status']}, not open")
        session.update(status="expired", url=None)
        self.emit("checkout.session.expired", session)
        return session

    def complete_checkout(self, session_id: str) -> dict[str, Any]:
        """Pay: the subscription, its first (paid) invoice, then the completed session."""
        self.sweep_checkout_sessions()
        session = self.checkout_sessions.get(session_id)
        if session is None:
            raise KeyError(f"No such checkout session: {session_id!r}")
        if session["status"] != "open":
            raise ValueError(f"checkout session {session_id} is {session['status']}, not open")
        spec = self.checkout_specs[session_id]
        customer_id = session["customer"]
        if customer_id is None or self.live_customer(customer_id) is None:
            customer_id = self.put_customer(
                obj.customer_object(
                    id=obj.new_id("cus"),
                    name=None,
                    email=session["customer_email"],
                    description=None,
                    phone=None,
                    metadata={},
                    livemode=session["livemode"],
                )
            )["id"]
        self.save_card(customer_id)
        subscription, invoice = self.start_subscription(
            customer_id,
            spec["price"],
            quantity=spec["quantity"],
            metadata=spec["metadata"],
            trial_days=spec["trial_period_days"],
            base_url=spec["base_url"],
        )
        customer = self.customers[customer_id]
        session.update(
            status="complete",
            payment_status="paid" if invoice["amount_paid"] > 0 else "no_payment_required",
            customer=customer_id,
            subscription=subscription["id"],
            invoice=invoice["id"],
            url=None,
            customer_details={
                "address": None,
                "email": customer.get("email"),
                "name": customer.get("name"),
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
            },
        )
        self.emit("checkout.session.completed", session)
        return session

    def decline_checkout(self, session_id: str) -> dict[str, Any]:
        session = self.checkout_sessions[session_id]
        self.checkout_specs[session_id]["declines"] += 1
        return session

    # ---- subscription endpoints ----------------------------------------------------

    def create_subscription_api(self, call: Call) -> dict[str, Any]:
        p = _allow(
            call.params,
            "customer",
            "items",
            "metadata",
            "trial_period_days",
            "trial_end",
            "cancel_at_period_end",
            "default_payment_method",
            "payment_behavior",
            "proration_behavior",
            "collection_method",
            "description",
            "off_session",
            "expand",
        )
        customer_id = _str(p, "customer")
        if not customer_id:
            raise obj.missing_parameter("customer")
        if self.live_customer(customer_id) is None:
            raise obj.no_such("customer", customer_id, param="customer", status=400)
        items = p.get("items")
        if not isinstance(items, list) or not items:
            raise obj.missing_parameter("items")
        if len(items) > 1:
            raise obj.invalid_parameter("items", "The stand-in supports one item per subscription.")
        item = items[0]
        if not isinstance(item, dict):
            raise obj.invalid_parameter("items[0]", "Invalid object", code="parameter_invalid_object")
        for name in item:
            if name not in ("price", "quantity", "metadata"):
                raise obj.unknown_parameter(f"items[0][{name}]")
        price_id = _str(item, "price")
        if not price_id:
            raise obj.missing_parameter("items[0][price]")
        price = self._recurring_price(price_id, "items[0][price]")
        quantity = _int(item, "quantity", "items[0][quantity]", minimum=1) or 1
        trial_days = _int(p, "trial_period_days", "trial_period_days", minimum=0) or None
        behavior = _str(p, "payment_behavior") or "allow_incomplete"
        if behavior not in (
            "allow_incomplete",
            "default_incomplete",
            "error_if_incomplete",
            "pending_if_incomplete",
        ):
            raise obj.invalid_parameter(
                "payment_behavior",
                "Invalid payment_behavior: must be one of allow_incomplete, "
                "default_incomplete, error_if_incomplete, or pending_if_incomplete",
            )
        needs_card = price["unit_amount"] * quantity > 0 and not trial_days
        if needs_card and customer_id not in self.payment_methods and behavior != "default_incomplete":
            raise ApiError(
                400,
                "This customer has no attached payment source or default payment method. Please consider "
                "adding a default payment method. For more information, visit "
                "https://docs.stripe.com/billing/subscriptions/payment-methods-setting#payment-method-priority.",
                code="resource_missing",
            )
        subscription, _ = self.start_subscription(
            customer_id,
            price_id,
            quantity=quantity,
            metadata=_metadata(p),
            trial_days=trial_days,
            base_url=call.base_url,
            pay=behavior != "default_incomplete" or not needs_card,
            cancel_at_period_end=bool(_bool(p, "cancel_at_period_end", False)),
        )
        return self._expand(subscription, p)

    def update_subscription_api(self, call: Call) -> dict[str, Any]:
        p = _allow(
            call.params,
            "cancel_at_period_end",
            "items",
            "proration_behavior",
            "metadata",
            "payment_behavior",
            "default_payment_method",
            "description",
            "trial_end",
            "billing_cycle_anchor",
            "cancel_at",
            "cancellation_details",
            "expand",
        )
        subscription = self._subscription_or_404(call.args[0])
        spec = dict(self.subscription_specs[subscription["id"]])
        if subscription["status"] == "canceled" and set(p) - {"metadata", "cancellation_details", "expand"}:
            raise obj.invalid_parameter(
                next(iter(set(p) - {"metadata", "cancellation_details", "expand"})),
                "A canceled subscription can only update its cancellation_details and metadata.",
            )
        behavior = _str(p, "proration_behavior")
        if behavior is not None and behavior not in ("always_invoice", "create_prorations", "none"):
            raise obj.invalid_parameter(
                "proration_behavior",
                "Invalid proration_behavior: must be one of always_invoice, create_prorations, or none",
            )
        if "cancel_at_period_end" in p:
            spec["cancel_at_period_end"] = bool(_bool(p, "cancel_at_period_end", False))
        if p.get("cancel_at") == "":
            spec["cancel_at_period_end"] = False
        if "metadata" in p:
            holder = {"metadata": dict(spec["metadata"])}
            _update_metadata(holder, p)
            spec["metadata"] = holder["metadata"]
        items = p.get("items")
        if items is not None:
            if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
                raise obj.invalid_parameter("items", "The stand-in supports changing the one item only.")
            item = items[0]
            for name in item:
                if name not in ("id", "price", "quantity", "metadata"):
                    raise obj.unknown_parameter(f"items[0][{name}]")
            item_id = _str(item, "id")
            if not item_id:
                raise obj.invalid_parameter(
                    "items[0][id]", "The stand-in supports one item per subscription: pass `items[0][id]`."
                )
            if item_id != spec["item_id"]:
                raise obj.invalid_parameter(
                    "items[0][id]",
                    f"The subscription item `{item_id}` does not belong to the subscription `{spec['id']}`.",
                )
            if (price_id := _str(item, "price")) is not None:
                price = self._recurring_price(price_id, "items[0][price]")
                if price["currency"] != spec["currency"]:
                    raise obj.invalid_parameter(
                        "items[0][price]",
                        "The price specified has a different currency than the existing items on this "
                        "subscription.",
                    )
                spec["price_id"] = price_id
            if (quantity := _int(item, "quantity", "items[0][quantity]", minimum=0)) is not None:
                spec["quantity"] = quantity
        updated = self.put_subscription(spec)
        if items is not None and behavior == "always_invoice" and updated["status"] in ("active", "past_due"):
            self.bill(updated["id"], reason="subscription_update", base_url=call.base_url, succeed=True)
            updated = self.subscriptions[updated["id"]]
        return self._expand(updated, p)

    def cancel_subscription_api(self, call: Call) -> dict[str, Any]:
        p = _allow(call.params, "invoice_now", "prorate", "cancellation_details", "expand")
        subscription = self._subscription_or_404(call.args[0])
        if subscription["status"] in _ENDED:
            raise ApiError(
                400,
                f"A canceled subscription can only update its cancellation_details and metadata. "
                f"This subscription ({subscription['id']}) has already been canceled.",
            )
        return self._expand(self.cancel_now(subscription["id"]), p)

    # ---- invoice endpoints -----------------------------------------------------------

    def list_invoices(self, call: Call) -> dict[str, Any]:
        q = _allow(
            call.query,
            "customer",
            "subscription",
            "status",
            "created",
            "collection_method",
            "due_date",
            "limit",
            "starting_after",
            "ending_before",
            "expand",
        )
        customer, subscription, status = _str(q, "customer"), _str(q, "subscription"), _str(q, "status")
        if status is not None and status not in INVOICE_STATUSES:
            raise obj.invalid_parameter(
                "status", "Invalid status: must be one of draft, open, paid, uncollectible, or void"
            )
        if customer is not None and customer not in self.customers:
            raise obj.no_such("customer", customer, param="customer", status=400)
        matching = [
            i
            for i in _newest_first(self.invoices.values())
            if (customer is None or i["customer"] == customer)
            and (subscription is None or _invoice_subscription(i) == subscription)
            and (status is None or i["status"] == status)
            and _created_matches(i["created"], q)
        ]
        return self._expand(_paginate(matching, q, "/v1/invoices"), q)

    def retrieve_invoice(self, call: Call) -> dict[str, Any]:
        invoice = self.invoices.get(call.args[0])
        if invoice is None:
            raise obj.no_such("invoice", call.args[0], param="id", status=404)
        return self._expand(invoice, call.query)

    def pay_invoice_api(self, call: Call) -> dict[str, Any]:
        p = _allow(call.params, "payment_method", "off_session", "paid_out_of_band", "expand")
        invoice = self.invoices.get(call.args[0])
        if invoice is None:
            raise obj.no_such("invoice", call.args[0], param="id", status=404)
        if invoice["status"] != "open":
            raise ApiError(
                400,
                "Invoice is already paid."
                if invoice["status"] == "paid"
                else f"You can only pay an open invoice. This invoice is {invoice['status']}.",
                code="invoice_not_open" if invoice["status"] != "paid" else "invoice_already_paid",
            )
        if invoice["customer"] not in self.payment_methods and not _bool(p, "paid_out_of_band", False):
            raise ApiError(
                402,
                "This customer has no attached payment source or default payment method.",
                type="card_error",
                code="invoice_no_customer_line_items",
            )
        return self._expand(self.pay_invoice(invoice["id"]), p)

    # ---- billing operations (API, pages and Python helpers share these) ---------------

    def save_card(self, customer_id: str) -> str:
        """A new default card for the customer (what Checkout and "update card" leave behind)."""
        pm_id = obj.new_id("pm", 24)
        self.payment_methods[customer_id] = pm_id
        customer = self.customers[customer_id]
        before = copy.deepcopy(customer["invoice_settings"])
        customer["invoice_settings"]["default_payment_method"] = pm_id
        self.emit("customer.updated", customer, {"invoice_settings": before})
        return pm_id

    def start_subscription(
        self,
        customer_id: str,
        price_id: str,
        *,
        quantity: int = 1,
        metadata: dict[str, str] | None = None,
        trial_days: int | None = None,
        base_url: str | None = None,
        pay: bool = True,
        cancel_at_period_end: bool = False,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        price = self.prices[price_id]
        recurring = price["recurring"] or {"interval": "month", "interval_count": 1}
        now = obj.now()
        trial_end = now + trial_days * _DAY if trial_days else None
        spec: dict[str, Any] = {
            "customer": customer_id,
            "status": "trialing" if trial_end else "incomplete",
            "price_id": price_id,
            "product": price["product"],
            "nickname": price["nickname"],
            "unit_amount": price["unit_amount"],
            "currency": price["currency"],
            "interval": recurring["interval"],
            "interval_count": recurring["interval_count"],
            "quantity": quantity,
            "current_period_start": now,
            "current_period_end": trial_end
            or period_end(now, recurring["interval"], recurring["interval_count"]),
            "cancel_at_period_end": cancel_at_period_end,
            "trial_end": trial_end,
            "canceled_at": None,
            "created": now,
            "metadata": dict(metadata or {}),
            "id": obj.new_id("sub", 24),
            "item_id": obj.new_id("si"),
            "latest_invoice": None,
            "default_payment_method": self.payment_methods.get(customer_id),
            "ended_at": None,
        }
        self.put_subscription(spec)
        amount = 0 if trial_end else price["unit_amount"] * quantity
        invoice = self.new_invoice(spec["id"], amount, "subscription_create", base_url=base_url)
        if pay or amount == 0:
            self.pay_invoice(invoice["id"])
        return self.subscriptions[spec["id"]], self.invoices[invoice["id"]]

    def new_invoice(
        self, subscription_id: str, amount: int, reason: str, *, base_url: str | None
    ) -> dict[str, Any]:
        subscription = self.subscriptions[subscription_id]
        item = subscription["items"]["data"][0]
        customer = self.customers[subscription["customer"]]
        self._invoice_number += 1
        token = secrets.token_urlsafe(18)
        base = base_url or self.base_url
        invoice_id = obj.new_id("in", 24)
        invoice = obj.invoice_object(
            id=invoice_id,
            number=f"{customer['invoice_prefix']}-{self._invoice_number:04d}",
            customer=customer,
            subscription=subscription,
            amount=amount,
            billing_reason=reason,
            period_start=item["current_period_start"],
            period_end=item["current_period_end"],
            hosted_url=f"{base}/i/{token}",
            pdf_url=f"{base}/i/{token}/pdf",
        )
        self.invoices[invoice_id] = invoice
        self.invoice_tokens[token] = invoice_id
        self.emit("invoice.created", invoice)
        self.emit("invoice.finalized", invoice)
        self.update_subscription(subscription_id, {"latest_invoice": invoice_id})
        return invoice

    def pay_invoice(self, invoice_id: str) -> dict[str, Any]:
        invoice = self.invoices[invoice_id]
        if invoice["status"] != "open":
            raise ValueError(f"invoice {invoice_id} is {invoice['status']}, not open")
        now = obj.now()
        invoice.update(
            status="paid",
            amount_paid=invoice["amount_due"],
            amount_remaining=0,
            attempted=True,
            attempt_count=invoice["attempt_count"] + (1 if invoice["amount_due"] else 0),
            next_payment_attempt=None,
        )
        invoice["status_transitions"]["paid_at"] = now
        self.emit("invoice.paid", invoice)
        self.emit("invoice.payment_succeeded", invoice)
        subscription_id = _invoice_subscription(invoice)
        spec = self.subscription_specs.get(subscription_id or "")
        if spec is not None and spec["status"] in ("incomplete", "past_due", "unpaid"):
            self.update_subscription(spec["id"], {"status": "active"})
        return invoice

    def fail_invoice(self, invoice_id: str) -> dict[str, Any]:
        invoice = self.invoices[invoice_id]
        invoice.update(
            attempted=True,
            attempt_count=invoice["attempt_count"] + 1,
            next_payment_attempt=obj.now() + 3 * _DAY,
        )
        self.emit("invoice.payment_failed", invoice)
        return invoice

    def bill(
        self, subscription_id: str, *, reason: str, base_url: str | None, succeed: bool
    ) -> dict[str, Any]:
        spec = self.subscription_specs[subscription_id]
        invoice = self.new_invoice(
            subscription_id, int(spec["unit_amount"]) * int(spec["quantity"]), reason, base_url=base_url
        )
        if (succeed and invoice["amount_due"] == 0) or (succeed and spec["customer"] in self.payment_methods):
            return self.pay_invoice(invoice["id"])
        return self.fail_invoice(invoice["id"])

    def renew(
        self, subscription_id: str, *, succeed: bool = True, base_url: str | None = None
    ) -> dict[str, Any]:
        """A renewal now: the next period starts, its invoice is paid or fails (``past_due``)."""
        spec = self.subscription_specs.get(subscription_id)
        if spec is None:
            raise KeyError(f"No such subscription: {subscription_id!r}")
        if spec["status"] in _ENDED:
            raise ValueError(f"subscription {subscription_id} is {spec['status']}")
        if spec["cancel_at_period_end"]:  # the period ends: the subscription ends with it
            self.cancel_now(subscription_id)
            return self.subscriptions[subscription_id]
        now = obj.now()
        fields: dict[str, Any] = {
            "current_period_start": now,
            "current_period_end": period_end(now, spec["interval"], int(spec.get("interval_count", 1))),
        }
        if spec["status"] == "trialing":
            fields["trial_end"] = now
        self.update_subscription(subscription_id, fields)
        invoice = self.bill(subscription_id, reason="subscription_cycle", base_url=base_url, succeed=succeed)
        if invoice["status"] == "paid":
            if self.subscription_specs[subscription_id]["status"] != "active":
                self.update_subscription(subscription_id, {"status": "active"})
        else:
            self.update_subscription(subscription_id, {"status": "past_due"})
        return self.subscriptions[subscription_id]

    def cancel_now(self, subscription_id: str) -> dict[str, Any]:
        now = obj.now()
        for invoice in self.invoices.values():
            if _invoice_subscription(invoice) == subscription_id and invoice["status"] == "open":
                invoice["status"] = "void"
                invoice["status_transitions"]["voided_at"] = now
                invoice["amount_remaining"] = 0
                self.emit("invoice.voided", invoice)
        return self.update_subscription(
            subscription_id, {"status": "canceled", "canceled_at": now, "ended_at": now}
        )

    def change_price(
        self, subscription_id: str, price_id: str | None, quantity: int | None
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if price_id is not None:
            fields["price_id"] = price_id
        if quantity is not None:
            fields["quantity"] = quantity
        return self.update_subscription(subscription_id, fields)

    # ---- endpoint helpers ------------------------------------------------------

    @staticmethod
    def _found(
        objects: dict[str, dict[str, Any]], kind: str, object_id: str, *, param: str
    ) -> dict[str, Any]:
        """`objects[object_id]`, or Stripe's 404 for a `kind` it does not know."""
        found = objects.get(object_id)
        if found is None:
            raise obj.no_such(kind, object_id, param=param, status=404)
        return found

    def _product_or_404(self, product_id: str) -> dict[str, Any]:
        return self._found(self.products, "product", product_id, param="id")

    def _price_or_404(self, price_id: str) -> dict[str, Any]:
        return self._found(self.prices, "price", price_id, param="price")

    def _feature_or_404(self, feature_id: str) -> dict[str, Any]:
        return self._found(self.features, "feature", feature_id, param="id")

    def _checkout_or_404(self, session_id: str) -> dict[str, Any]:
        return self._found(self.checkout_sessions, "checkout.session", session_id, param="session")

    def _subscription_or_404(self, subscription_id: str) -> dict[str, Any]:
        return self._found(self.subscriptions, "subscription", subscription_id, param="id")

    def _customer_or_404(self, customer_id: str, *, live: bool = False) -> dict[str, Any]:
        customer = self.live_customer(customer_id) if live else self.customers.get(customer_id)
        if customer is None:
            raise obj.no_such("customer", customer_id, param="id", status=404)
        return customer

    def _expand(self, payload: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
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
        cannot = ApiError(400, f"This property cannot be expanded ({full}).", saved=False)
        if not isinstance(node, dict) or key not in node:
            raise cannot
        value = node[key]
        if isinstance(value, str):
            if value.startswith("cus_") and value in self.customers:
                value = self.live_customer(value) or obj.deleted_customer(value)
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

    # ---- hosted pages: Checkout, portal, invoices --------------------------------

    def checkout_page(self, session_id: str, error: str | None = None, status: int = 200) -> Page:
        self.sweep_checkout_sessions()
        session = self.checkout_sessions.get(session_id)
        if session is None:
            return Page(404, pages.not_found("Checkout Session"))
        spec = self.checkout_specs[session_id]
        price = self.prices[spec["price"]]
        product = self.products.get(price["product"], {})
        html = pages.checkout_page(
            session, price, product, spec["quantity"], spec["trial_period_days"], error
        )
        return Page(status, html)

    def checkout_post(self, session_id: str, form: dict[str, Any]) -> Page:
        self.sweep_checkout_sessions()
        session = self.checkout_sessions.get(session_id)
        if session is None:
            return Page(404, pages.not_found("Checkout Session"))
        action = form.get("action")
        if session["status"] != "open":
            return self.checkout_page(session_id, status=409)
        if action == "back":
            return (
                Page(303, location=session["cancel_url"])
                if session["cancel_url"]
                else self.checkout_page(session_id)
            )
        if action == "decline":
            self.decline_checkout(session_id)
            return self.checkout_page(session_id, "Your card was declined. Try another card.", status=402)
        if action != "pay":
            return self.checkout_page(session_id, f"Unknown action: {action}", status=400)
        self.complete_checkout(session_id)
        if session["success_url"]:
            return Page(303, location=session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id))
        return Page(200, pages.confirmation_page("Thanks for your payment.", None))

    def invoice_page(self, token: str, *, pdf: bool) -> Page:
        invoice = self.invoices.get(self.invoice_tokens.get(token, ""))
        if invoice is None:
            return Page(404, pages.not_found("invoice"))
        return Page(200, pages.invoice_page(invoice, pdf=pdf))

    def portal_page(self, token: str, *, error: str | None = None, status: int = 200) -> Page:
        """GET /p/session/{token}: the flow's confirm screen first, else the portal's home."""
        session = self.portal_sessions.get(token)
        if session is None:
            return Page(404, pages.not_found("portal session"))
        flow = session["flow"]
        if flow is not None and token not in self.portal_flows_done and flow["type"] != "subscription_update":
            details = flow.get(flow["type"]) or {}
            item = (details.get("items") or [{}])[0]
            return Page(
                status,
                pages.portal_flow_page(
                    session=session,
                    subscription=self.subscriptions.get(details.get("subscription", "")),
                    products=self.products,
                    new_price=self.prices.get(item.get("price") or ""),
                    new_quantity=item.get("quantity"),
                    error=error,
                ),
            )
        customer_id = session["customer"]
        subscriptions = [
            s for s in _newest_first(self.subscriptions.values()) if s["customer"] == customer_id
        ]
        invoices = [i for i in _newest_first(self.invoices.values()) if i["customer"] == customer_id]
        prices = sorted(
            (
                p
                for p in self.prices.values()
                if p["active"]
                and p["type"] == "recurring"
                and p["id"] not in self.fixture_prices
                and self.products.get(p["product"], {}).get("active", False)
            ),
            key=lambda p: (p["unit_amount"], p["id"]),
        )
        return Page(
            status,
            pages.portal_page(
                session=session,
                customer=self.customers.get(customer_id, {}),
                subscriptions=subscriptions,
                products=self.products,
                prices=prices,
                invoices=invoices,
                card=self.payment_methods.get(customer_id),
                notice=self.portal_notices.pop(token, None),
                error=error,
            ),
        )

    def portal_post(self, token: str, form: dict[str, Any], base_url: str) -> Page:
        """A button on the portal page; answers a redirect back (or to the flow's return URL)."""
        session = self.portal_sessions.get(token)
        if session is None:
            return Page(404, pages.not_found("portal session"))
        home = f"{base_url}/p/session/{token}"
        action = str(form.get("action", ""))
        customer_id = session["customer"]
        if self.live_customer(customer_id) is None:
            return self.portal_page(token, error="This customer no longer exists.", status=410)
        record = {
            "session": session["id"],
            "customer": customer_id,
            "action": action,
            "time": obj.now(),
            **{k: form[k] for k in ("subscription", "price", "invoice") if k in form},
        }
        try:
            notice = self._portal_action(session, token, action, form, base_url)
        except _PortalRefusal as refusal:
            record["error"] = str(refusal)
            self.portal_actions.append(record)
            return self.portal_page(token, error=str(refusal), status=400)
        self.portal_actions.append(record)
        if isinstance(notice, Page):
            return notice
        self.portal_notices[token] = notice
        return Page(303, location=home)

    def _portal_action(
        self, session: dict[str, Any], token: str, action: str, form: dict[str, Any], base_url: str
    ) -> str | Page:
        customer_id = session["customer"]
        if action == "update_card":
            self.save_card(customer_id)
            paid = self._pay_open_invoices(customer_id)
            return "Card updated." + (f" Paid {paid} open invoice(s)." if paid else "")
        if action == "pay_invoice":
            invoice = self.invoices.get(str(form.get("invoice", "")))
            if invoice is None or invoice["customer"] != customer_id:
                raise _PortalRefusal("No such invoice.")
            if invoice["status"] != "open":
                raise _PortalRefusal(f"This invoice is {invoice['status']}.")
            if customer_id not in self.payment_methods:
                self.save_card(customer_id)
            self.pay_invoice(invoice["id"])
            return f"Invoice {invoice['number']} paid."
        if action == "confirm_flow":
            return self._confirm_flow(session, token, base_url)
        if action == "leave_flow":
            self.portal_flows_done.add(token)
            if session["return_url"]:
                return Page(303, location=session["return_url"])
            return "Back to your account."
        subscription = self._portal_subscription(customer_id, str(form.get("subscription", "")))
        sub_id = subscription["id"]
        if action == "cancel":
            self.update_subscription(sub_id, {"cancel_at_period_end": True})
            return "Your plan will be canceled at the end of the period."
        if action == "resume":
            self.update_subscription(sub_id, {"cancel_at_period_end": False})
            return "Your plan will renew."
        if action == "switch":
            price = self._portal_price(str(form.get("price", "")), subscription)
            self.change_price(sub_id, price["id"], None)
            return "Plan changed."
        if action == "fail_renewal":
            if subscription["status"] not in ("active", "trialing"):
                raise _PortalRefusal(f"A {subscription['status']} subscription does not renew.")
            self.renew(sub_id, succeed=False, base_url=base_url)
            return "The renewal payment failed: the subscription is past due."
        raise _PortalRefusal(f"Unknown action: {action}")

    def _confirm_flow(self, session: dict[str, Any], token: str, base_url: str) -> str | Page:
        flow = session["flow"]
        if flow is None or token in self.portal_flows_done:
            raise _PortalRefusal("There is nothing to confirm.")
        kind = flow["type"]
        customer_id = session["customer"]
        if kind == "payment_method_update":
            self.save_card(customer_id)
            self._pay_open_invoices(customer_id)
            message = "Your payment method was updated."
        elif kind == "subscription_cancel":
            subscription = self._portal_subscription(customer_id, flow[kind]["subscription"])
            self.update_subscription(subscription["id"], {"cancel_at_period_end": True})
            message = "Your plan will be canceled at the end of the period."
        elif kind == "subscription_update_confirm":
            subscription = self._portal_subscription(customer_id, flow[kind]["subscription"])
            item = flow[kind]["items"][0]
            if item["price"] is not None:
                self._portal_price(item["price"], subscription)
            self.change_price(subscription["id"], item["price"], item["quantity"])
            message = "Your plan was updated."
        else:
            message = "Choose a new plan."
        self.portal_flows_done.add(token)
        after = flow["after_completion"]
        if after["type"] == "redirect":
            return Page(303, location=after["redirect"]["return_url"])
        if after["type"] == "hosted_confirmation":
            custom = (after.get("hosted_confirmation") or {}).get("custom_message")
            return Page(200, pages.confirmation_page(custom or message, session["return_url"]))
        return message

    def _portal_subscription(self, customer_id: str, subscription_id: str) -> dict[str, Any]:
        subscription = self.subscriptions.get(subscription_id)
        if subscription is None or subscription["customer"] != customer_id:
            raise _PortalRefusal("No such subscription.")
        if subscription["status"] in _ENDED:
            raise _PortalRefusal("This subscription has ended.")
        return subscription

    def _portal_price(self, price_id: str, subscription: dict[str, Any]) -> dict[str, Any]:
        price = self.prices.get(price_id)
        if price is None or not price["active"] or price["type"] != "recurring":
            raise _PortalRefusal("That plan is not available.")
        if price["currency"] != subscription["currency"]:
            raise _PortalRefusal("That plan is in another currency.")
        return price

    def _pay_open_invoices(self, customer_id: str) -> int:
        open_invoices = [
            i for i in self.invoices.values() if i["customer"] == customer_id and i["status"] == "open"
        ]
        for invoice in open_invoices:
            self.pay_invoice(invoice["id"])
        return len(open_invoices)


class _PortalRefusal(Exception):
    """A portal button that cannot be carried out; shown on the page."""


class Route(NamedTuple):
    method: str
    pattern: re.Pattern[str]
    label: str  # e.g. "GET /v1/customers/{id}", used in stats
    endpoint: Callable[[Store, Call], dict[str, Any]]


_ID = r"/([^/]+)$"
ROUTES = [
    Route("POST", re.compile(r"^/v1/customers$"), "POST /v1/customers", Store.create_customer),
    Route("GET", re.compile(r"^/v1/account$"), "GET /v1/account", Store.retrieve_account),
    Route("GET", re.compile(r"^/v1/customers" + _ID), "GET /v1/customers/{id}", Store.retrieve_customer),
    Route("POST", re.compile(r"^/v1/customers" + _ID), "POST /v1/customers/{id}", Store.update_customer),
    Route(
        "DELETE", re.compile(r"^/v1/customers" + _ID), "DELETE /v1/customers/{id}", Store.delete_customer_api
    ),
    Route(
        "POST",
        re.compile(r"^/v1/billing_portal/sessions$"),
        "POST /v1/billing_portal/sessions",
        Store.create_portal_session,
    ),
    Route("GET", re.compile(r"^/v1/subscriptions$"), "GET /v1/subscriptions", Store.list_subscriptions),
    Route(
        "POST", re.compile(r"^/v1/subscriptions$"), "POST /v1/subscriptions", Store.create_subscription_api
    ),
    Route(
        "GET",
        re.compile(r"^/v1/subscriptions" + _ID),
        "GET /v1/subscriptions/{id}",
        Store.retrieve_subscription,
    ),
    Route(
        "POST",
        re.compile(r"^/v1/subscriptions" + _ID),
        "POST /v1/subscriptions/{id}",
        Store.update_subscription_api,
    ),
    Route(
        "DELETE",
        re.compile(r"^/v1/subscriptions" + _ID),
        "DELETE /v1/subscriptions/{id}",
        Store.cancel_subscription_api,
    ),
    Route("GET", re.compile(r"^/v1/products$"), "GET /v1/products", Store.list_products),
    Route("POST", re.compile(r"^/v1/products$"), "POST /v1/products", Store.create_product_api),
    Route(
        "GET",
        re.compile(r"^/v1/products/([^/]+)/features$"),
        "GET /v1/products/{id}/features",
        Store.list_product_features,
    ),
    Route(
        "POST",
        re.compile(r"^/v1/products/([^/]+)/features$"),
        "POST /v1/products/{id}/features",
        Store.attach_feature_api,
    ),
    Route(
        "GET",
        re.compile(r"^/v1/products/([^/]+)/features" + _ID),
        "GET /v1/products/{id}/features/{id}",
        Store.retrieve_product_feature,
    ),
    Route(
        "DELETE",
        re.compile(r"^/v1/products/([^/]+)/features" + _ID),
        "DELETE /v1/products/{id}/features/{id}",
        Store.detach_feature_api,
    ),
    Route("GET", re.compile(r"^/v1/products" + _ID), "GET /v1/products/{id}", Store.retrieve_product),
    Route("POST", re.compile(r"^/v1/products" + _ID), "POST /v1/products/{id}", Store.update_product_api),
    Route("GET", re.compile(r"^/v1/prices$"), "GET /v1/prices", Store.list_prices),
    Route("POST", re.compile(r"^/v1/prices$"), "POST /v1/prices", Store.create_price_api),
    Route("GET", re.compile(r"^/v1/prices" + _ID), "GET /v1/prices/{id}", Store.retrieve_price),
    Route("POST", re.compile(r"^/v1/prices" + _ID), "POST /v1/prices/{id}", Store.update_price_api),
    Route(
        "GET",
        re.compile(r"^/v1/entitlements/features$"),
        "GET /v1/entitlements/features",
        Store.list_features,
    ),
    Route(
        "POST",
        re.compile(r"^/v1/entitlements/features$"),
        "POST /v1/entitlements/features",
        Store.create_feature_api,
    ),
    Route(
        "GET",
        re.compile(r"^/v1/entitlements/features" + _ID),
        "GET /v1/entitlements/features/{id}",
        Store.retrieve_feature,
    ),
    Route(
        "POST",
        re.compile(r"^/v1/entitlements/features" + _ID),
        "POST /v1/entitlements/features/{id}",
        Store.update_feature_api,
    ),
    Route(
        "GET",
        re.compile(r"^/v1/entitlements/active_entitlements$"),
        "GET /v1/entitlements/active_entitlements",
        Store.list_active_entitlements,
    ),
    Route(
        "GET",
        re.compile(r"^/v1/entitlements/active_entitlements" + _ID),
        "GET /v1/entitlements/active_entitlements/{id}",
        Store.retrieve_active_entitlement,
    ),
    Route(
        "GET",
        re.compile(r"^/v1/checkout/sessions$"),
        "GET /v1/checkout/sessions",
        Store.list_checkout_sessions,
    ),
    Route(
        "POST",
        re.compile(r"^/v1/checkout/sessions$"),
        "POST /v1/checkout/sessions",
        Store.create_checkout_session,
    ),
    Route(
        "GET",
        re.compile(r"^/v1/checkout/sessions/([^/]+)/line_items$"),
        "GET /v1/checkout/sessions/{id}/line_items",
        Store.list_checkout_line_items,
    ),
    Route(
        "POST",
        re.compile(r"^/v1/checkout/sessions/([^/]+)/expire$"),
        "POST /v1/checkout/sessions/{id}/expire",
        Store.expire_checkout_session,
    ),
    Route(
        "GET",
        re.compile(r"^/v1/checkout/sessions" + _ID),
        "GET /v1/checkout/sessions/{id}",
        Store.retrieve_checkout_session,
    ),
    Route("GET", re.compile(r"^/v1/invoices$"), "GET /v1/invoices", Store.list_invoices),
    Route(
        "POST", re.compile(r"^/v1/invoices/([^/]+)/pay$"), "POST /v1/invoices/{id}/pay", Store.pay_invoice_api
    ),
    Route("GET", re.compile(r"^/v1/invoices" + _ID), "GET /v1/invoices/{id}", Store.retrieve_invoice),
]


def match_route(method: str, path: str) -> tuple[Route | None, tuple[str, ...]]:
    for route in ROUTES:
        if route.method == method and (match := route.pattern.match(path)):
            return route, match.groups()
    return None, ()


# ---- parameter checks (Stripe's messages) -------------------------------------


def _allow(params: dict[str, Any], *names: str) -> dict[str, Any]:
    for name in params:
        if name not in names:
            raise obj.unknown_parameter(name)
    return params


def _str(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is not None and not isinstance(value, str):
        raise obj.invalid_parameter(name, f"Invalid string: {value!r}")
    return value


def _metadata(params: dict[str, Any]) -> dict[str, str]:
    value = params.get("metadata")
    if value is None or value == "":
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise obj.invalid_parameter("metadata", "Invalid hash")
    return dict(value)


def _limit(query: dict[str, Any]) -> int:
    raw = query.get("limit", "10")
    if not isinstance(raw, str) or not raw.isdigit():
        raise obj.invalid_parameter("limit", f"Invalid integer: {raw}", code="parameter_invalid_integer")
    if not 1 <= int(raw) <= 100:
        raise obj.invalid_parameter(
            "limit", "This value must be between 1 and 100.", code="parameter_invalid_integer"
        )
    return int(raw)


def _status_matches(status: str, wanted: str | None) -> bool:
    if wanted is None:  # Stripe's default: everything that has not ended
        return status not in _ENDED
    return wanted == "all" or (wanted == "ended" and status in _ENDED) or status == wanted


def _entitlement_id(customer_id: str, feature_id: str) -> str:
    """Stable per customer and feature, like Stripe's."""
    return "ent_test_" + hashlib.sha256(f"{customer_id}/{feature_id}".encode()).hexdigest()[:24]


def _changed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``previous_attributes``: the old values of the top-level fields that changed."""
    return {key: old.get(key) for key in new if old.get(key) != new[key]}


INTERVALS = ("day", "week", "month", "year")
INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")
_DAY = 86_400


def period_end(start: int, interval: str, count: int = 1) -> int:
    """``start`` plus ``count`` intervals, calendar months as Stripe bills them."""
    if interval in ("day", "week"):
        return start + count * (_DAY if interval == "day" else 7 * _DAY)
    months = count * (12 if interval == "year" else 1)
    moment = datetime.fromtimestamp(start, tz=UTC)
    year, month = divmod(moment.month - 1 + months, 12)
    year += moment.year
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return int(moment.replace(year=year, month=month + 1, day=day).timestamp())


def _invoice_subscription(invoice: dict[str, Any]) -> str | None:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    value = details.get("subscription")
    return value if isinstance(value, str) else None


def _newest_first(objects: Any) -> list[dict[str, Any]]:
    return [
        o for _, o in sorted(enumerate(objects), key=lambda pair: (pair[1]["created"], pair[0]), reverse=True)
    ]


def _paginate(matching: list[dict[str, Any]], query: dict[str, Any], url: str) -> dict[str, Any]:
    limit = _limit(query)
    ids = [o.get("id") for o in matching]
    if (after := _str(query, "starting_after")) is not None:
        if after not in ids:
            raise obj.no_such("object", after, param="starting_after", status=400)
        matching = matching[ids.index(after) + 1 :]
    elif (before := _str(query, "ending_before")) is not None:
        if before not in ids:
            raise obj.no_such("object", before, param="ending_before", status=400)
        matching = matching[: ids.index(before)][-limit:]
    return obj.list_object(matching[:limit], url, has_more=len(matching) > limit)


def _created_matches(created: int, query: dict[str, Any]) -> bool:
    value = query.get("created")
    if value is None:
        return True
    if isinstance(value, str):
        return created == _int(query, "created", "created")
    if not isinstance(value, dict):
        raise obj.invalid_parameter("created", "Invalid hash", code="parameter_invalid_object")
    for op in value:
        if op not in ("gt", "gte", "lt", "lte"):
            raise obj.unknown_parameter(f"created[{op}]")
    checks = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
    for op in value:
        bound = _int(value, op, f"created[{op}]")
        if bound is not None and not checks[op](created, bound):
            return False
    return True


def _int(params: Any, name: str, param: str, *, minimum: int | None = None) -> int | None:
    value = params.get(name) if isinstance(params, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not re.fullmatch(r"-?\d+", str(value)):
        raise obj.invalid_parameter(param, f"Invalid integer: {value}", code="parameter_invalid_integer")
    number = int(value)
    if minimum is not None and number < minimum:
        raise obj.invalid_parameter(
            param, f"This value must be greater than or equal to {minimum}.", code="parameter_invalid_integer"
        )
    return number


def _bool(params: dict[str, Any], name: str, default: bool | None) -> bool | None:
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise obj.invalid_parameter(name, f"Invalid boolean: {value}", code="parameter_invalid_boolean")


def _update_metadata(target: dict[str, Any], params: dict[str, Any]) -> None:
    """Stripe's metadata update: merge, an empty value unsets a key, ``metadata=""`` clears all."""
    if "metadata" not in params:
        return
    if params["metadata"] == "":
        target["metadata"] = {}
        return
    metadata = dict(target.get("metadata") or {})
    for key, value in _metadata(params).items():
        if value == "":
            metadata.pop(key, None)
        else:
            metadata[key] = value
    target["metadata"] = metadata


def _check_url(url: str, param: str) -> None:
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise obj.invalid_parameter(param, "Not a valid URL", code="url_invalid")
