"""Customers (and the account a key reaches): ``/v1/customers``, ``/v1/account``.

Deleted customers stay in the store, answered as Stripe's ``{"deleted": true}`` stub. A
customer's default card (what Checkout and the portal leave behind) is kept here too.
"""

from __future__ import annotations

import copy
import string
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from stripe_standin import core, errors, params
from stripe_standin.core import Call
from stripe_standin.resources import (
    entitlements,
    subscriptions,
)

if TYPE_CHECKING:
    from stripe_standin.store import Store


def put_customer(store: Store, customer: dict[str, Any]) -> dict[str, Any]:
    new = customer["id"] not in store.customers or customer["id"] in store.deleted
    store.customers[customer["id"]] = customer
    store.deleted.discard(customer["id"])
    if new:
        store.emit("customer.created", customer)
    return customer


def delete_customer(store: Store, customer_id: str) -> None:
    """Like Stripe: the customer's live subscriptions are canceled too."""
    store.deleted.add(customer_id)
    for spec in list(store.subscription_specs.values()):
        if spec["customer"] == customer_id and spec["status"] not in core.ENDED:
            subscriptions.put_subscription(store, {**spec, "status": "canceled", "canceled_at": core.now()})
    entitlements.settle(store)  # its entitlements end before the customer does
    store.emit("customer.deleted", store.customers[customer_id])


def create_customer(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(call.params, "name", "email", "description", "phone", "metadata", "test_clock", "expand")
    clock_id = params.str_param(p, "test_clock")
    if clock_id is not None and clock_id not in store.test_clocks:
        raise errors.no_such("test_clock", clock_id, param="test_clock", status=400)
    customer = customer_object(
        id=core.new_id("cus"),
        name=params.str_param(p, "name"),
        email=params.str_param(p, "email"),
        description=params.str_param(p, "description"),
        phone=params.str_param(p, "phone"),
        metadata=params.metadata_param(p),
        livemode=call.livemode,
    )
    if clock_id is not None:
        customer["test_clock"] = clock_id
        customer["created"] = int(store.test_clocks[clock_id]["frozen_time"])
    return put_customer(store, customer)


def retrieve_account(store: Store, call: Call) -> dict[str, Any]:
    """`GET /v1/account`: the account the key belongs to."""
    return {
        "id": store.account_id,
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


def list_customers(store: Store, call: Call) -> dict[str, Any]:
    """`GET /v1/customers`: newest first, `limit` (at most 100) a page, `starting_after` /
    `ending_before` cursors; deleted customers are not listed, as at Stripe."""
    q = params.allow(call.query, "limit", "starting_after", "ending_before", "email", "created", "expand")
    email = params.str_param(q, "email")
    order, place = store.customers_newest_first()

    def matching(ids: Iterable[str]) -> Iterator[dict[str, Any]]:
        for customer_id in ids:
            c = store.customers[customer_id]
            if (
                customer_id not in store.deleted
                and (email is None or c.get("email") == email)
                and params.created_matches(c["created"], q)
            ):
                yield c

    return store.expand(params.page_in_order(order, place, matching, q, "/v1/customers"), q)


def retrieve_customer(store: Store, call: Call) -> dict[str, Any]:
    (customer_id,) = call.args
    if customer_id in store.deleted:
        return deleted_customer(customer_id)  # real Stripe answers 200 with the stub
    return customer_or_404(store, customer_id)


def update_customer(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(call.params, "name", "email", "description", "phone", "metadata", "expand")
    customer = customer_or_404(store, call.args[0], live=True)
    for name in ("name", "email", "description", "phone"):
        if name in p:
            customer[name] = params.str_param(p, name) or None
    if p.get("metadata") == "":
        customer["metadata"] = {}
    for key, value in params.metadata_param(p).items():  # an empty value unsets the key
        if value == "":
            customer["metadata"].pop(key, None)
        else:
            customer["metadata"][key] = value
    store.emit("customer.updated", customer)
    return customer


def delete_customer_api(store: Store, call: Call) -> dict[str, Any]:
    (customer_id,) = call.args
    customer_or_404(store, customer_id, live=True)
    delete_customer(store, customer_id)
    return deleted_customer(customer_id)


def save_card(store: Store, customer_id: str, *, declines: bool = False) -> str:
    """A new default card for the customer (what Checkout and "update card" leave behind);
    with `declines`, a card that attaches but whose charges fail (Stripe's 4000 0000 0000 0341)."""
    pm_id = core.new_id("pm", 24)
    if declines:
        store.declining_cards.add(pm_id)
    store.payment_methods[customer_id] = pm_id
    customer = store.customers[customer_id]
    before = copy.deepcopy(customer["invoice_settings"])
    customer["invoice_settings"]["default_payment_method"] = pm_id
    store.emit("customer.updated", customer, {"invoice_settings": before})
    return pm_id


def customer_or_404(store: Store, customer_id: str, *, live: bool = False) -> dict[str, Any]:
    customer = store.live_customer(customer_id) if live else store.customers.get(customer_id)
    if customer is None:
        raise errors.no_such("customer", customer_id, param="id", status=404)
    return customer


def customer_object(
    *,
    id: str,
    name: str | None,
    email: str | None,
    description: str | None,
    phone: str | None,
    metadata: dict[str, str],
    livemode: bool,
) -> dict[str, Any]:
    return {
        "id": id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": core.now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": description,
        "discount": None,
        "email": email,
        "invoice_prefix": core.random_text(string.ascii_uppercase + string.digits, 8),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": livemode,
        "metadata": metadata,
        "name": name,
        "next_invoice_sequence": 1,
        "phone": phone,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def deleted_customer(customer_id: str) -> dict[str, Any]:
    return {"id": customer_id, "object": "customer", "deleted": True}
