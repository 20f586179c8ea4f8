"""Subscriptions (one item each): ``/v1/subscriptions``, renewals and cancellation.

A subscription is rebuilt from its ``spec`` (the fields the fixtures and endpoints change)
by ``put_subscription``, which emits the matching ``customer.subscription.*`` event.
"""

from __future__ import annotations

import calendar
import copy
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from stripe_standin import core, errors, params
from stripe_standin.core import Call
from stripe_standin.resources import (
    catalogue,
    invoices,
)

if TYPE_CHECKING:
    from stripe_standin.store import Store


def put_subscription(store: Store, spec: dict[str, Any]) -> dict[str, Any]:
    """Build (or rebuild) a subscription object from its fields; emits its event."""
    if spec["customer"] not in store.customers:
        raise KeyError(f"No such customer: {spec['customer']!r}")
    if spec["status"] not in core.SUBSCRIPTION_STATUSES:
        raise ValueError(f"status must be one of {', '.join(core.SUBSCRIPTION_STATUSES)}")
    if spec["status"] == "canceled" and spec["canceled_at"] is None:
        spec["canceled_at"] = core.now()
    catalogued = store.prices.get(spec["price_id"])
    if catalogued is not None and spec["price_id"] not in store.fixture_prices:
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
        catalogue.put_product(store, spec["product"], spec.pop("product_name", None))
        price = catalogue.price_object(
            price_id=spec["price_id"],
            product=spec["product"],
            nickname=spec["nickname"],
            unit_amount=int(spec["unit_amount"]),
            currency=spec["currency"],
            interval=spec["interval"],
            interval_count=int(spec.get("interval_count", 1)),
        )
        if spec["price_id"] in store.prices:
            price["created"] = store.prices[spec["price_id"]]["created"]
        store.prices[spec["price_id"]] = copy.deepcopy(price)
        store.fixture_prices.add(spec["price_id"])
    subscription = subscription_object(
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
        test_clock=store.customers[spec["customer"]].get("test_clock"),
    )
    old = store.subscriptions.get(spec["id"])
    if old is not None and old["created"] != subscription["created"]:
        store.subscription_order = None  # its place in the list changed
    store.subscription_specs[spec["id"]] = spec
    store.subscriptions[spec["id"]] = subscription
    store.dirty.add(spec["customer"])
    if old is None:
        store.emit("customer.subscription.created", subscription)
    elif subscription["status"] == "canceled" and old["status"] != "canceled":
        store.emit("customer.subscription.deleted", subscription)
    elif previous := params.changed(old, subscription):
        store.emit("customer.subscription.updated", subscription, previous)
    return subscription


