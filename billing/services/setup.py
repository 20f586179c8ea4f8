"""Setting up Stripe from a plan file: the catalogue (products, recurring prices, Entitlements
features and their attachments) and one customer portal configuration.

`setup_plan` reads the file and Stripe's current state and answers the changes that would make
Stripe hold the file (create / update / archive, attach / detach); `setup_apply` makes them, in
an order where each change finds what it needs (features and products before prices, prices
before the portal configuration that lists them). Applied twice, the second run finds nothing
to change and writes nothing.

Be careful changing what is compared: a field compared here but rendered differently by Stripe
makes every run change it again.

- Products are found by their `id` (Stripe lets an account choose it), prices by `lookup_key`,
  features by `lookup_key`, the portal configuration by `metadata[managed_by]`.
- Prices are immutable at Stripe but for a few fields: a new amount, currency or interval is a
  new price created with `transfer_lookup_key` (it takes the key over) and the old price is
  archived (`active=false`). Active prices of the file's products that the file does not name
  are archived too. Nothing is ever deleted; only a feature's attachment to a product is
  removed when the file no longer attaches it.
- Every write carries an idempotency key derived from what it writes, so a run retried after a
  failure replays rather than duplicates.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from billing.errors import BillingError
from billing.stripe_gateway import catalogue as gateway

logger = logging.getLogger(__name__)

DEFAULT_PLAN_FILE = Path(__file__).resolve().parent.parent / "plans.toml"
INTERVALS = ("day", "week", "month", "year")
PRORATION_BEHAVIORS = ("none", "create_prorations", "always_invoice")
CANCELLATION_MODES = ("at_period_end", "immediately")
# The marker of the portal configuration this command keeps.
PORTAL_MARKER = ("managed_by", "billing_setup")


class PlanFileInvalid(ValueError):
    """The plan file cannot be read or does not describe a catalogue; the message says where."""


class SetupFailed(Exception):
    """Stripe refused or failed a change; the message says which, and what Stripe said."""


# ---- the plan file -------------------------------------------------------------------


@dataclass(frozen=True)
class PlanFeature:
    lookup_key: str
    name: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class PlanPrice:
    lookup_key: str
    nickname: str
    amount: int
    currency: str
    interval: str
    interval_count: int
    per_seat: bool

    @property
    def metadata(self) -> dict[str, str]:
        return {"per_seat": "true" if self.per_seat else "false"}

    def describe(self) -> str:
        every = self.interval if self.interval_count == 1 else f"{self.interval_count} {self.interval}s"
        seat = " per seat" if self.per_seat else ""
        return f"{self.amount} {self.currency}{seat} / {every}"


@dataclass(frozen=True)
class PlanProduct:
    id: str
    name: str
    description: str
    metadata: dict[str, str]
    prices: tuple[PlanPrice, ...]
    features: tuple[str, ...]


@dataclass(frozen=True)
class PlanPortal:
    payment_method_update: bool = True
    invoice_history: bool = True
    cancellation: str = "at_period_end"  # "" when customers may not cancel in the portal
    plan_switching: bool = True
    proration_behavior: str = "create_prorations"


@dataclass(frozen=True)
class PlanPromotionCode:
    """A code customers enter in Checkout, and its coupon (made once: coupons are immutable)."""

    code: str
    coupon: str  # the coupon's id
    percent_off: float | None
    amount_off: int | None
    currency: str
    duration: str
    duration_in_months: int | None

    def describe(self) -> str:
        off = (
            f"{self.percent_off:g}%" if self.percent_off is not None else f"{self.amount_off} {self.currency}"
        )
        months = (
            f" for {self.duration_in_months} months" if self.duration == "repeating" else f" {self.duration}"
        )
        return f"{off} off{months}"


@dataclass(frozen=True)
class PlanFile:
    products: tuple[PlanProduct, ...]
    features: tuple[PlanFeature, ...]
    portal: PlanPortal
    promotion_codes: tuple[PlanPromotionCode, ...] = ()


def plan_file_read(*, path: Path) -> PlanFile:
    """Read a plan file: TOML, or JSON when its name ends in `.json`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise PlanFileInvalid(f"{path}: cannot be read ({e.strerror or e})") from e
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise PlanFileInvalid(f"{path}: {e}") from e
    if not isinstance(data, dict):
        raise PlanFileInvalid(f"{path}: the file must hold a table (an object)")
    return plan_file_parse(data=data)


