"""The catalogue's calls, for `billing_setup`: products, prices, Entitlements features, their
attachments, the customer portal configuration, coupons and promotion codes, read in full and
written one object a call.

Every call goes through `sync_call`: the command runs in the foreground, so it keeps to
`STRIPE_SYNC_RATE` and waits out Stripe's 429 instead of giving up. Every write carries an
idempotency key (`_idempotent`) the caller derives from what it writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import stripe

from billing.stripe_gateway.calls import _idempotent
from billing.stripe_gateway.connection import client
from billing.stripe_gateway.resilience import sync_call

# Stripe takes at most 10 lookup keys in one price list.
_LOOKUP_KEYS_PER_CALL = 10


@dataclass(frozen=True)
class CatalogueProduct:
    id: str
    name: str
    description: str
    active: bool
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CataloguePrice:
    id: str
    product: str
    active: bool
    lookup_key: str
    nickname: str
    unit_amount: int
    currency: str
    interval: str  # "" for a one-time price
    interval_count: int
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CatalogueFeature:
    id: str
    lookup_key: str
    name: str
    active: bool
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProductFeatureLink:
    """A feature attached to a product (a `product_feature`)."""

    id: str
    feature_id: str


@dataclass(frozen=True)
class PortalConfiguration:
    id: str
    active: bool
    is_default: bool
    metadata: dict[str, str]
    features: dict[str, Any]  # as Stripe renders `features`


def _strings(metadata: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (metadata or {}).items()}


def catalogue_product_from_dict(data: Mapping[str, Any]) -> CatalogueProduct:
    return CatalogueProduct(
        id=str(data["id"]),
        name=str(data.get("name") or ""),
        description=str(data.get("description") or ""),
        active=bool(data.get("active")),
        metadata=_strings(data.get("metadata")),
    )


def catalogue_price_from_dict(data: Mapping[str, Any]) -> CataloguePrice:
    recurring = data.get("recurring") or {}
    product = data.get("product")
    return CataloguePrice(
        id=str(data["id"]),
        product=str(product["id"] if isinstance(product, Mapping) else product),
        active=bool(data.get("active")),
        lookup_key=str(data.get("lookup_key") or ""),
        nickname=str(data.get("nickname") or ""),
        unit_amount=int(data.get("unit_amount") or 0),
        currency=str(data.get("currency") or ""),
        interval=str(recurring.get("interval") or ""),
        interval_count=int(recurring.get("interval_count") or 1),
        metadata=_strings(data.get("metadata")),
    )


def catalogue_feature_from_dict(data: Mapping[str, Any]) -> CatalogueFeature:
    return CatalogueFeature(
        id=str(data["id"]),
        lookup_key=str(data.get("lookup_key") or ""),
        name=str(data.get("name") or ""),
        active=bool(data.get("active", True)),
        metadata=_strings(data.get("metadata")),
    )


def portal_configuration_from_dict(data: Mapping[str, Any]) -> PortalConfiguration:
    return PortalConfiguration(
        id=str(data["id"]),
        active=bool(data.get("active")),
        is_default=bool(data.get("is_default")),
        metadata=_strings(data.get("metadata")),
        features=dict(data.get("features") or {}),
    )


# ---- reads ---------------------------------------------------------------------------


def catalogue_products_list(*, ids: Iterable[str]) -> list[CatalogueProduct]:
    """The products among `ids` that exist, archived ones included."""
    wanted = list(ids)
    if not wanted:
        return []

    def fetch() -> list[CatalogueProduct]:
        page = client().v1.products.list({"ids": wanted, "limit": 100})
        return [catalogue_product_from_dict(p.to_dict()) for p in page.auto_paging_iter()]

    return sync_call("products.list", fetch)


def catalogue_prices_list(*, lookup_keys: Iterable[str] = (), product: str = "") -> list[CataloguePrice]:
    """Prices holding any of `lookup_keys` (active or archived), or the active prices of
    `product`: every page."""
    if product:

        def fetch_product() -> list[CataloguePrice]:
            page = client().v1.prices.list({"product": product, "active": True, "limit": 100})
            return [catalogue_price_from_dict(p.to_dict()) for p in page.auto_paging_iter()]

        return sync_call("prices.list", fetch_product)
    keys = list(lookup_keys)
    found: list[CataloguePrice] = []
    for start in range(0, len(keys), _LOOKUP_KEYS_PER_CALL):
        chunk = keys[start : start + _LOOKUP_KEYS_PER_CALL]

        def fetch_keys(chunk: list[str] = chunk) -> list[CataloguePrice]:
            page = client().v1.prices.list({"lookup_keys": chunk, "limit": 100})
            return [catalogue_price_from_dict(p.to_dict()) for p in page.auto_paging_iter()]

        found.extend(sync_call("prices.list", fetch_keys))
    return found


def catalogue_features_list() -> list[CatalogueFeature]:
    """Every Entitlements feature of the account, archived ones included."""

    def fetch() -> list[CatalogueFeature]:
        page = client().v1.entitlements.features.list({"limit": 100})
        return [catalogue_feature_from_dict(f.to_dict()) for f in page.auto_paging_iter()]

    return sync_call("entitlements.features.list", fetch)


def product_feature_links_list(*, product_id: str) -> list[ProductFeatureLink]:
    def fetch() -> list[ProductFeatureLink]:
        page = client().v1.products.features.list(product_id, {"limit": 100})
        return [
            ProductFeatureLink(id=str(pf.id), feature_id=str(pf.to_dict()["entitlement_feature"]["id"]))
            for pf in page.auto_paging_iter()
        ]

    return sync_call("products.features.list", fetch)


def portal_configurations_list() -> list[PortalConfiguration]:
    """The account's active portal configurations."""

    def fetch() -> list[PortalConfiguration]:
        page = client().v1.billing_portal.configurations.list({"active": True, "limit": 100})
        return [portal_configuration_from_dict(c.to_dict()) for c in page.auto_paging_iter()]

    return sync_call("billing_portal.configurations.list", fetch)