def update_subscription(store: Store, subscription_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    spec = store.subscription_specs.get(subscription_id)
    if spec is None:
        raise KeyError(f"No such subscription: {subscription_id!r}")
    unknown = set(fields) - (set(spec) - {"id", "item_id", "customer"} | {"product_name"})
    if unknown:
        raise TypeError(f"cannot update subscription field(s): {', '.join(sorted(unknown))}")
    return put_subscription(store, {**spec, **fields})


def list_subscriptions(store: Store, call: Call) -> dict[str, Any]:
    q = params.allow(
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
    customer, price, status = (
        params.str_param(q, "customer"),
        params.str_param(q, "price"),
        params.str_param(q, "status"),
    )
    if status is not None and status not in (*core.SUBSCRIPTION_STATUSES, "all", "ended"):
        raise errors.invalid_parameter(
            "status", f"Invalid status: must be one of {', '.join(core.SUBSCRIPTION_STATUSES)}, all, or ended"
        )
    if customer is not None and customer not in store.customers:
        raise errors.no_such("customer", customer, param="customer", status=400)
    order, place = store.subscriptions_newest_first()

    def matching(ids: Iterable[str]) -> Iterator[dict[str, Any]]:
        for subscription_id in ids:
            s = store.subscriptions[subscription_id]
            if (
                (customer is None or s["customer"] == customer)
                and (price is None or s["items"]["data"][0]["price"]["id"] == price)
                and _status_matches(s["status"], status)
            ):
                yield s

    return store.expand(params.page_in_order(order, place, matching, q, "/v1/subscriptions"), q)


def retrieve_subscription(store: Store, call: Call) -> dict[str, Any]:
    subscription = store.subscriptions.get(call.args[0])
    if subscription is None:
        raise errors.no_such("subscription", call.args[0], param="id", status=404)
    return store.expand(subscription, call.query)


def create_subscription_api(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(
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
    customer_id = params.str_param(p, "customer")
    if not customer_id:
        raise errors.missing_parameter("customer")
    if store.live_customer(customer_id) is None:
        raise errors.no_such("customer", customer_id, param="customer", status=400)
    items = p.get("items")
    if not isinstance(items, list) or not items:
        raise errors.missing_parameter("items")
    if len(items) > 1:
        raise errors.invalid_parameter("items", "The stand-in supports one item per subscription.")
    item = items[0]
    if not isinstance(item, dict):
        raise errors.invalid_parameter("items[0]", "Invalid object", code="parameter_invalid_object")
    for name in item:
        if name not in ("price", "quantity", "metadata"):
            raise errors.unknown_parameter(f"items[0][{name}]")
    price_id = params.str_param(item, "price")
    if not price_id:
        raise errors.missing_parameter("items[0][price]")
    price = catalogue.recurring_price(store, price_id, "items[0][price]")
    quantity = params.int_param(item, "quantity", "items[0][quantity]", minimum=1) or 1
    trial_days = params.int_param(p, "trial_period_days", "trial_period_days", minimum=0) or None
    behavior = params.str_param(p, "payment_behavior") or "allow_incomplete"
    if behavior not in (
        "allow_incomplete",
        "default_incomplete",
        "error_if_incomplete",
        "pending_if_incomplete",
    ):
        raise errors.invalid_parameter(
            "payment_behavior",
            "Invalid payment_behavior: must be one of allow_incomplete, "
            "default_incomplete, error_if_incomplete, or pending_if_incomplete",
        )
    needs_card = price["unit_amount"] * quantity > 0 and not trial_days
    if needs_card and customer_id not in store.payment_methods and behavior != "default_incomplete":
        raise errors.ApiError(
            400,
            "This customer has no attached payment source or default payment method. Please consider "
            "adding a default payment method. For more information, visit "
            "https://docs.stripe.com/billing/subscriptions/payment-methods-setting#payment-method-priority.",
            code="resource_missing",
        )
    subscription, _ = start_subscription(
        store,
        customer_id,
        price_id,
        quantity=quantity,
        metadata=params.metadata_param(p),
        trial_days=trial_days,
        base_url=call.base_url,
        pay=behavior != "default_incomplete" or not needs_card,
        cancel_at_period_end=bool(params.bool_param(p, "cancel_at_period_end", False)),
    )
    return store.expand(subscription, p)


def update_subscription_api(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(
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
    subscription = subscription_or_404(store, call.args[0])
    spec = dict(store.subscription_specs[subscription["id"]])
    if subscription["status"] == "canceled" and set(p) - {"metadata", "cancellation_details", "expand"}:
        raise errors.invalid_parameter(
            next(iter(set(p) - {"metadata", "cancellation_details", "expand"})),
            "A canceled subscription can only update its cancellation_details and metadata.",
        )
    behavior = params.str_param(p, "proration_behavior")
    if behavior is not None and behavior not in ("always_invoice", "create_prorations", "none"):
        raise errors.invalid_parameter(
            "proration_behavior",
            "Invalid proration_behavior: must be one of always_invoice, create_prorations, or none",
        )
    if "cancel_at_period_end" in p:
        spec["cancel_at_period_end"] = bool(params.bool_param(p, "cancel_at_period_end", False))
    if p.get("cancel_at") == "":
        spec["cancel_at_period_end"] = False
    if "metadata" in p:
        holder = {"metadata": dict(spec["metadata"])}
        params.update_metadata(holder, p)
        spec["metadata"] = holder["metadata"]
    items = p.get("items")
    if items is not None:
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
            raise errors.invalid_parameter("items", "The stand-in supports changing the one item only.")
        item = items[0]
        for name in item:
            if name not in ("id", "price", "quantity", "metadata"):
                raise errors.unknown_parameter(f"items[0][{name}]")
        item_id = params.str_param(item, "id")
        if not item_id:
            raise errors.invalid_parameter(
                "items[0][id]", "The stand-in supports one item per subscription: pass `items[0][id]`."
            )
        if item_id != spec["item_id"]:
            raise errors.invalid_parameter(
                "items[0][id]",
                f"The subscription item `{item_id}` does not belong to the subscription `{spec['id']}`.",
            )
        if (price_id := params.str_param(item, "price")) is not None:
            price = catalogue.recurring_price(store, price_id, "items[0][price]")
            if price["currency"] != spec["currency"]:
                raise errors.invalid_parameter(
                    "items[0][price]",
                    "The price specified has a different currency than the existing items on this "
                    "subscription.",
                )
            spec["price_id"] = price_id
        if (quantity := params.int_param(item, "quantity", "items[0][quantity]", minimum=0)) is not None:
            spec["quantity"] = quantity
    if items is not None:
        updated = change_plan(
            store,
            subscription["id"],
            spec,
            behavior=behavior or "create_prorations",
            base_url=call.base_url,
        )
    else:
        updated = put_subscription(store, spec)
    return store.expand(updated, p)


def change_plan(
    store: Store,
    subscription_id: str,
    spec: dict[str, Any],
    *,
    behavior: str,
    base_url: str | None,
) -> dict[str, Any]:
    """Put `spec` (a new price or quantity on the one item) as Stripe bills a change: the
    unused time of the old price credited and the rest of the period at the new price debited
    (`create_prorations`: on the next invoice; `always_invoice`: invoiced now; `none`: neither),
    and on a change of interval a new billing cycle from now, invoiced at once."""
    old = store.subscription_specs[subscription_id]
    change = plan_change(store, old, spec, behavior=behavior)
    updated = put_subscription(store, change.spec)
    if change.invoice_now:
        invoices.bill(
            store,
            subscription_id,
            reason="subscription_update",
            base_url=base_url,
            succeed=True,
            prorations=change.lines,
        )
    elif change.lines:
        store.pending_lines.setdefault(subscription_id, []).extend(change.lines)
    return store.subscriptions[updated["id"]]


class PlanChange(NamedTuple):
    spec: dict[str, Any]  # the subscription's fields after the change
    lines: list[dict[str, Any]]  # the proration lines it makes
    invoice_now: bool  # billed at once (a new cycle, or `always_invoice`), else on the next invoice
    new_cycle: bool  # a change of interval: a new billing cycle from now


def plan_change(store: Store, old: dict[str, Any], new: dict[str, Any], *, behavior: str) -> PlanChange:
    """What a change from `old` to `new` (subscription specs) bills, without doing it.

    Also what `POST /v1/invoices/create_preview` shows, so a preview and the change made
    right after it (at the same moment of the customer's clock) agree to the cent."""
    new = dict(new)
    price = store.prices[new["price_id"]]
    recurring = price["recurring"] or {"interval": "month", "interval_count": 1}
    new.update(
        unit_amount=price["unit_amount"],
        currency=price["currency"],
        interval=recurring["interval"],
        interval_count=recurring["interval_count"],
    )
    now = store.now_of(old["customer"])
    same_item = old["price_id"] == new["price_id"] and int(old["quantity"]) == int(new["quantity"])
    if same_item or old["status"] not in ("active", "past_due"):
        return PlanChange(new, [], False, False)  # a trial (or an unpaid start) is not prorated
    new_cycle = (old["interval"], int(old.get("interval_count", 1))) != (
        new["interval"],
        int(new.get("interval_count", 1)),
    )
    start, end = int(old["current_period_start"]), int(old["current_period_end"])
    unused = max(0, end - now) / max(1, end - start)
    subscription = store.subscriptions[old["id"]]
    old_price = subscription["items"]["data"][0]["price"]
    when = datetime.fromtimestamp(now, tz=UTC).strftime("%d %b %Y")
    lines: list[dict[str, Any]] = []
    if behavior != "none" and unused > 0:
        lines.append(
            invoices.line_object(
                subscription,
                amount=-round(int(old["unit_amount"]) * int(old["quantity"]) * unused),
                description=f"Unused time on {int(old['quantity'])} \u00d7 "
                f"{old_price['nickname'] or old_price['product']} after {when}",
                price=old_price,
                quantity=int(old["quantity"]),
                start=now,
                end=end,
                proration=True,
            )
        )
        if not new_cycle:
            lines.append(
                invoices.line_object(
                    subscription,
                    amount=round(int(new["unit_amount"]) * int(new["quantity"]) * unused),
                    description=f"Remaining time on {int(new['quantity'])} \u00d7 "
                    f"{price['nickname'] or price['product']} after {when}",
                    price=price,
                    quantity=int(new["quantity"]),
                    start=now,
                    end=end,
                    proration=True,
                )
            )
    if new_cycle:
        new.update(
            current_period_start=now,
            current_period_end=period_end(now, new["interval"], int(new.get("interval_count", 1))),
        )
    return PlanChange(new, lines, new_cycle or (behavior == "always_invoice" and bool(lines)), new_cycle)


def cancel_subscription_api(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(call.params, "invoice_now", "prorate", "cancellation_details", "expand")
    subscription = subscription_or_404(store, call.args[0])
    if subscription["status"] in core.ENDED:
        raise errors.ApiError(
            400,
            f"A canceled subscription can only update its cancellation_details and metadata. "
            f"This subscription ({subscription['id']}) has already been canceled.",
        )
    return store.expand(cancel_now(store, subscription["id"]), p)


def start_subscription(
    store: Store,
    customer_id: str,
    price_id: str,
    *,
    quantity: int = 1,
    metadata: dict[str, str] | None = None,
    trial_days: int | None = None,
    base_url: str | None = None,
    pay: bool = True,
    cancel_at_period_end: bool = False,
    terms: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``terms``: what its invoices carry beyond the price (a coupon, tax: ``invoice_terms``)."""
    price = store.prices[price_id]
    recurring = price["recurring"] or {"interval": "month", "interval_count": 1}
    now = store.now_of(customer_id)
    trial_end = now + trial_days * core.DAY if trial_days else None
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
        "id": core.new_id("sub", 24),
        "item_id": core.new_id("si"),
        "latest_invoice": None,
        "default_payment_method": store.payment_methods.get(customer_id),
        "ended_at": None,
    }
    put_subscription(store, spec)
    if terms:
        store.invoice_terms[spec["id"]] = terms
    amount = 0 if trial_end else price["unit_amount"] * quantity
    invoice = invoices.new_invoice(store, spec["id"], amount, "subscription_create", base_url=base_url)
    if pay or amount == 0:
        invoices.pay_invoice(store, invoice["id"])
    return store.subscriptions[spec["id"]], store.invoices[invoice["id"]]


def renew(
    store: Store,
    subscription_id: str,
    *,
    succeed: bool = True,
    base_url: str | None = None,
    at_period_end: bool = False,
) -> dict[str, Any]:
    """A renewal now (or, `at_period_end`, when the period ends, as a test clock moves): the
    next period starts, its invoice is paid or fails (``past_due``)."""
    spec = store.subscription_specs.get(subscription_id)
    if spec is None:
        raise KeyError(f"No such subscription: {subscription_id!r}")
    if spec["status"] in core.ENDED:
        raise ValueError(f"subscription {subscription_id} is {spec['status']}")
    if spec["cancel_at_period_end"]:  # the period ends: the subscription ends with it
        cancel_now(store, subscription_id)
        return store.subscriptions[subscription_id]
    now = int(spec["current_period_end"]) if at_period_end else store.now_of(spec["customer"])
    fields: dict[str, Any] = {
        "current_period_start": now,
        "current_period_end": period_end(now, spec["interval"], int(spec.get("interval_count", 1))),
    }
    if spec["status"] == "trialing":
        fields["trial_end"] = now
    update_subscription(store, subscription_id, fields)
    invoice = invoices.bill(
        store, subscription_id, reason="subscription_cycle", base_url=base_url, succeed=succeed
    )
    if invoice["status"] == "paid":
        if store.subscription_specs[subscription_id]["status"] != "active":
            update_subscription(store, subscription_id, {"status": "active"})
    else:
        update_subscription(store, subscription_id, {"status": "past_due"})
    return store.subscriptions[subscription_id]


def cancel_now(store: Store, subscription_id: str) -> dict[str, Any]:
    spec = store.subscription_specs[subscription_id]
    now = store.now_of(spec["customer"])
    if spec["cancel_at_period_end"]:
        now = min(now, int(spec["current_period_end"]))
    store.pending_lines.pop(subscription_id, None)
    for invoice in store.invoices.values():
        if invoices.invoice_subscription(invoice) == subscription_id and invoice["status"] == "open":
            invoice["status"] = "void"
            invoice["status_transitions"]["voided_at"] = now
            invoice["amount_remaining"] = 0
            store.emit("invoice.voided", invoice)
    return update_subscription(
        store, subscription_id, {"status": "canceled", "canceled_at": now, "ended_at": now}
    )


def change_price(
    store: Store,
    subscription_id: str,
    price_id: str | None,
    quantity: int | None,
    *,
    behavior: str = "none",
    base_url: str | None = None,
) -> dict[str, Any]:
    spec = dict(store.subscription_specs[subscription_id])
    if price_id is not None:
        spec["price_id"] = price_id
    if quantity is not None:
        spec["quantity"] = quantity
    return change_plan(store, subscription_id, spec, behavior=behavior, base_url=base_url)


def subscription_or_404(store: Store, subscription_id: str) -> dict[str, Any]:
    return store.found(store.subscriptions, "subscription", subscription_id, param="id")


def _status_matches(status: str, wanted: str | None) -> bool:
    if wanted is None:  # Stripe's default: everything that has not ended
        return status not in core.ENDED
    return wanted == "all" or (wanted == "ended" and status in core.ENDED) or status == wanted


def period_end(start: int, interval: str, count: int = 1) -> int:
    """``start`` plus ``count`` intervals, calendar months as Stripe bills them."""
    if interval in ("day", "week"):
        return start + count * (core.DAY if interval == "day" else 7 * core.DAY)
    months = count * (12 if interval == "year" else 1)
    moment = datetime.fromtimestamp(start, tz=UTC)
    year, month = divmod(moment.month - 1 + months, 12)
    year += moment.year
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return int(moment.replace(year=year, month=month + 1, day=day).timestamp())


def subscription_object(
    *,
    id: str,
    item_id: str,
    customer: str,
    status: str,
    price: dict[str, Any],
    quantity: int,
    current_period_start: int,
    current_period_end: int,
    cancel_at_period_end: bool,
    trial_end: int | None,
    canceled_at: int | None,
    created: int,
    metadata: dict[str, str],
    latest_invoice: str | None = None,
    default_payment_method: str | None = None,
    ended_at: int | None = None,
    test_clock: str | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": item_id,
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": created,
        "current_period_end": current_period_end,
        "current_period_start": current_period_start,
        "discounts": [],
        "metadata": {},
        "plan": plan_of(price),
        "price": price,
        "quantity": quantity,
        "subscription": id,
        "tax_rates": [],
    }
    return {
        "id": id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": current_period_start,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic"},
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": current_period_end if cancel_at_period_end else None,
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": canceled_at,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": created,
        "currency": price["currency"],
        "customer": customer,
        "customer_account": None,
        "days_until_due": None,
        "default_payment_method": default_payment_method,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": (ended_at or canceled_at) if status in ("canceled", "incomplete_expired") else None,
        "items": {
            "object": "list",
            "data": [item],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/subscription_items?subscription={id}",
        },
        "invoice_settings": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": None,
            "footer": None,
            "issuer": {"type": "self"},
        },
        "latest_invoice": latest_invoice,
        "livemode": False,
        "managed_payments": None,
        "metadata": metadata,
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": created,
        "status": status,
        "test_clock": test_clock,
        "transfer_data": None,
        "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": created if trial_end is not None else None,
    }


def plan_of(price: dict[str, Any]) -> dict[str, Any]:
    """The legacy ``plan`` Stripe still shows beside a recurring item's ``price``."""
    recurring = price["recurring"] or {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "interval": recurring.get("interval", "month"),
        "interval_count": recurring.get("interval_count", 1),
        "livemode": price["livemode"],
        "metadata": price["metadata"],
        "meter": None,
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }
