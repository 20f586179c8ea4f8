"""Stripe's objects as the app keeps them: frozen dataclasses named `Stripe…`, and the one
function per object that maps Stripe's JSON (a fetched object, or a webhook's `data.object`)
to them, whatever API version shaped it."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StripePortalSession:
    id: str
    url: str


@dataclass(frozen=True)
class StripeSubscription:
    """The part of a Stripe subscription the app keeps, whatever API version shaped it."""

    id: str
    customer_id: str
    status: str
    price_id: str
    product: str
    quantity: int | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    trial_end: datetime | None
    created: datetime
    # The first item's id: a change of price names it (the portal's update-confirm flow).
    item_id: str = ""
    # The first item's price has `metadata[per_seat]` = "true" (when Stripe sent the price).
    per_seat: bool = False


@dataclass(frozen=True)
class StripeInvoiceLine:
    amount: int
    description: str
    proration: bool
    period_start: datetime | None
    period_end: datetime | None


@dataclass(frozen=True)
class StripeInvoicePreview:
    """A preview of an invoice (`invoices.create_preview`): what it would charge and when."""

    amount_due: int
    total: int
    currency: str
    created: datetime | None  # when it would be made: now, or the next renewal
    lines: tuple[StripeInvoiceLine, ...]


def invoice_preview_from_dict(data: Mapping[str, Any]) -> StripeInvoicePreview:
    lines = []
    for line in (data.get("lines") or {}).get("data") or []:
        details = ((line.get("parent") or {}).get("subscription_item_details")) or {}
        period = line.get("period") or {}
        lines.append(
            StripeInvoiceLine(
                amount=int(line.get("amount") or 0),
                description=str(line.get("description") or ""),
                proration=bool(details.get("proration") or line.get("proration")),
                period_start=stripe_time(period.get("start")),
                period_end=stripe_time(period.get("end")),
            )
        )
    return StripeInvoicePreview(
        amount_due=int(data.get("amount_due") or 0),
        total=int(data.get("total") or 0),
        currency=str(data.get("currency") or ""),
        created=stripe_time(data.get("created")),
        lines=tuple(lines),
    )


@dataclass(frozen=True)
class StripeEvent:
    """A verified webhook event: `object` is `data.object` as Stripe sent it (plain dicts)."""

    id: str
    type: str
    created: datetime
    object: dict[str, Any]


def event_from_dict(data: Mapping[str, Any]) -> StripeEvent:
    """Map an event (a webhook's body, or one listed by `GET /v1/events`) to `StripeEvent`.

    Raises KeyError/TypeError/ValueError on a shape that is not an event.
    """
    created = stripe_time(data["created"])
    if not isinstance(data["id"], str) or not isinstance(data["type"], str) or created is None:
        raise ValueError("event without id, type or created")
    obj = data["data"]["object"]
    if not isinstance(obj, dict):
        raise ValueError("event without data.object")
    return StripeEvent(id=data["id"], type=data["type"], created=created, object=obj)


@dataclass(frozen=True)
class StripeInvoice:
    id: str
    status: str  # draft, open, paid, uncollectible, void
    amount_due: int
    amount_paid: int
    currency: str
    created: datetime
    hosted_invoice_url: str | None
    invoice_pdf: str | None
    tax: int = 0  # the sum of `total_taxes`
    discount: int = 0  # the sum of `total_discount_amounts`


def invoice_subscription_id(invoice: Mapping[str, Any]) -> str:
    """The subscription an invoice (a webhook's `data.object`) bills, or "" for none.

    With the pinned API version it is under `parent.subscription_details`; older versions put
    it at the top level.
    """
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {} if isinstance(parent, Mapping) else {}
    return stripe_id_of(details.get("subscription") or invoice.get("subscription"))


def stripe_time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(int(value), tz=UTC)


def stripe_id_of(value: Any) -> str:
    """An id, whether Stripe sent the id or (expanded) the object."""
    if isinstance(value, Mapping):
        return str(value["id"])
    return "" if value is None else str(value)


def subscription_from_dict(data: Mapping[str, Any]) -> StripeSubscription:
    """Map a subscription (a webhook's `data.object`, or a fetched one) to `StripeSubscription`.

    With the pinned API version the period, price and quantity live on the first item
    (`items.data[0]`); the subscription-level `current_period_end` of older versions is
    the fallback. Raises KeyError/TypeError/ValueError on a shape that is not a subscription.
    """
    items = (data.get("items") or {}).get("data") or []
    item: Mapping[str, Any] = items[0] if items else {}
    price: Mapping[str, Any] = item.get("price") or item.get("plan") or {}
    period_start = item.get("current_period_start", data.get("current_period_start"))
    period_end = item.get("current_period_end", data.get("current_period_end"))
    quantity = item.get("quantity", data.get("quantity"))
    created = stripe_time(data["created"])
    if created is None:
        raise ValueError("subscription without `created`")
    return StripeSubscription(
        id=str(data["id"]),
        customer_id=stripe_id_of(data["customer"]),
        status=str(data["status"]),
        price_id=stripe_id_of(price.get("id")),
        product=stripe_id_of(price.get("product")),
        quantity=None if quantity is None else int(quantity),
        current_period_start=stripe_time(period_start),
        current_period_end=stripe_time(period_end),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        canceled_at=stripe_time(data.get("canceled_at")),
        trial_end=stripe_time(data.get("trial_end")),
        created=created,
        item_id=stripe_id_of(item.get("id")),
        per_seat=_per_seat(price.get("metadata")),
    )


def _per_seat(metadata: Any) -> bool:
    """A price is per seat when its `metadata[per_seat]` is "true"."""
    return isinstance(metadata, Mapping) and str(metadata.get("per_seat", "")).strip().lower() == "true"


@dataclass(frozen=True)
class StripeProduct:
    id: str
    name: str
    description: str
    active: bool


@dataclass(frozen=True)
class StripePrice:
    id: str
    product: str
    active: bool
    recurring: bool
    unit_amount: int
    currency: str
    interval: str
    interval_count: int
    # `metadata[per_seat]` is "true": charged per member (the quantity is the member count).
    per_seat: bool = False


@dataclass(frozen=True)
class StripeFeature:
    """An Entitlements feature: what a plan grants (its metadata says how the app reads it)."""

    id: str
    name: str
    lookup_key: str
    metadata: dict[str, str]
    active: bool = True


def feature_from_dict(data: Mapping[str, Any]) -> StripeFeature:
    """Map an `entitlements.feature` (expanded in an entitlement, or on a product feature)."""
    metadata = data.get("metadata") or {}
    return StripeFeature(
        id=str(data["id"]),
        name=str(data.get("name") or ""),
        lookup_key=str(data.get("lookup_key") or ""),
        metadata={str(k): str(v) for k, v in metadata.items()},
        active=bool(data.get("active", True)),
    )


@dataclass(frozen=True)
class StripeCheckoutSession:
    id: str
    url: str
    status: str  # open, complete, expired
    payment_status: str  # unpaid, paid, no_payment_required
    subscription_id: str
    customer_id: str
    amount_total: int | None
    currency: str
    expires_at: datetime | None
    created: datetime | None


T = TypeVar("T")


@dataclass(frozen=True)
class StripePage(Generic[T]):
    """One page of a Stripe list: its objects, whether more follow, and the cursor for the next
    page (`starting_after`: the id of the page's last object, None for an empty page)."""

    items: list[T]
    has_more: bool
    last_id: str | None


def product_from_dict(data: Mapping[str, Any]) -> StripeProduct:
    return StripeProduct(
        id=str(data["id"]),
        name=str(data.get("name") or data["id"]),
        description=str(data.get("description") or ""),
        active=bool(data.get("active")),
    )


def price_from_dict(data: Mapping[str, Any]) -> StripePrice:
    recurring = data.get("recurring") or {}
    return StripePrice(
        id=str(data["id"]),
        product=stripe_id_of(data.get("product")),
        active=bool(data.get("active")),
        recurring=bool(recurring) and data.get("type", "recurring") == "recurring",
        unit_amount=int(data.get("unit_amount") or 0),
        currency=str(data.get("currency") or ""),
        interval=str(recurring.get("interval") or ""),
        interval_count=int(recurring.get("interval_count") or 1),
        per_seat=_per_seat(data.get("metadata")),
    )


def checkout_session_from_dict(data: Mapping[str, Any]) -> StripeCheckoutSession:
    amount = data.get("amount_total")
    return StripeCheckoutSession(
        id=str(data["id"]),
        url=str(data.get("url") or ""),
        status=str(data.get("status") or ""),
        payment_status=str(data.get("payment_status") or ""),
        subscription_id=stripe_id_of(data.get("subscription")),
        customer_id=stripe_id_of(data.get("customer")),
        amount_total=None if amount is None else int(amount),
        currency=str(data.get("currency") or ""),
        expires_at=stripe_time(data.get("expires_at")),
        created=stripe_time(data.get("created")),
    )


# Stripe's object ids: a prefix and letters and digits, joined by underscores.
_STRIPE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")


def stripe_id_valid(value: object) -> bool:
    """Whether `value` (from the client) has the shape of a Stripe id. Anything else names no
    Stripe object, and is refused before it reaches a query or Stripe: PostgreSQL refuses a NUL
    byte in any string it is sent, and other control characters have no business in a log."""
    return isinstance(value, str) and _STRIPE_ID.fullmatch(value) is not None
