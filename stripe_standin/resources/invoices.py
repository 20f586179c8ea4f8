"""Invoices of subscriptions: ``/v1/invoices``, paying and failing them.

Each invoice is finalized (``open``) when made; paying it reactivates an incomplete or past-due
subscription. Its hosted page and PDF are served by ``stripe_standin.hosted``.
"""

from __future__ import annotations

import copy
import secrets
from typing import TYPE_CHECKING, Any

from stripe_standin import core, errors, params
from stripe_standin.core import Call
from stripe_standin.resources import (
    catalogue,
    discounts,
    subscriptions,
)

if TYPE_CHECKING:
    from stripe_standin.store import Store

INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")


def list_invoices(store: Store, call: Call) -> dict[str, Any]:
    q = params.allow(
        call.query,
        "customer",
        "subscription",
        "status",
        "created",
        "collection_method",
        "due_date",
        "limit",
        "starting_after",
        "ending_before",
        "expand",
    )
    customer, subscription, status = (
        params.str_param(q, "customer"),
        params.str_param(q, "subscription"),
        params.str_param(q, "status"),
    )
    if status is not None and status not in INVOICE_STATUSES:
        raise errors.invalid_parameter(
            "status", "Invalid status: must be one of draft, open, paid, uncollectible, or void"
        )
    if customer is not None and customer not in store.customers:
        raise errors.no_such("customer", customer, param="customer", status=400)
    matching = [
        i
        for i in params.newest_first(store.invoices.values())
        if (customer is None or i["customer"] == customer)
        and (subscription is None or invoice_subscription(i) == subscription)
        and (status is None or i["status"] == status)
        and params.created_matches(i["created"], q)
    ]
    return store.expand(params.paginate(matching, q, "/v1/invoices"), q)


def retrieve_invoice(store: Store, call: Call) -> dict[str, Any]:
    invoice = store.invoices.get(call.args[0])
    if invoice is None:
        raise errors.no_such("invoice", call.args[0], param="id", status=404)
    return store.expand(invoice, call.query)