# ---- writes --------------------------------------------------------------------------


def catalogue_product_create(*, params: Mapping[str, Any], idempotency_key: str) -> CatalogueProduct:
    def write() -> CatalogueProduct:
        product = client().v1.products.create(dict(params), _idempotent(idempotency_key))  # type: ignore[arg-type]
        return catalogue_product_from_dict(product.to_dict())

    return sync_call("products.create", write)


def catalogue_product_update(
    *, product_id: str, params: Mapping[str, Any], idempotency_key: str
) -> CatalogueProduct:
    def write() -> CatalogueProduct:
        product = client().v1.products.update(product_id, dict(params), _idempotent(idempotency_key))  # type: ignore[arg-type]
        return catalogue_product_from_dict(product.to_dict())

    return sync_call("products.update", write)


def catalogue_price_create(*, params: Mapping[str, Any], idempotency_key: str) -> CataloguePrice:
    def write() -> CataloguePrice:
        price = client().v1.prices.create(dict(params), _idempotent(idempotency_key))  # type: ignore[arg-type]
        return catalogue_price_from_dict(price.to_dict())

    return sync_call("prices.create", write)


def catalogue_price_update(
    *, price_id: str, params: Mapping[str, Any], idempotency_key: str
) -> CataloguePrice:
    def write() -> CataloguePrice:
        price = client().v1.prices.update(price_id, dict(params), _idempotent(idempotency_key))  # type: ignore[arg-type]
        return catalogue_price_from_dict(price.to_dict())

    return sync_call("prices.update", write)


def catalogue_feature_create(*, params: Mapping[str, Any], idempotency_key: str) -> CatalogueFeature:
    def write() -> CatalogueFeature:
        feature = client().v1.entitlements.features.create(dict(params), _idempotent(idempotency_key))  # type: ignore[arg-type]
        return catalogue_feature_from_dict(feature.to_dict())

    return sync_call("entitlements.features.create", write)


def catalogue_feature_update(
    *, feature_id: str, params: Mapping[str, Any], idempotency_key: str
) -> CatalogueFeature:
    def write() -> CatalogueFeature:
        feature = client().v1.entitlements.features.update(
            feature_id,
            dict(params),  # type: ignore[arg-type]
            _idempotent(idempotency_key),
        )
        return catalogue_feature_from_dict(feature.to_dict())

    return sync_call("entitlements.features.update", write)


def product_feature_attach(*, product_id: str, feature_id: str, idempotency_key: str) -> ProductFeatureLink:
    def write() -> ProductFeatureLink:
        pf = client().v1.products.features.create(
            product_id, {"entitlement_feature": feature_id}, _idempotent(idempotency_key)
        )
        return ProductFeatureLink(id=str(pf.id), feature_id=feature_id)

    return sync_call("products.features.create", write)


def product_feature_detach(*, product_id: str, link_id: str) -> None:
    """Detach a feature from a product (the feature itself stays)."""

    def write() -> None:
        client().v1.products.features.delete(product_id, link_id)

    sync_call("products.features.delete", write)


def portal_configuration_create(*, params: Mapping[str, Any], idempotency_key: str) -> PortalConfiguration:
    def write() -> PortalConfiguration:
        configuration = client().v1.billing_portal.configurations.create(
            dict(params),  # type: ignore[arg-type]
            _idempotent(idempotency_key),
        )
        return portal_configuration_from_dict(configuration.to_dict())

    return sync_call("billing_portal.configurations.create", write)


def portal_configuration_update(
    *, configuration_id: str, params: Mapping[str, Any], idempotency_key: str
) -> PortalConfiguration:
    def write() -> PortalConfiguration:
        configuration = client().v1.billing_portal.configurations.update(
            configuration_id,
            dict(params),  # type: ignore[arg-type]
            _idempotent(idempotency_key),
        )
        return portal_configuration_from_dict(configuration.to_dict())

    return sync_call("billing_portal.configurations.update", write)


@dataclass(frozen=True)
class CatalogueCoupon:
    id: str
    percent_off: float | None
    amount_off: int | None
    currency: str
    duration: str
    duration_in_months: int | None


@dataclass(frozen=True)
class CataloguePromotionCode:
    id: str
    code: str
    coupon: str
    active: bool


def _coupon_from_dict(data: Mapping[str, Any]) -> CatalogueCoupon:
    percent = data.get("percent_off")
    return CatalogueCoupon(
        id=str(data["id"]),
        percent_off=float(percent) if percent is not None else None,
        amount_off=data.get("amount_off"),
        currency=str(data.get("currency") or ""),
        duration=str(data.get("duration") or ""),
        duration_in_months=data.get("duration_in_months"),
    )


def _promotion_code_from_dict(data: Mapping[str, Any]) -> CataloguePromotionCode:
    promotion = data.get("promotion") or {}
    coupon = promotion.get("coupon")
    return CataloguePromotionCode(
        id=str(data["id"]),
        code=str(data.get("code") or ""),
        coupon=str(coupon["id"] if isinstance(coupon, Mapping) else coupon or ""),
        active=bool(data.get("active")),
    )


def catalogue_coupon_retrieve(*, coupon_id: str) -> CatalogueCoupon | None:
    """The coupon, or None when the account has none of that id."""

    def fetch() -> CatalogueCoupon | None:
        try:
            return _coupon_from_dict(client().v1.coupons.retrieve(coupon_id).to_dict())
        except stripe.InvalidRequestError as e:
            if e.code == "resource_missing":
                return None
            raise

    return sync_call("coupons.retrieve", fetch)


def catalogue_promotion_codes_list(*, code: str) -> list[CataloguePromotionCode]:
    """The active promotion codes spelled `code`."""

    def fetch() -> list[CataloguePromotionCode]:
        page = client().v1.promotion_codes.list({"code": code, "active": True, "limit": 100})
        return [_promotion_code_from_dict(p.to_dict()) for p in page.auto_paging_iter()]

    return sync_call("promotion_codes.list", fetch)


def catalogue_coupon_create(*, params: Mapping[str, Any], idempotency_key: str) -> CatalogueCoupon:
    def write() -> CatalogueCoupon:
        coupon = client().v1.coupons.create(dict(params), _idempotent(idempotency_key))  # type: ignore[arg-type]
        return _coupon_from_dict(coupon.to_dict())

    return sync_call("coupons.create", write)


def catalogue_promotion_code_create(
    *, params: Mapping[str, Any], idempotency_key: str
) -> CataloguePromotionCode:
    def write() -> CataloguePromotionCode:
        made = client().v1.promotion_codes.create(dict(params), _idempotent(idempotency_key))  # type: ignore[arg-type]
        return _promotion_code_from_dict(made.to_dict())

    return sync_call("promotion_codes.create", write)
