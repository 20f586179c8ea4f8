"""The stand-in's in-memory Stripe objects and its /v1/ endpoints.

``Store`` knows nothing about HTTP, threads, faults or idempotency: the server
(``stripe_standin.server``) calls it with its one lock held, passing a ``Call``
(the decoded request). Endpoints return a JSON-able dict or raise ``ApiError``.
"""

from __future__ import annotations

import copy
import html
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from stripe_standin import objects as obj
from stripe_standin.objects import ApiError

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

    @property
    def livemode(self) -> bool:
        return "_live_" in self.api_key


class Store:
    """Customers, products, subscriptions and portal sessions. Not thread-safe."""

    def __init__(self) -> None:
        self.customers: dict[str, dict[str, Any]] = {}  # deleted ones stay here...
        self.deleted: set[str] = set()  # ...and are listed here
        self.products: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.subscription_specs: dict[str, dict[str, Any]] = {}  # the fixture fields
        self.portal_sessions: dict[str, dict[str, Any]] = {}  # by URL token
        self.portal_configured = True
        self.portal_configuration = obj.new_id("bpc", 24)

    # ---- fixtures ----------------------------------------------------------

    def put_customer(self, customer: dict[str, Any]) -> dict[str, Any]:
        self.customers[customer["id"]] = customer
        self.deleted.discard(customer["id"])
        return customer

    def delete_customer(self, customer_id: str) -> None:
        """Like Stripe: the customer's live subscriptions are canceled too."""
        self.deleted.add(customer_id)
        for spec in list(self.subscription_specs.values()):
            if spec["customer"] == customer_id and spec["status"] not in _ENDED:
                self.put_subscription({**spec, "status": "canceled", "canceled_at": obj.now()})

    def live_customer(self, customer_id: str) -> dict[str, Any] | None:
        return None if customer_id in self.deleted else self.customers.get(customer_id)

    def put_product(self, product_id: str, name: str | None) -> None:
        if name is not None or product_id not in self.products:
            self.products[product_id] = obj.product_object(product_id, name or product_id)

    def put_subscription(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Build (or rebuild) a subscription object from its fixture fields."""
        if spec["customer"] not in self.customers:
            raise KeyError(f"No such customer: {spec['customer']!r}")
        if spec["status"] not in SUBSCRIPTION_STATUSES:
            raise ValueError(f"status must be one of {', '.join(SUBSCRIPTION_STATUSES)}")
        if spec["status"] == "canceled" and spec["canceled_at"] is None:
            spec["canceled_at"] = obj.now()
        self.put_product(spec["product"], spec.pop("product_name", None))
        price = obj.price_object(
            price_id=spec["price_id"],
            product=spec["product"],
            nickname=spec["nickname"],
            unit_amount=int(spec["unit_amount"]),
            currency=spec["currency"],
            interval=spec["interval"],
        )
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
        )
        self.subscription_specs[spec["id"]] = spec
        self.subscriptions[spec["id"]] = subscription
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
        flow_data = p.get("flow_data")
        token = "test_" + secrets.token_urlsafe(24)
        session = {
            "id": obj.new_id("bps", 24),
            "object": "billing_portal.session",
            "configuration": configuration or self.portal_configuration,
            "created": obj.now(),
            "customer": customer_id,
            "flow": {"after_completion": {"type": "portal_homepage"}, **flow_data}
            if isinstance(flow_data, dict)
            else None,
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

    # ---- endpoint helpers ------------------------------------------------------

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
            else:
                raise cannot
            node[key] = value = copy.deepcopy(value)
        if rest:
            self._expand_path(value, rest, full)

    # ---- the hosted portal page ------------------------------------------------

    def portal_page(self, token: str) -> str | None:
        """HTML for GET /p/session/{token}, or None for an unknown token."""
        session = self.portal_sessions.get(token)
        if session is None:
            return None
        esc = html.escape
        customer = self.customers.get(session["customer"], {})
        who = customer.get("name") or customer.get("email") or "(no name)"
        rows = (
            "".join(
                f"<li><code>{esc(s['id'])}</code>: {esc(s['status'])}"
                f"{' (cancels at period end)' if s['cancel_at_period_end'] else ''}, "
                f"{esc(_price_label(s['items']['data'][0]['price']))}</li>"
                for s in self.subscriptions.values()
                if s["customer"] == session["customer"]
            )
            or "<li>No subscriptions.</li>"
        )
        return_url = session["return_url"]
        link = (
            (
                f'<p><a id="return-link" href="{esc(return_url)}">Return to '
                f"{esc(urlsplit(return_url).netloc or return_url)}</a></p>"
            )
            if return_url
            else ""
        )
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Stripe billing portal (local stand-in)</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}}
.note{{color:#697386}}</style></head>
<body><h1>Stripe billing portal (local stand-in)</h1>
<p>Customer: <strong id="customer-name">{esc(who)}</strong>
(<code id="customer-id">{esc(session["customer"])}</code>)</p>
<h2>Subscriptions</h2><ul id="subscriptions">{rows}</ul>
<p class="note">This page stands in for Stripe's hosted customer portal; nothing here talks to Stripe.</p>
{link}</body></html>
"""


class Route(NamedTuple):
    method: str
    pattern: re.Pattern[str]
    label: str  # e.g. "GET /v1/customers/{id}", used in stats
    endpoint: Callable[[Store, Call], dict[str, Any]]


_ID = r"/([^/]+)$"
ROUTES = [
    Route("POST", re.compile(r"^/v1/customers$"), "POST /v1/customers", Store.create_customer),
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
        "GET",
        re.compile(r"^/v1/subscriptions" + _ID),
        "GET /v1/subscriptions/{id}",
        Store.retrieve_subscription,
    ),
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


def _price_label(price: dict[str, Any]) -> str:
    return str(price["nickname"] or price["id"])


def _status_matches(status: str, wanted: str | None) -> bool:
    if wanted is None:  # Stripe's default: everything that has not ended
        return status not in _ENDED
    return wanted == "all" or (wanted == "ended" and status in _ENDED) or status == wanted
