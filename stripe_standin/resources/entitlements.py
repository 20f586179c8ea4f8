"""Active entitlements: what each customer's live subscriptions grant.

``/v1/entitlements/active_entitlements`` and the
``entitlements.active_entitlement_summary.updated`` event, sent by ``settle`` once per
request for every customer whose features changed.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from stripe_standin import core, errors, params
from stripe_standin.core import Call

if TYPE_CHECKING:
    from stripe_standin.store import Store


def settle(store: Store) -> None:
    """Announce the entitlements of every customer whose subscriptions or plans changed."""
    dirty, store.dirty = store.dirty, set()
    for customer_id in sorted(dirty):
        entitlements = active_entitlements_for(store, customer_id)
        now_ids = tuple(e["feature"] for e in entitlements)
        before = store.entitled.get(customer_id, ())
        if now_ids == before:
            continue
        store.entitled[customer_id] = now_ids
        previous = [
            active_entitlement_object(_entitlement_id(customer_id, f), store.features[f])
            for f in before
            if f in store.features
        ]
        store.emit(
            "entitlements.active_entitlement_summary.updated",
            entitlement_summary_object(customer_id, entitlements),
            {
                "entitlements": core.list_object(
                    previous, f"/v1/customer/{customer_id}/entitlements", has_more=False
                )
            },
        )


def active_entitlements_for(store: Store, customer_id: str) -> list[dict[str, Any]]:
    """The customer's features through its subscriptions that grant them, in attach order."""
    seen: dict[str, dict[str, Any]] = {}
    for subscription in store.subscriptions.values():
        if subscription["customer"] != customer_id or subscription["status"] not in core.ENTITLED_STATUSES:
            continue
        for item in subscription["items"]["data"]:
            for pf in store.product_features.get(item["price"]["product"], {}).values():
                feature = store.features.get(pf["entitlement_feature"]["id"])
                if feature is not None and feature["active"]:
                    seen.setdefault(feature["id"], feature)
    return [active_entitlement_object(_entitlement_id(customer_id, f), seen[f]) for f in seen]


def list_active_entitlements(store: Store, call: Call) -> dict[str, Any]:
    q = params.allow(call.query, "customer", "limit", "starting_after", "ending_before", "expand")
    customer_id = params.str_param(q, "customer")
    if not customer_id:
        raise errors.missing_parameter("customer")
    if customer_id not in store.customers:
        raise errors.no_such("customer", customer_id, param="customer", status=400)
    page = params.paginate(
        active_entitlements_for(store, customer_id), q, "/v1/entitlements/active_entitlements"
    )
    return store.expand(page, q)


def retrieve_active_entitlement(store: Store, call: Call) -> dict[str, Any]:
    for customer_id in store.customers:
        for entitlement in active_entitlements_for(store, customer_id):
            if entitlement["id"] == call.args[0]:
                return store.expand(entitlement, call.query)
    raise errors.no_such("active_entitlement", call.args[0], param="id", status=404)


def _entitlement_id(customer_id: str, feature_id: str) -> str:
    """Stable per customer and feature, like Stripe's."""
    return "ent_test_" + hashlib.sha256(f"{customer_id}/{feature_id}".encode()).hexdigest()[:24]


def active_entitlement_object(ent_id: str, feature: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": ent_id,
        "object": "entitlements.active_entitlement",
        "feature": feature["id"],
        "livemode": feature["livemode"],
        "lookup_key": feature["lookup_key"],
    }


def entitlement_summary_object(customer: str, entitlements: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "entitlements.active_entitlement_summary",
        "customer": customer,
        "entitlements": {
            "object": "list",
            "data": entitlements,
            "has_more": False,
            "url": f"/v1/customer/{customer}/entitlements",
        },
        "livemode": False,
    }