def _text(table: dict[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = table.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise PlanFileInvalid(f"{where}: `{key}` must be a non-empty string")
    return value.strip()


def _metadata(table: dict[str, Any], where: str) -> dict[str, str]:
    metadata = table.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise PlanFileInvalid(f"{where}: `metadata` must be a table of strings")
    return {str(k): str(v) for k, v in metadata.items()}


def plan_file_parse(*, data: dict[str, Any]) -> PlanFile:
    currency = data.get("currency", "usd")
    if not isinstance(currency, str) or len(currency) != 3:
        raise PlanFileInvalid("`currency` must be a three-letter currency code")
    features: list[PlanFeature] = []
    for n, raw in enumerate(data.get("features") or []):
        where = f"features[{n}]"
        if not isinstance(raw, dict):
            raise PlanFileInvalid(f"{where}: must be a table")
        metadata = _metadata(raw, where)
        for key in ("code", "type", "value"):
            if key in raw:
                metadata[key] = str(raw[key]).upper() if key == "type" else str(raw[key])
        features.append(
            PlanFeature(
                lookup_key=_text(raw, "lookup_key", where), name=_text(raw, "name", where), metadata=metadata
            )
        )
    feature_keys = [f.lookup_key for f in features]
    if len(set(feature_keys)) != len(feature_keys):
        raise PlanFileInvalid("features: two features share a lookup_key")
    products: list[PlanProduct] = []
    raw_products = data.get("products")
    if not isinstance(raw_products, list) or not raw_products:
        raise PlanFileInvalid("`products` must list at least one product")
    for n, raw in enumerate(raw_products):
        where = f"products[{n}]"
        if not isinstance(raw, dict):
            raise PlanFileInvalid(f"{where}: must be a table")
        product_id = _text(raw, "id", where)
        if not product_id.startswith("prod_"):
            raise PlanFileInvalid(f"{where}: `id` must start with prod_")
        prices: list[PlanPrice] = []
        for m, price in enumerate(raw.get("prices") or []):
            pwhere = f"{where}.prices[{m}]"
            if not isinstance(price, dict):
                raise PlanFileInvalid(f"{pwhere}: must be a table")
            amount = price.get("amount")
            if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
                raise PlanFileInvalid(
                    f"{pwhere}: `amount` must be a whole number of the smallest unit, 0 or more"
                )
            interval = price.get("interval", "month")
            if interval not in INTERVALS:
                raise PlanFileInvalid(f"{pwhere}: `interval` must be one of {', '.join(INTERVALS)}")
            count = price.get("interval_count", 1)
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise PlanFileInvalid(f"{pwhere}: `interval_count` must be 1 or more")
            per_seat = price.get("per_seat", False)
            if not isinstance(per_seat, bool):
                raise PlanFileInvalid(f"{pwhere}: `per_seat` must be true or false")
            prices.append(
                PlanPrice(
                    lookup_key=_text(price, "lookup_key", pwhere),
                    nickname=_text(price, "nickname", pwhere, required=False),
                    amount=amount,
                    currency=str(price.get("currency", currency)).lower(),
                    interval=interval,
                    interval_count=count,
                    per_seat=per_seat,
                )
            )
        if not prices:
            raise PlanFileInvalid(f"{where}: a product needs at least one price")
        attached = raw.get("features") or []
        if not isinstance(attached, list) or any(key not in feature_keys for key in attached):
            raise PlanFileInvalid(f"{where}: `features` must list lookup keys of the file's features")
        products.append(
            PlanProduct(
                id=product_id,
                name=_text(raw, "name", where),
                description=_text(raw, "description", where, required=False),
                metadata=_metadata(raw, where),
                prices=tuple(prices),
                features=tuple(dict.fromkeys(attached)),
            )
        )
    product_ids = [p.id for p in products]
    price_keys = [price.lookup_key for p in products for price in p.prices]
    if len(set(product_ids)) != len(product_ids):
        raise PlanFileInvalid("products: two products share an id")
    if len(set(price_keys)) != len(price_keys):
        raise PlanFileInvalid("products: two prices share a lookup_key")
    return PlanFile(
        products=tuple(products),
        features=tuple(features),
        portal=_portal(data.get("portal")),
        promotion_codes=_promotion_codes(data.get("promotion_codes") or [], currency.lower()),
    )


def _promotion_codes(raw: Any, currency: str) -> tuple[PlanPromotionCode, ...]:
    if not isinstance(raw, list):
        raise PlanFileInvalid("promotion_codes: must be a list of tables")
    codes = []
    for n, entry in enumerate(raw):
        where = f"promotion_codes[{n}]"
        if not isinstance(entry, dict):
            raise PlanFileInvalid(f"{where}: must be a table")
        code = _text(entry, "code", where)
        if not code.replace("-", "").isalnum():
            raise PlanFileInvalid(f"{where}: `code` may hold letters, digits and dashes only")
        percent, amount = entry.get("percent_off"), entry.get("amount_off")
        if (percent is None) == (amount is None):
            raise PlanFileInvalid(f"{where}: give exactly one of `percent_off` and `amount_off`")
        if percent is not None and (not isinstance(percent, int | float) or not 0 < percent <= 100):
            raise PlanFileInvalid(f"{where}: `percent_off` must be above 0 and at most 100")
        if amount is not None and (not isinstance(amount, int) or amount < 1):
            raise PlanFileInvalid(
                f"{where}: `amount_off` must be a whole number of the smallest unit, 1 or more"
            )
        duration = entry.get("duration", "once")
        if duration not in ("once", "repeating", "forever"):
            raise PlanFileInvalid(f"{where}: `duration` must be once, repeating or forever")
        months = entry.get("duration_in_months")
        if duration == "repeating" and (not isinstance(months, int) or months < 1):
            raise PlanFileInvalid(f"{where}: a repeating discount needs `duration_in_months`")
        codes.append(
            PlanPromotionCode(
                code=code,
                coupon=_text(entry, "coupon", where, required=False) or code.lower(),
                percent_off=float(percent) if percent is not None else None,
                amount_off=amount,
                currency=str(entry.get("currency", currency)).lower(),
                duration=duration,
                duration_in_months=months if duration == "repeating" else None,
            )
        )
    return tuple(codes)


def _portal(raw: Any) -> PlanPortal:
    if raw is None:
        return PlanPortal()
    if not isinstance(raw, dict):
        raise PlanFileInvalid("portal: must be a table")
    cancellation = raw.get("cancellation", "at_period_end")
    if cancellation is False:
        cancellation = ""
    if cancellation not in (*CANCELLATION_MODES, ""):
        raise PlanFileInvalid(
            f"portal: `cancellation` must be false or one of {', '.join(CANCELLATION_MODES)}"
        )
    proration = raw.get("proration_behavior", "create_prorations")
    if proration not in PRORATION_BEHAVIORS:
        raise PlanFileInvalid(f"portal: `proration_behavior` must be one of {', '.join(PRORATION_BEHAVIORS)}")
    flags = {}
    for key in ("payment_method_update", "invoice_history", "plan_switching"):
        value = raw.get(key, True)
        if not isinstance(value, bool):
            raise PlanFileInvalid(f"portal: `{key}` must be true or false")
        flags[key] = value
    return PlanPortal(cancellation=cancellation, proration_behavior=proration, **flags)


# ---- the plan of changes -------------------------------------------------------------


@dataclass
class _Applied:
    """Ids known while applying: those found at Stripe, then those just created."""

    price_ids: dict[str, str] = field(default_factory=dict)  # lookup key -> active price id
    feature_ids: dict[str, str] = field(default_factory=dict)  # lookup key -> feature id
    portal_id: str = ""


@dataclass(frozen=True)
class Change:
    action: str  # create, update, archive, attach, detach
    kind: str  # product, price, feature, feature attachment, portal configuration
    name: str  # what it is, for a person
    detail: str = ""
    run: Callable[[_Applied], None] = field(default=lambda applied: None, repr=False, compare=False)

    def line(self) -> str:
        sign = {"create": "+", "attach": "+", "update": "~", "archive": "-", "detach": "-"}[self.action]
        detail = f": {self.detail}" if self.detail else ""
        return f"  {sign} {' '.join(filter(None, (self.action, self.kind, self.name)))}{detail}"


@dataclass(frozen=True)
class SetupPlan:
    changes: tuple[Change, ...]
    product_ids: tuple[str, ...]
    portal_configuration_id: str  # "" until one exists
    applied: _Applied


def _key(*parts: Any) -> str:
    """An idempotency key derived from what a write sends (and what it replaces)."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]
    return f"setup-{parts[0]}-{digest}"


def _stripe_says(error: BillingError) -> str:
    cause = error.__cause__
    said = getattr(cause, "user_message", None) or (str(cause) if cause else "")
    return said or error.message


def setup_plan(*, plan: PlanFile) -> SetupPlan:
    """Read Stripe's catalogue and portal configurations and answer the changes that make
    them what `plan` says. Nothing is written."""
    applied = _Applied()
    changes: list[Change] = []
    changes += _feature_changes(plan, applied)
    changes += _product_changes(plan)
    changes += _price_changes(plan, applied)
    changes += _attachment_changes(plan)
    changes += _promotion_code_changes(plan)
    portal_changes, portal_id = _portal_changes(plan, applied)
    changes += portal_changes
    applied.portal_id = portal_id
    return SetupPlan(
        changes=tuple(changes),
        product_ids=tuple(p.id for p in plan.products),
        portal_configuration_id=portal_id,
        applied=applied,
    )


def setup_apply(*, setup: SetupPlan, on_change: Callable[[Change], None] | None = None) -> str:
    """Make the plan's changes in order; answer the portal configuration's id."""
    for change in setup.changes:
        try:
            change.run(setup.applied)
        except BillingError as e:
            raise SetupFailed(f"{change.action} {change.kind} {change.name}: {_stripe_says(e)}") from e
        logger.info(
            "billing.setup_change_applied",
            extra={"action": change.action, "kind": change.kind, "object": change.name},
        )
        if on_change is not None:
            on_change(change)
    return setup.applied.portal_id


def _feature_changes(plan: PlanFile, applied: _Applied) -> list[Change]:
    existing = {f.lookup_key: f for f in gateway.catalogue_features_list()}
    changes: list[Change] = []
    for feature in plan.features:
        found = existing.get(feature.lookup_key)
        if found is None:
            params: dict[str, Any] = {
                "lookup_key": feature.lookup_key,
                "name": feature.name,
                "metadata": feature.metadata,
            }

            def create(applied: _Applied, params: dict[str, Any] = params) -> None:
                made = gateway.catalogue_feature_create(
                    params=params, idempotency_key=_key("feature", params)
                )
                applied.feature_ids[made.lookup_key] = made.id

            changes.append(Change("create", "feature", feature.lookup_key, feature.name, create))
            continue
        applied.feature_ids[feature.lookup_key] = found_id = found.id
        params = {}
        differences = []
        if found.name != feature.name:
            params["name"] = feature.name
            differences.append(f"name {found.name!r} -> {feature.name!r}")
        if any(found.metadata.get(k) != v for k, v in feature.metadata.items()):
            params["metadata"] = feature.metadata
            differences.append(f"metadata {_shown(found.metadata, feature.metadata)}")
        if not found.active:
            params["active"] = True
            differences.append("archived -> active")
        if params:

            def update(applied: _Applied, fid: str = found_id, params: dict[str, Any] = params) -> None:
                gateway.catalogue_feature_update(
                    feature_id=fid, params=params, idempotency_key=_key("feature-update", fid, params)
                )

            changes.append(Change("update", "feature", feature.lookup_key, ", ".join(differences), update))
    return changes


def _shown(found: dict[str, str], wanted: dict[str, str]) -> str:
    return ", ".join(f"{k}={found.get(k)!r} -> {v!r}" for k, v in wanted.items() if found.get(k) != v)


def _product_changes(plan: PlanFile) -> list[Change]:
    existing = {p.id: p for p in gateway.catalogue_products_list(ids=[p.id for p in plan.products])}
    changes: list[Change] = []
    for product in plan.products:
        found = existing.get(product.id)
        if found is None:
            params: dict[str, Any] = {"id": product.id, "name": product.name}
            if product.description:
                params["description"] = product.description
            if product.metadata:
                params["metadata"] = product.metadata

            def create(applied: _Applied, params: dict[str, Any] = params) -> None:
                gateway.catalogue_product_create(params=params, idempotency_key=_key("product", params))

            changes.append(Change("create", "product", product.id, product.name, create))
            continue
        params = {}
        differences = []
        if found.name != product.name:
            params["name"] = product.name
            differences.append(f"name {found.name!r} -> {product.name!r}")
        if found.description != product.description:
            params["description"] = product.description
            differences.append(f"description {found.description!r} -> {product.description!r}")
        if any(found.metadata.get(k) != v for k, v in product.metadata.items()):
            params["metadata"] = product.metadata
            differences.append(f"metadata {_shown(found.metadata, product.metadata)}")
        if not found.active:
            params["active"] = True
            differences.append("archived -> active")
        if params:

            def update(applied: _Applied, pid: str = product.id, params: dict[str, Any] = params) -> None:
                gateway.catalogue_product_update(
                    product_id=pid, params=params, idempotency_key=_key("product-update", pid, params)
                )

            changes.append(Change("update", "product", product.id, ", ".join(differences), update))
    return changes


def _same_terms(found: gateway.CataloguePrice, wanted: PlanPrice, product_id: str) -> bool:
    """Whether `found` charges what `wanted` says: the fields Stripe never changes on a price."""
    return (
        found.product == product_id
        and found.unit_amount == wanted.amount
        and found.currency == wanted.currency
        and found.interval == wanted.interval
        and found.interval_count == wanted.interval_count
    )


def _price_changes(plan: PlanFile, applied: _Applied) -> list[Change]:
    keys = [price.lookup_key for p in plan.products for price in p.prices]
    by_key = {p.lookup_key: p for p in gateway.catalogue_prices_list(lookup_keys=keys) if p.lookup_key}
    changes: list[Change] = []
    named: set[str] = set()
    for product in plan.products:
        for price in product.prices:
            found = by_key.get(price.lookup_key)
            if found is not None:
                named.add(found.id)
            if found is not None and _same_terms(found, price, product.id):
                applied.price_ids[price.lookup_key] = found.id
                changes += _price_update(found, price)
                continue
            params: dict[str, Any] = {
                "product": product.id,
                "currency": price.currency,
                "unit_amount": price.amount,
                "recurring": {"interval": price.interval, "interval_count": price.interval_count},
                "lookup_key": price.lookup_key,
                "metadata": price.metadata,
            }
            if price.nickname:
                params["nickname"] = price.nickname
            replaced = found.id if found is not None else ""
            if found is not None:
                params["transfer_lookup_key"] = True

            def create(applied: _Applied, params: dict[str, Any] = params, replaced: str = replaced) -> None:
                made = gateway.catalogue_price_create(
                    params=params, idempotency_key=_key("price", params, replaced)
                )
                applied.price_ids[made.lookup_key] = made.id

            changes.append(Change("create", "price", price.lookup_key, price.describe(), create))
            if found is not None and found.active:
                changes.append(_archive(found, f"replaced by the new {price.lookup_key}"))
    for product in plan.products:
        for found in gateway.catalogue_prices_list(product=product.id):
            if found.id not in named and found.lookup_key not in keys:
                named.add(found.id)
                changes.append(_archive(found, f"not in the plan file (product {product.id})"))
    return changes


def _price_update(found: gateway.CataloguePrice, price: PlanPrice) -> list[Change]:
    params: dict[str, Any] = {}
    differences = []
    if price.nickname and found.nickname != price.nickname:
        params["nickname"] = price.nickname
        differences.append(f"nickname {found.nickname!r} -> {price.nickname!r}")
    if any(found.metadata.get(k) != v for k, v in price.metadata.items()):
        params["metadata"] = price.metadata
        differences.append(f"metadata {_shown(found.metadata, price.metadata)}")
    if not found.active:
        params["active"] = True
        differences.append("archived -> active")
    if not params:
        return []

    def update(applied: _Applied) -> None:
        gateway.catalogue_price_update(
            price_id=found.id, params=params, idempotency_key=_key("price-update", found.id, params)
        )

    return [Change("update", "price", f"{price.lookup_key} ({found.id})", ", ".join(differences), update)]


def _archive(found: gateway.CataloguePrice, why: str) -> Change:
    def archive(applied: _Applied) -> None:
        gateway.catalogue_price_update(
            price_id=found.id,
            params={"active": False},
            idempotency_key=_key("price-archive", found.id),
        )

    name = f"{found.lookup_key or 'price'} ({found.id}, {found.unit_amount} {found.currency})"
    return Change("archive", "price", name, why, archive)


def _attachment_changes(plan: PlanFile) -> list[Change]:
    changes: list[Change] = []
    features = {f.id: f.lookup_key for f in gateway.catalogue_features_list()}
    existing_products = {p.id for p in gateway.catalogue_products_list(ids=[p.id for p in plan.products])}
    for product in plan.products:
        links = (
            gateway.product_feature_links_list(product_id=product.id)
            if product.id in existing_products
            else []
        )
        attached = {features.get(link.feature_id, link.feature_id): link for link in links}
        for lookup_key in product.features:
            if lookup_key in attached:
                continue

            def attach(applied: _Applied, pid: str = product.id, lookup_key: str = lookup_key) -> None:
                fid = applied.feature_ids[lookup_key]
                gateway.product_feature_attach(
                    product_id=pid, feature_id=fid, idempotency_key=_key("attach", pid, fid)
                )

            changes.append(Change("attach", "feature", lookup_key, f"to {product.id}", attach))
        for lookup_key, link in attached.items():
            if lookup_key in product.features:
                continue

            def detach(applied: _Applied, pid: str = product.id, link_id: str = link.id) -> None:
                gateway.product_feature_detach(product_id=pid, link_id=link_id)

            changes.append(Change("detach", "feature", lookup_key, f"from {product.id}", detach))
    return changes


def _promotion_code_changes(plan: PlanFile) -> list[Change]:
    changes: list[Change] = []
    for promo in plan.promotion_codes:
        coupon = gateway.catalogue_coupon_retrieve(coupon_id=promo.coupon)
        if coupon is None:
            params: dict[str, Any] = {"id": promo.coupon, "duration": promo.duration, "name": promo.code}
            if promo.percent_off is not None:
                params["percent_off"] = promo.percent_off
            else:
                params |= {"amount_off": promo.amount_off, "currency": promo.currency}
            if promo.duration_in_months is not None:
                params["duration_in_months"] = promo.duration_in_months

            def create_coupon(applied: _Applied, params: dict[str, Any] = params) -> None:
                gateway.catalogue_coupon_create(params=params, idempotency_key=_key("coupon", params))

            changes.append(Change("create", "coupon", promo.coupon, promo.describe(), create_coupon))
        elif (coupon.percent_off, coupon.amount_off, coupon.duration) != (
            promo.percent_off,
            promo.amount_off,
            promo.duration,
        ):
            # Stripe cannot change a coupon's terms, and this command deletes nothing.
            raise SetupFailed(
                f"The coupon {promo.coupon} at Stripe is not what the plan file says ({promo.describe()}): "
                "a coupon cannot be changed; give the file's coupon a new id."
            )
        if any(
            found.coupon == promo.coupon for found in gateway.catalogue_promotion_codes_list(code=promo.code)
        ):
            continue
        params = {"code": promo.code, "promotion": {"type": "coupon", "coupon": promo.coupon}}

        def create_code(applied: _Applied, params: dict[str, Any] = params) -> None:
            gateway.catalogue_promotion_code_create(
                params=params, idempotency_key=_key("promotion-code", params)
            )

        changes.append(Change("create", "promotion code", promo.code, f"coupon {promo.coupon}", create_code))
    return changes


def _portal_features(plan: PlanFile, price_ids: dict[str, str]) -> dict[str, Any]:
    portal = plan.portal
    products = [
        {"product": p.id, "prices": [price_ids.get(price.lookup_key, price.lookup_key) for price in p.prices]}
        for p in plan.products
    ]
    cancel: dict[str, Any] = {"enabled": bool(portal.cancellation)}
    if portal.cancellation:
        cancel["mode"] = portal.cancellation
    update: dict[str, Any] = {"enabled": portal.plan_switching}
    if portal.plan_switching:
        update |= {
            "default_allowed_updates": ["price"],
            "products": products,
            "proration_behavior": portal.proration_behavior,
        }
    return {
        "invoice_history": {"enabled": portal.invoice_history},
        "payment_method_update": {"enabled": portal.payment_method_update},
        "subscription_cancel": cancel,
        "subscription_update": update,
    }


def _portal_differences(found: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """The fields of `wanted` that `found` (as Stripe renders it) does not match."""
    differences = []
    for feature, fields in wanted.items():
        have = found.get(feature) or {}
        for name, value in fields.items():
            current = have.get(name)
            if name == "products":
                current = sorted(
                    (str(p.get("product")), sorted(p.get("prices") or [])) for p in (current or [])
                )
                value = sorted((p["product"], sorted(p["prices"])) for p in value)
            elif name == "default_allowed_updates":
                current, value = sorted(current or []), sorted(value)
            if current != value:
                differences.append(f"{feature}.{name}")
    return differences


def _portal_changes(plan: PlanFile, applied: _Applied) -> tuple[list[Change], str]:
    marked = [
        c
        for c in gateway.portal_configurations_list()
        if c.metadata.get(PORTAL_MARKER[0]) == PORTAL_MARKER[1]
    ]
    found = marked[0] if marked else None
    every_price_known = all(
        price.lookup_key in applied.price_ids for p in plan.products for price in p.prices
    )

    def params_now(applied: _Applied) -> dict[str, Any]:
        return {
            "features": _portal_features(plan, applied.price_ids),
            "business_profile": {"headline": "Manage your plan, payment method and invoices."},
            "metadata": dict([PORTAL_MARKER]),
        }

    if found is None:

        def create(applied: _Applied) -> None:
            params = params_now(applied)
            made = gateway.portal_configuration_create(params=params, idempotency_key=_key("portal", params))
            applied.portal_id = made.id

        return [Change("create", "portal configuration", "", "the file's prices and settings", create)], ""
    differences = (
        _portal_differences(found.features, _portal_features(plan, applied.price_ids))
        if every_price_known
        else ["features.subscription_update.products"]  # a price will be created
    )
    found_id = found.id
    if not differences:
        return [], found_id

    def update(applied: _Applied, cid: str = found_id) -> None:
        params = params_now(applied)
        gateway.portal_configuration_update(
            configuration_id=cid, params=params, idempotency_key=_key("portal-update", cid, params)
        )

    return [Change("update", "portal configuration", found.id, ", ".join(differences), update)], found.id