def pay_invoice_api(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(call.params, "payment_method", "off_session", "paid_out_of_band", "expand")
    invoice = store.invoices.get(call.args[0])
    if invoice is None:
        raise errors.no_such("invoice", call.args[0], param="id", status=404)
    if invoice["status"] != "open":
        raise errors.ApiError(
            400,
            "Invoice is already paid."
            if invoice["status"] == "paid"
            else f"You can only pay an open invoice. This invoice is {invoice['status']}.",
            code="invoice_not_open" if invoice["status"] != "paid" else "invoice_already_paid",
        )
    if invoice["customer"] not in store.payment_methods and not params.bool_param(
        p, "paid_out_of_band", False
    ):
        raise errors.ApiError(
            402,
            "This customer has no attached payment source or default payment method.",
            type="card_error",
            code="invoice_no_customer_line_items",
        )
    return store.expand(pay_invoice(store, invoice["id"]), p)


def create_preview(store: Store, call: Call) -> dict[str, Any]:
    """`POST /v1/invoices/create_preview`: the invoice a subscription change would make, or
    the subscription's next one. Changes nothing.

    With `subscription_details[items]` (the one item, a new price or quantity): for a change
    of interval, the invoice made at once (the new cycle, less the unused time); otherwise the
    next renewal's invoice, with the change's prorations (`always_invoice`: the prorations
    invoiced at once). The amounts are those the change would make at this moment of the
    customer's clock (a test clock's time stands still until advanced)."""
    p = params.allow(call.params, "customer", "subscription", "subscription_details", "expand")
    subscription_id = params.str_param(p, "subscription")
    if not subscription_id:
        raise errors.missing_parameter("subscription")
    subscription = store.found(store.subscriptions, "subscription", subscription_id, param="subscription")
    customer = store.customers[subscription["customer"]]
    customer_id = params.str_param(p, "customer")
    if customer_id is not None and customer_id != customer["id"]:
        raise errors.invalid_parameter("customer", "The subscription does not belong to this customer.")
    if subscription["status"] in core.ENDED:
        raise errors.ApiError(
            400,
            "No upcoming invoices for customer: the subscription has ended.",
            code="invoice_upcoming_none",
        )
    details = p.get("subscription_details") or {}
    if not isinstance(details, dict):
        raise errors.invalid_parameter(
            "subscription_details", "Invalid object", code="parameter_invalid_object"
        )
    for name in details:
        if name not in ("items", "proration_behavior", "proration_date"):
            raise errors.unknown_parameter(f"subscription_details[{name}]")
    behavior = params.str_param(details, "proration_behavior") or "create_prorations"
    if behavior not in ("always_invoice", "create_prorations", "none"):
        raise errors.invalid_parameter(
            "subscription_details[proration_behavior]",
            "Invalid proration_behavior: must be one of always_invoice, create_prorations, or none",
        )
    old = store.subscription_specs[subscription_id]
    new = dict(old)
    items = details.get("items")
    if items is not None:
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
            raise errors.invalid_parameter(
                "subscription_details[items]", "The stand-in supports changing the one item only."
            )
        item = items[0]
        for name in item:
            if name not in ("id", "price", "quantity"):
                raise errors.unknown_parameter(f"subscription_details[items][0][{name}]")
        if params.str_param(item, "id") != old["item_id"]:
            raise errors.invalid_parameter(
                "subscription_details[items][0][id]",
                f"The subscription item `{item.get('id')}` does not belong to the subscription "
                f"`{old['id']}`.",
            )
        if (price_id := params.str_param(item, "price")) is not None:
            price = catalogue.recurring_price(store, price_id, "subscription_details[items][0][price]")
            if price["currency"] != old["currency"]:
                raise errors.invalid_parameter(
                    "subscription_details[items][0][price]",
                    "The price specified has a different currency than the existing items on this "
                    "subscription.",
                )
            new["price_id"] = price_id
        quantity = params.int_param(item, "quantity", "subscription_details[items][0][quantity]", minimum=0)
        if quantity is not None:
            new["quantity"] = quantity
    change = subscriptions.plan_change(store, old, new, behavior=behavior)
    after = subscriptions.subscription_object(
        id=old["id"],
        item_id=old["item_id"],
        customer=old["customer"],
        status=old["status"],
        price=copy.deepcopy(store.prices[change.spec["price_id"]]),
        quantity=int(change.spec["quantity"]),
        current_period_start=int(change.spec["current_period_start"]),
        current_period_end=int(change.spec["current_period_end"]),
        cancel_at_period_end=bool(old["cancel_at_period_end"]),
        trial_end=old["trial_end"],
        canceled_at=None,
        created=old["created"],
        metadata=old["metadata"],
    )
    pending = copy.deepcopy(store.pending_lines.get(subscription_id, []))
    amount = int(change.spec["unit_amount"]) * int(change.spec["quantity"])
    if change.new_cycle:
        lines = [*pending, *change.lines, period_line(after, amount)]  # a new cycle, billed now
        created = store.now_of(customer["id"])
    elif change.invoice_now:
        lines = change.lines  # `always_invoice`: the prorations alone, now
        created = store.now_of(customer["id"])
    else:
        if old["cancel_at_period_end"]:
            raise errors.ApiError(
                400,
                "No upcoming invoices for customer: the subscription is set to cancel.",
                code="invoice_upcoming_none",
            )
        # The next renewal: the period after this one, at the (new) price.
        start = int(old["current_period_end"])
        nxt = subscriptions.period_end(
            start, change.spec["interval"], int(change.spec.get("interval_count", 1))
        )
        upcoming = copy.deepcopy(after)
        upcoming["items"]["data"][0].update(current_period_start=start, current_period_end=nxt)
        lines = [*pending, *change.lines, period_line(upcoming, amount)]
        created = start
    invoice = invoice_object(
        id=None,
        number=None,
        customer=dict(customer),
        subscription=subscription,
        lines=lines,
        billing_reason="subscription_update" if change.invoice_now else "upcoming",
        hosted_url=None,
        pdf_url=None,
        created=created,
        apply_balance=False,
    )
    invoice["status"] = "draft"
    invoice["status_transitions"]["finalized_at"] = None
    return store.expand(invoice, p)


def new_invoice(
    store: Store,
    subscription_id: str,
    amount: int,
    reason: str,
    *,
    base_url: str | None,
    prorations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A finalized invoice for the subscription's period (`amount`, none when None), after the
    proration lines waiting for it (and `prorations`); the customer's credit balance pays
    what it can, and a negative total becomes credit."""
    subscription = store.subscriptions[subscription_id]
    customer = store.customers[subscription["customer"]]
    store.invoice_number += 1
    token = secrets.token_urlsafe(18)
    base = base_url or store.base_url
    invoice_id = core.new_id("in", 24)
    lines = [*store.pending_lines.pop(subscription_id, []), *(prorations or [])]
    lines.append(period_line(subscription, amount))
    invoice = invoice_object(
        id=invoice_id,
        number=f"{customer['invoice_prefix']}-{store.invoice_number:04d}",
        customer=customer,
        subscription=subscription,
        lines=lines,
        billing_reason=reason,
        hosted_url=f"{base}/i/{token}",
        pdf_url=f"{base}/i/{token}/pdf",
        created=store.now_of(customer["id"]),
    )
    _apply_terms(store, invoice, subscription_id)
    store.invoices[invoice_id] = invoice
    store.invoice_tokens[token] = invoice_id
    store.emit("invoice.created", invoice)
    store.emit("invoice.finalized", invoice)
    subscriptions.update_subscription(store, subscription_id, {"latest_invoice": invoice_id})
    return invoice


def _apply_terms(store: Store, invoice: dict[str, Any], subscription_id: str) -> None:
    """A coupon's discount and the tax, on the invoice and its line, as Stripe totals them:
    ``total = subtotal - discount + tax`` (tax exclusive, on the discounted amount)."""
    terms = store.invoice_terms.get(subscription_id)
    if not terms:
        return
    line = invoice["lines"]["data"][-1]  # the period's line (proration lines come first)
    subtotal = int(invoice["subtotal"])
    discount = 0
    coupon = store.coupons.get(terms.get("coupon") or "")
    if coupon is not None and terms["discount_invoices_left"] != 0:
        discount = discounts.discount_amount(coupon, subtotal)
        discount_id = core.new_id("di", 24)
        amounts = [{"amount": discount, "discount": discount_id}]
        invoice.update(discounts=[discount_id], total_discount_amounts=amounts)
        line.update(discounts=[discount_id], discount_amounts=copy.deepcopy(amounts))
        if terms["discount_invoices_left"] is not None:
            terms["discount_invoices_left"] -= 1
    taxable = subtotal - discount
    tax = 0
    if terms.get("tax_percent") is not None:
        tax = round(taxable * int(terms["tax_percent"]) / 100)
        taxes = [
            {
                "amount": tax,
                "tax_behavior": "exclusive",
                "tax_rate_details": {"tax_rate": "txr_standin_demo"},
                "taxability_reason": "standard_rated",
                "taxable_amount": taxable,
                "type": "tax_rate_details",
            }
        ]
        invoice.update(total_taxes=taxes)
        line.update(taxes=copy.deepcopy(taxes))
        invoice["automatic_tax"].update(enabled=True, status="complete")
    total = taxable + tax
    # The customer's credit balance pays what it can of the new total (`invoice_object` took it
    # against the total before discount and tax): take that back and apply it again.
    starting = int(invoice["starting_balance"])
    ending = starting + total
    customer = store.customers[invoice["customer"]]
    customer["balance"] = int(customer.get("balance") or 0) - int(invoice["ending_balance"]) + min(0, ending)
    invoice.update(
        total_excluding_tax=taxable,
        total=total,
        amount_due=max(0, ending),
        amount_remaining=max(0, ending),
        ending_balance=min(0, ending),
    )


def period_line(subscription: dict[str, Any], amount: int) -> dict[str, Any]:
    """The invoice line of the subscription's current period at its price."""
    item = subscription["items"]["data"][0]
    price = item["price"]
    return line_object(
        subscription,
        amount=amount,
        description=f"{item['quantity']} \u00d7 {price['nickname'] or price['product']}",
        price=price,
        quantity=int(item["quantity"]),
        start=item["current_period_start"],
        end=item["current_period_end"],
        proration=False,
    )


def line_object(
    subscription: dict[str, Any],
    *,
    amount: int,
    description: str,
    price: dict[str, Any],
    quantity: int,
    start: int,
    end: int,
    proration: bool,
) -> dict[str, Any]:
    item = subscription["items"]["data"][0]
    return {
        "id": core.new_id("il"),
        "object": "line_item",
        "amount": amount,
        "currency": price["currency"],
        "description": description,
        "discount_amounts": [],
        "discountable": not proration,
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": {},
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": core.new_id("ii", 24) if proration else None,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": subscription["id"],
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        "period": {"end": end, "start": start},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details",
            "unit_amount_decimal": price["unit_amount_decimal"],
        },
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "subscription": None,  # under `parent` since API version 2025-03-31
        "subtotal": amount,
        "taxes": [],
    }


def pay_invoice(store: Store, invoice_id: str) -> dict[str, Any]:
    invoice = store.invoices[invoice_id]
    if invoice["status"] != "open":
        raise ValueError(f"invoice {invoice_id} is {invoice['status']}, not open")
    now = core.now()
    invoice.update(
        status="paid",
        amount_paid=invoice["amount_due"],
        amount_remaining=0,
        attempted=True,
        attempt_count=invoice["attempt_count"] + (1 if invoice["amount_due"] else 0),
        next_payment_attempt=None,
    )
    invoice["status_transitions"]["paid_at"] = now
    store.emit("invoice.paid", invoice)
    store.emit("invoice.payment_succeeded", invoice)
    subscription_id = invoice_subscription(invoice)
    spec = store.subscription_specs.get(subscription_id or "")
    if spec is not None and spec["status"] in ("incomplete", "past_due", "unpaid"):
        subscriptions.update_subscription(store, spec["id"], {"status": "active"})
    return invoice


def fail_invoice(store: Store, invoice_id: str) -> dict[str, Any]:
    invoice = store.invoices[invoice_id]
    invoice.update(
        attempted=True,
        attempt_count=invoice["attempt_count"] + 1,
        next_payment_attempt=core.now() + 3 * core.DAY,
    )
    store.emit("invoice.payment_failed", invoice)
    return invoice


def bill(
    store: Store,
    subscription_id: str,
    *,
    reason: str,
    base_url: str | None,
    succeed: bool,
    prorations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    spec = store.subscription_specs[subscription_id]
    invoice = new_invoice(
        store,
        subscription_id,
        int(spec["unit_amount"]) * int(spec["quantity"]),
        reason,
        base_url=base_url,
        prorations=prorations,
    )
    if succeed and (invoice["amount_due"] == 0 or store.card_charges(spec["customer"])):
        return pay_invoice(store, invoice["id"])
    return fail_invoice(store, invoice["id"])


def invoice_subscription(invoice: dict[str, Any]) -> str | None:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    value = details.get("subscription")
    return value if isinstance(value, str) else None


def invoice_object(
    *,
    id: str | None,
    number: str | None,
    customer: dict[str, Any],
    subscription: dict[str, Any],
    lines: list[dict[str, Any]],
    billing_reason: str,
    hosted_url: str | None,
    pdf_url: str | None,
    created: int,
    apply_balance: bool = True,
) -> dict[str, Any]:
    """A finalized (open) invoice of `lines`; ``pay`` it to mark it paid. The customer's
    credit balance (negative) pays what it can; a negative total adds to it."""
    price = subscription["items"]["data"][0]["price"]
    for line in lines:
        line["invoice"] = id
    total = sum(int(line["amount"]) for line in lines)
    starting = int(customer.get("balance") or 0)
    ending = starting + total
    amount = max(0, ending)
    if apply_balance:
        customer["balance"] = min(0, ending)
    period_start, period_end = lines[-1]["period"]["start"], lines[-1]["period"]["end"]
    return {
        "id": id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Stripe stand-in",
        "account_tax_ids": None,
        "amount_due": amount,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": amount,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "automatically_finalizes_at": None,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": price["currency"],
        "custom_fields": None,
        "customer": customer["id"],
        "customer_account": None,
        "customer_address": None,
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "customer_phone": customer.get("phone"),
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": created,
        "ending_balance": min(0, ending),
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": hosted_url,
        "invoice_pdf": pdf_url,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": False,
            "total_count": len(lines),
            "url": f"/v1/invoices/{id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": number,
        "on_behalf_of": None,
        "parent": {
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(subscription["metadata"]),
                "subscription": subscription["id"],
            },
            "type": "subscription_details",
        },
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": period_end,
        "period_start": period_start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": starting,
        "statement_descriptor": None,
        "status": "open",
        # Moved under `parent.subscription_details` by API version 2025-03-31; null since.
        "subscription": None,
        "status_transitions": {
            "finalized_at": created,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "test_clock": customer.get("test_clock"),
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }
