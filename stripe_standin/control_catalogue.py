"""Catalogue controls: products, prices and features made directly, and the demo plans."""

from __future__ import annotations

import copy
from typing import Any

from stripe_standin import core
from stripe_standin.control import ControlBase
from stripe_standin.core import Call
from stripe_standin.resources import catalogue, customers, entitlements, features, subscriptions

# The statuses of a bulk seed, repeated in this order: mostly active, some past due,
# trialing and canceled.
BULK_STATUSES = (*("active",) * 16, "past_due", "past_due", "trialing", "canceled")
# The demo's paid prices, used in turn by a bulk seed.
BULK_PRICES = (
    "price_demo_starter_monthly",
    "price_demo_pro_monthly",
    "price_demo_starter_yearly",
    "price_demo_pro_yearly",
)


class CatalogueControls(ControlBase):
    # ---- catalogue ----------------------------------------------------------------

    def create_product(
        self,
        name: str,
        *,
        id: str | None = None,
        description: str | None = None,
        active: bool = True,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        with self._changing() as store:
            product = catalogue.new_product(
                store, name=name, id=id, active=active, description=description, metadata=_strings(metadata)
            )
            return copy.deepcopy(product)

    def update_product(self, id: str, **fields: Any) -> dict[str, Any]:
        """Change ``name``, ``active``, ``description`` or ``metadata`` (emits product.updated)."""
        params = {k: ("true" if v else "false") if isinstance(v, bool) else v for k, v in fields.items()}
        with self._changing() as store:
            call = Call("POST", f"/v1/products/{id}", {}, params, "", self._url or "", "", (id,))
            return copy.deepcopy(catalogue.update_product_api(store, call))

    def create_price(
        self,
        product: str,
        unit_amount: int,
        *,
        currency: str = "usd",
        interval: str | None = "month",
        interval_count: int = 1,
        lookup_key: str | None = None,
        nickname: str | None = None,
        active: bool = True,
        metadata: dict[str, str] | None = None,
        id: str | None = None,
    ) -> dict[str, Any]:
        """A price of ``product``; ``interval=None`` makes it one-time."""
        if interval is not None and interval not in core.INTERVALS:
            raise ValueError(f"interval must be one of {', '.join(core.INTERVALS)} or None")
        with self._changing() as store:
            price = catalogue.new_price(
                store,
                product=product,
                unit_amount=int(unit_amount),
                currency=currency.lower(),
                interval=interval,
                interval_count=int(interval_count),
                lookup_key=lookup_key,
                nickname=nickname,
                active=active,
                metadata=_strings(metadata),
                id=id,
            )
            return copy.deepcopy(price)

    def update_price(self, id: str, **fields: Any) -> dict[str, Any]:
        """Change ``active``, ``nickname``, ``lookup_key`` or ``metadata`` (emits price.updated)."""
        params = {k: ("true" if v else "false") if isinstance(v, bool) else v for k, v in fields.items()}
        with self._changing() as store:
            call = Call("POST", f"/v1/prices/{id}", {}, params, "", self._url or "", "", (id,))
            return copy.deepcopy(catalogue.update_price_api(store, call))

    def create_feature(
        self, name: str, lookup_key: str, *, metadata: dict[str, str] | None = None, id: str | None = None
    ) -> dict[str, Any]:
        with self._changing() as store:
            return copy.deepcopy(
                features.new_feature(
                    store, name=name, lookup_key=lookup_key, metadata=_strings(metadata), id=id
                )
            )

    def attach_feature(self, product: str, feature: str) -> dict[str, Any]:
        """Attach an Entitlements feature to a product: a ``product_feature``."""
        with self._changing() as store:
            return copy.deepcopy(features.attach_feature(store, product, feature))

    def seed_demo_catalogue(self) -> dict[str, list[str]]:
        """The demo plans (fixed ids; seeding twice changes nothing):

        Free (0 a month), Starter (19 a month, 190 a year) and Pro (49 a month,
        490 a year), in USD. Features carry metadata ``code``/``type``/``value``:
        ``PROJECTS`` (boolean) on every plan, ``STORAGE_TB`` (quota) 1 on Starter
        and 5 on Pro (two features, one code), ``EXTENDED_SUPPORT`` (boolean) on Pro.
        """
        demo_features = [
            (
                "feat_demo_projects",
                "Projects",
                "projects",
                {"code": "PROJECTS", "type": "BOOLEAN", "value": "1"},
            ),
            (
                "feat_demo_storage_1tb",
                "1 TB of storage",
                "storage-1tb",
                {"code": "STORAGE_TB", "type": "QUOTA", "value": "1"},
            ),
            (
                "feat_demo_storage_5tb",
                "5 TB of storage",
                "storage-5tb",
                {"code": "STORAGE_TB", "type": "QUOTA", "value": "5"},
            ),
            (
                "feat_demo_extended_support",
                "Extended support",
                "extended-support",
                {"code": "EXTENDED_SUPPORT", "type": "BOOLEAN", "value": "1"},
            ),
        ]
        plans = [
            (
                "prod_demo_free",
                "Free",
                "Try it out: projects, no storage.",
                [("monthly", "month", 0)],
                ["feat_demo_projects"],
            ),
            (
                "prod_demo_starter",
                "Starter",
                "For small teams: 1 TB of storage.",
                [("monthly", "month", 1900), ("yearly", "year", 19000)],
                ["feat_demo_projects", "feat_demo_storage_1tb"],
            ),
            (
                "prod_demo_pro",
                "Pro",
                "For growing teams: 5 TB of storage and extended support.",
                [("monthly", "month", 4900), ("yearly", "year", 49000)],
                ["feat_demo_projects", "feat_demo_storage_5tb", "feat_demo_extended_support"],
            ),
        ]
        made: dict[str, list[str]] = {"products": [], "prices": [], "features": []}
        with self._changing() as store:
            for feature_id, name, lookup_key, metadata in demo_features:
                if feature_id not in store.features:
                    features.new_feature(
                        store, name=name, lookup_key=lookup_key, metadata=metadata, id=feature_id
                    )
                made["features"].append(feature_id)
            for product_id, name, description, prices, attached in plans:
                if product_id not in store.products:
                    catalogue.new_product(store, name=name, id=product_id, description=description)
                made["products"].append(product_id)
                for suffix, interval, amount in prices:
                    price_id = f"price_{product_id[len('prod_') :]}_{suffix}"
                    if price_id not in store.prices:
                        catalogue.new_price(
                            store,
                            product=product_id,
                            unit_amount=amount,
                            interval=interval,
                            id=price_id,
                            lookup_key=price_id[len("price_") :],
                            nickname=f"{name} {suffix}",
                        )
                    made["prices"].append(price_id)
                have = {
                    pf["entitlement_feature"]["id"]
                    for pf in store.product_features.get(product_id, {}).values()
                }
                for feature_id in attached:
                    if feature_id not in have:
                        features.attach_feature(store, product_id, feature_id)
        return made

    def seed_bulk(self, n: int, *, emit_events: bool = False) -> list[str]:
        """``n`` customers, each with one subscription on a demo price; their ids, in order.

        Statuses follow ``BULK_STATUSES`` (16 of 20 active), prices ``BULK_PRICES`` in turn;
        the demo catalogue is seeded first. The objects are those the API answers and the
        other fixtures make. Without ``emit_events`` (the default) no event is recorded or
        queued: the customers are already entitled to their plans' features, so a later
        change announces only what changed.
        """
        n = int(n)
        if n < 0:
            raise ValueError("n must be 0 or more")
        self.seed_demo_catalogue()
        made: list[str] = []
        with self._changing() as store:
            now = core.now()
            granted = {
                price_id: _granted(store, store.prices[price_id]["product"]) for price_id in BULK_PRICES
            }
            for i in range(n):
                status = BULK_STATUSES[i % len(BULK_STATUSES)]
                price_id = BULK_PRICES[i % len(BULK_PRICES)]
                customer = customers.customer_object(
                    id=core.new_id("cus"),
                    name=f"Bulk customer {i + 1}",
                    email=f"bulk{i + 1}@example.com",
                    description=None,
                    phone=None,
                    metadata={},
                    livemode=False,
                )
                spec = _bulk_spec(store, customer["id"], status, price_id, now)
                if emit_events:
                    customers.put_customer(store, customer)
                    subscriptions.put_subscription(store, spec)
                else:
                    store.customers[customer["id"]] = customer
                    _bulk_subscription(store, spec)
                    if status in core.ENTITLED_STATUSES:
                        store.entitled[customer["id"]] = granted[price_id]
                made.append(customer["id"])
        return made

    @property
    def products(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._store.products.values()))

    @property
    def prices(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._store.prices.values()))

    @property
    def features(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._store.features.values()))

    def active_entitlements(self, customer: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(entitlements.active_entitlements_for(self._store, customer))


def _strings(metadata: dict[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (metadata or {}).items()}


def _granted(store: Any, product: str) -> tuple[str, ...]:
    """The active features a subscription to ``product`` grants, in attach order."""
    ids = (pf["entitlement_feature"]["id"] for pf in store.product_features.get(product, {}).values())
    return tuple(dict.fromkeys(f for f in ids if f in store.features and store.features[f]["active"]))


def _bulk_spec(store: Any, customer: str, status: str, price_id: str, now: int) -> dict[str, Any]:
    price = store.prices[price_id]
    recurring = price["recurring"] or {}
    interval = recurring.get("interval", "month")
    return {
        "customer": customer,
        "status": status,
        "price_id": price_id,
        "product": price["product"],
        "nickname": price["nickname"],
        "unit_amount": price["unit_amount"],
        "currency": price["currency"],
        "interval": interval,
        "interval_count": recurring.get("interval_count", 1),
        "quantity": 1,
        "current_period_start": now,
        "current_period_end": now + (365 if interval == "year" else 30) * core.DAY,
        "cancel_at_period_end": False,
        "trial_end": now + 14 * core.DAY if status == "trialing" else None,
        "canceled_at": now if status == "canceled" else None,
        "created": now,
        "metadata": {},
        "id": core.new_id("sub", 24),
        "item_id": core.new_id("si"),
        "latest_invoice": None,
        "default_payment_method": None,
        "ended_at": None,
    }


def _bulk_subscription(store: Any, spec: dict[str, Any]) -> None:
    """Store a subscription as ``put_subscription`` builds it, without its event."""
    subscription = subscriptions.subscription_object(
        id=spec["id"],
        item_id=spec["item_id"],
        customer=spec["customer"],
        status=spec["status"],
        price=copy.deepcopy(store.prices[spec["price_id"]]),
        quantity=spec["quantity"],
        current_period_start=spec["current_period_start"],
        current_period_end=spec["current_period_end"],
        cancel_at_period_end=spec["cancel_at_period_end"],
        trial_end=spec["trial_end"],
        canceled_at=spec["canceled_at"],
        created=spec["created"],
        metadata=spec["metadata"],
    )
    store.subscription_specs[spec["id"]] = spec
    store.subscriptions[spec["id"]] = subscription
