"""Products and prices: ``/v1/products``, ``/v1/prices``.

Prices are immutable but for ``active``, ``nickname``, ``lookup_key`` and ``metadata``, as at
Stripe; a lookup key moves to a new price only with ``transfer_lookup_key``.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

from stripe_standin import core, errors, params
from stripe_standin.core import Call

if TYPE_CHECKING:
    from stripe_standin.store import Store


def put_product(store: Store, product_id: str, name: str | None) -> None:
    if name is not None or product_id not in store.products:
        old = store.products.get(product_id)
        store.products[product_id] = product = product_object(product_id, name or product_id)
        if old is None:
            store.emit("product.created", product)
        else:
            product["created"] = old["created"]
            if old["name"] != product["name"]:
                store.emit("product.updated", product, {"name": old["name"]})


def new_product(
    store: Store,
    *,
    name: str,
    id: str | None = None,
    active: bool = True,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    livemode: bool = False,
) -> dict[str, Any]:
    product_id = id or core.new_id("prod")
    if product_id in store.products:
        raise errors.ApiError(400, "Product already exists.", code="resource_already_exists", param="id")
    product = product_object(
        product_id, name, active=active, description=description, metadata=metadata, livemode=livemode
    )
    store.products[product_id] = product
    store.emit("product.created", product)
    return product


def new_price(
    store: Store,
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
    if product not in store.products:
        raise errors.no_such("product", product, param="product", status=400)
    price_id = id or core.new_id("price", 24)
    if price_id in store.prices:
        raise errors.ApiError(400, "Price already exists.", code="resource_already_exists", param="id")
    _claim_lookup_key(store, lookup_key, transfer_lookup_key, price_id)
    price = price_object(
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
    store.prices[price_id] = price
    store.emit("price.created", price)
    return price


def _claim_lookup_key(store: Store, lookup_key: str | None, transfer: bool, price_id: str) -> None:
    if lookup_key is None:
        return
    holder = next(
        (p for p in store.prices.values() if p["lookup_key"] == lookup_key and p["id"] != price_id), None
    )
    if holder is None:
        return
    if not transfer:
        raise errors.ApiError(
            400,
            f"A price (`{holder['id']}`) already uses that lookup key.",
            code="lookup_key_already_exists",
            param="lookup_key",
        )
    holder["lookup_key"] = None
    store.emit("price.updated", holder, {"lookup_key": lookup_key})


def recurring_price(store: Store, price_id: str, param: str) -> dict[str, Any]:
    price = store.prices.get(price_id)
    if price is None:
        raise errors.no_such("price", price_id, param=param, status=400)
    if not price["active"]:
        raise errors.invalid_parameter(
            param, "The price specified is inactive. This field only accepts active prices."
        )
    if price["type"] != "recurring":
        raise errors.invalid_parameter(
            param,
            "The price specified is set to `type=one_time` but this field only accepts prices with "
            "`type=recurring`.",
        )
    return price


def create_product_api(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(
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
    name = params.str_param(p, "name")
    if not name:
        raise errors.missing_parameter("name")
    if "default_price_data" in p:
        raise errors.invalid_parameter(
            "default_price_data", "The stand-in does not support default_price_data."
        )
    product = new_product(
        store,
        name=name,
        id=params.str_param(p, "id"),
        active=bool(params.bool_param(p, "active", True)),
        description=params.str_param(p, "description"),
        metadata=params.metadata_param(p),
        livemode=call.livemode,
    )
    return product


def retrieve_product(store: Store, call: Call) -> dict[str, Any]:
    return store.expand(product_or_404(store, call.args[0]), call.query)


def update_product_api(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(
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
    product = product_or_404(store, call.args[0])
    before = copy.deepcopy(product)
    if "name" in p:
        name = params.str_param(p, "name")
        if not name:
            raise errors.invalid_parameter(
                "name",
                "You passed an empty string for 'name'. We assume empty "
                "values are an attempt to unset a parameter; however 'name' "
                "cannot be unset. You should remove 'name' from your request "
                "or supply a non-empty value.",
                code="parameter_invalid_empty",
            )
        product["name"] = name
    if "active" in p:
        product["active"] = params.bool_param(p, "active", True)
    if "description" in p:
        product["description"] = params.str_param(p, "description") or None
    if "default_price" in p:
        default = params.str_param(p, "default_price") or None
        if default is not None and store.prices.get(default, {}).get("product") != product["id"]:
            raise errors.no_such("price", default, param="default_price", status=400)
        product["default_price"] = default
    params.update_metadata(product, p)
    if previous := params.changed(before, product):
        product["updated"] = core.now()
        previous["updated"] = before["updated"]
        store.emit("product.updated", product, previous)
    return product


def list_products(store: Store, call: Call) -> dict[str, Any]:
    q = params.allow(
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
    active = params.bool_param(q, "active", None)
    ids = q.get("ids")
    matching = [
        product
        for product in params.newest_first(store.products.values())
        if (active is None or product["active"] == active)
        and (not isinstance(ids, list) or product["id"] in ids)
        and params.created_matches(product["created"], q)
    ]
    return store.expand(params.paginate(matching, q, "/v1/products"), q)


def create_price_api(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(
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
    currency = params.str_param(p, "currency")
    if not currency:
        raise errors.missing_parameter("currency")
    if not re.fullmatch(r"[a-zA-Z]{3}", currency):
        raise errors.invalid_parameter("currency", f"Invalid currency: {currency.lower()}.")
    product_id = params.str_param(p, "product")
    if product_id is None:
        data = p.get("product_data")
        if not isinstance(data, dict):
            raise errors.missing_parameter("product")
        name = params.str_param(data, "name")
        if not name:
            raise errors.missing_parameter("product_data[name]")
        product_id = new_product(store, name=name, livemode=call.livemode)["id"]
    elif product_id not in store.products:
        raise errors.no_such("product", product_id, param="product", status=400)
    amount = params.int_param(p, "unit_amount", "unit_amount", minimum=0)
    if amount is None and (decimal := params.str_param(p, "unit_amount_decimal")) is not None:
        if not re.fullmatch(r"\d+", decimal):
            raise errors.invalid_parameter("unit_amount_decimal", "The stand-in only takes whole amounts.")
        amount = int(decimal)
    if amount is None:
        raise errors.missing_parameter("unit_amount")
    interval, count = None, 1
    recurring = p.get("recurring")
    if recurring is not None:
        if not isinstance(recurring, dict):
            raise errors.invalid_parameter("recurring", "Invalid hash", code="parameter_invalid_object")
        for name in recurring:
            if name not in ("interval", "interval_count", "usage_type", "meter", "trial_period_days"):
                raise errors.unknown_parameter(f"recurring[{name}]")
        interval = params.str_param(recurring, "interval")
        if not interval:
            raise errors.missing_parameter("recurring[interval]")
        if interval not in core.INTERVALS:
            raise errors.invalid_parameter(
                "recurring[interval]",
                "Invalid recurring[interval]: must be one of day, month, week, or year",
            )
        count = params.int_param(recurring, "interval_count", "recurring[interval_count]", minimum=1) or 1
        if count * {"day": 1, "week": 7, "month": 30, "year": 365}[interval] > 3 * 366:
            raise errors.invalid_parameter(
                "recurring[interval_count]", "The maximum billing frequency is 3 years (36 months)."
            )
    return new_price(
        store,
        product=product_id,
        unit_amount=amount,
        currency=currency.lower(),
        interval=interval,
        interval_count=count,
        lookup_key=params.str_param(p, "lookup_key"),
        transfer_lookup_key=bool(params.bool_param(p, "transfer_lookup_key", False)),
        nickname=params.str_param(p, "nickname"),
        active=bool(params.bool_param(p, "active", True)),
        metadata=params.metadata_param(p),
        livemode=call.livemode,
    )


def retrieve_price(store: Store, call: Call) -> dict[str, Any]:
    return store.expand(_price_or_404(store, call.args[0]), call.query)


def update_price_api(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(
        call.params,
        "active",
        "nickname",
        "metadata",
        "lookup_key",
        "transfer_lookup_key",
        "tax_behavior",
        "expand",
    )
    price = _price_or_404(store, call.args[0])
    before = copy.deepcopy(price)
    if "lookup_key" in p:
        key = params.str_param(p, "lookup_key") or None
        _claim_lookup_key(store, key, bool(params.bool_param(p, "transfer_lookup_key", False)), price["id"])
        price["lookup_key"] = key
    if "active" in p:
        price["active"] = params.bool_param(p, "active", True)
    if "nickname" in p:
        price["nickname"] = params.str_param(p, "nickname") or None
    params.update_metadata(price, p)
    if previous := params.changed(before, price):
        store.emit("price.updated", price, previous)
    return price


def list_prices(store: Store, call: Call) -> dict[str, Any]:
    q = params.allow(
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
    active = params.bool_param(q, "active", None)
    product, currency, kind = (
        params.str_param(q, "product"),
        params.str_param(q, "currency"),
        params.str_param(q, "type"),
    )
    if kind is not None and kind not in ("one_time", "recurring"):
        raise errors.invalid_parameter("type", "Invalid type: must be one of one_time or recurring")
    lookup_keys = q.get("lookup_keys")
    recurring: dict[str, Any] = q["recurring"] if isinstance(q.get("recurring"), dict) else {}
    matching = [
        price
        for price in params.newest_first(store.prices.values())
        if price["id"] not in store.fixture_prices
        and (active is None or price["active"] == active)
        and (product is None or price["product"] == product)
        and (currency is None or price["currency"] == currency.lower())
        and (kind is None or price["type"] == kind)
        and (not isinstance(lookup_keys, list) or price["lookup_key"] in lookup_keys)
        and (
            not recurring.get("interval")
            or (price["recurring"] or {}).get("interval") == recurring["interval"]
        )
        and params.created_matches(price["created"], q)
    ]
    return store.expand(params.paginate(matching, q, "/v1/prices"), q)


def product_or_404(store: Store, product_id: str) -> dict[str, Any]:
    return store.found(store.products, "product", product_id, param="id")


def _price_or_404(store: Store, price_id: str) -> dict[str, Any]:
    return store.found(store.prices, "price", price_id, param="price")


def product_object(
    product_id: str,
    name: str,
    *,
    active: bool = True,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    livemode: bool = False,
    created: int | None = None,
) -> dict[str, Any]:
    created = created or core.now()
    return {
        "id": product_id,
        "object": "product",
        "active": active,
        "created": created,
        "default_price": None,
        "description": description,
        "images": [],
        "livemode": livemode,
        "marketing_features": [],
        "metadata": metadata or {},
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": created,
        "url": None,
    }


def price_object(
    *,
    price_id: str,
    product: str,
    nickname: str | None,
    unit_amount: int,
    currency: str,
    interval: str | None,
    interval_count: int = 1,
    lookup_key: str | None = None,
    active: bool = True,
    metadata: dict[str, str] | None = None,
    livemode: bool = False,
) -> dict[str, Any]:
    """``interval=None`` makes a one-time price."""
    return {
        "id": price_id,
        "object": "price",
        "active": active,
        "billing_scheme": "per_unit",
        "created": core.now(),
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": livemode,
        "lookup_key": lookup_key,
        "metadata": metadata or {},
        "nickname": nickname,
        "product": product,
        "recurring": None
        if interval is None
        else {
            "interval": interval,
            "interval_count": interval_count,
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        },
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time" if interval is None else "recurring",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }
