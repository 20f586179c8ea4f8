"""Entitlements features and their attachment to products.

``/v1/entitlements/features`` and ``/v1/products/{id}/features`` (``product_feature``
objects). A change here may change what subscribers are entitled to (``entitlements``).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from stripe_standin import core, errors, params
from stripe_standin.core import Call
from stripe_standin.resources import (
    catalogue,
)

if TYPE_CHECKING:
    from stripe_standin.store import Store


def new_feature(
    store: Store, *, name: str, lookup_key: str, metadata: dict[str, str] | None = None, id: str | None = None
) -> dict[str, Any]:
    if any(f["lookup_key"] == lookup_key for f in store.features.values()):
        raise errors.ApiError(
            400,
            f"A feature with the lookup key `{lookup_key}` already exists.",
            code="resource_already_exists",
            param="lookup_key",
        )
    feature_id = id or core.new_id("feat_test", 24)
    if feature_id in store.features:
        raise errors.ApiError(400, "Feature already exists.", code="resource_already_exists", param="id")
    feature = feature_object(
        feature_id=feature_id, name=name, lookup_key=lookup_key, metadata=dict(metadata or {})
    )
    store.features[feature_id] = feature
    return feature


def attach_feature(store: Store, product_id: str, feature_id: str) -> dict[str, Any]:
    if product_id not in store.products:
        raise errors.no_such("product", product_id, param="product", status=404)
    feature = store.features.get(feature_id)
    if feature is None:
        raise errors.no_such("feature", feature_id, param="entitlement_feature", status=400)
    attached = store.product_features.setdefault(product_id, {})
    if any(pf["entitlement_feature"]["id"] == feature_id for pf in attached.values()):
        raise errors.ApiError(
            400,
            f"The feature `{feature_id}` is already attached to product `{product_id}`.",
            code="resource_already_exists",
            param="entitlement_feature",
        )
    pf = product_feature_object(core.new_id("prodft", 24), feature)
    attached[pf["id"]] = pf
    _touch_product(store, product_id)
    return pf


def _touch_product(store: Store, product_id: str) -> None:
    """The product's features changed: its subscribers' entitlements may have too."""
    for subscription in store.subscriptions.values():
        if any(i["price"]["product"] == product_id for i in subscription["items"]["data"]):
            store.dirty.add(subscription["customer"])


def create_feature_api(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(call.params, "name", "lookup_key", "metadata", "expand")
    name, lookup_key = params.str_param(p, "name"), params.str_param(p, "lookup_key")
    if not name:
        raise errors.missing_parameter("name")
    if not lookup_key:
        raise errors.missing_parameter("lookup_key")
    feature = new_feature(store, name=name, lookup_key=lookup_key, metadata=params.metadata_param(p))
    feature["livemode"] = call.livemode
    return feature


def retrieve_feature(store: Store, call: Call) -> dict[str, Any]:
    return _feature_or_404(store, call.args[0])


def update_feature_api(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(call.params, "name", "active", "metadata", "expand")
    feature = _feature_or_404(store, call.args[0])
    if "name" in p:
        feature["name"] = params.str_param(p, "name") or feature["name"]
    if "active" in p:
        feature["active"] = params.bool_param(p, "active", True)
        for product_id, attached in store.product_features.items():
            if any(pf["entitlement_feature"]["id"] == feature["id"] for pf in attached.values()):
                _touch_product(store, product_id)
    params.update_metadata(feature, p)
    _refresh_feature_copies(store, feature)
    return feature


def _refresh_feature_copies(store: Store, feature: dict[str, Any]) -> None:
    for attached in store.product_features.values():
        for pf in attached.values():
            if pf["entitlement_feature"]["id"] == feature["id"]:
                pf["entitlement_feature"] = copy.deepcopy(feature)


def list_features(store: Store, call: Call) -> dict[str, Any]:
    q = params.allow(
        call.query, "lookup_key", "archived", "limit", "starting_after", "ending_before", "expand"
    )
    lookup_key = params.str_param(q, "lookup_key")
    archived = params.bool_param(q, "archived", None)
    matching = [
        f
        for f in reversed(list(store.features.values()))
        if (lookup_key is None or f["lookup_key"] == lookup_key)
        and (archived is None or f["active"] != archived)
    ]
    return params.paginate(matching, q, "/v1/entitlements/features")


def attach_feature_api(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(call.params, "entitlement_feature", "expand")
    catalogue.product_or_404(store, call.args[0])
    feature_id = params.str_param(p, "entitlement_feature")
    if not feature_id:
        raise errors.missing_parameter("entitlement_feature")
    return attach_feature(store, call.args[0], feature_id)


def list_product_features(store: Store, call: Call) -> dict[str, Any]:
    q = params.allow(call.query, "limit", "starting_after", "ending_before", "expand")
    catalogue.product_or_404(store, call.args[0])
    attached = list(store.product_features.get(call.args[0], {}).values())
    return params.paginate(list(reversed(attached)), q, f"/v1/products/{call.args[0]}/features")


def retrieve_product_feature(store: Store, call: Call) -> dict[str, Any]:
    product_id, pf_id = call.args
    catalogue.product_or_404(store, product_id)
    pf = store.product_features.get(product_id, {}).get(pf_id)
    if pf is None:
        raise errors.no_such("product_feature", pf_id, param="id", status=404)
    return pf


def detach_feature_api(store: Store, call: Call) -> dict[str, Any]:
    product_id, pf_id = call.args
    catalogue.product_or_404(store, product_id)
    pf = store.product_features.get(product_id, {}).pop(pf_id, None)
    if pf is None:
        raise errors.no_such("product_feature", pf_id, param="id", status=404)
    _touch_product(store, product_id)
    return {"id": pf_id, "object": "product_feature", "deleted": True}


def _feature_or_404(store: Store, feature_id: str) -> dict[str, Any]:
    return store.found(store.features, "feature", feature_id, param="id")


def feature_object(
    *, feature_id: str, name: str, lookup_key: str, metadata: dict[str, str], livemode: bool = False
) -> dict[str, Any]:
    return {
        "id": feature_id,
        "object": "entitlements.feature",
        "active": True,
        "livemode": livemode,
        "lookup_key": lookup_key,
        "metadata": metadata,
        "name": name,
    }


def product_feature_object(pf_id: str, feature: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": pf_id,
        "object": "product_feature",
        "entitlement_feature": feature,
        "livemode": feature["livemode"],
    }
