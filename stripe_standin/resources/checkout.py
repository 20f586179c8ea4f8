"""Checkout sessions (subscription mode, one line item): ``/v1/checkout/sessions``.

Paying (``complete_checkout``, the hosted page's Pay button) starts the subscription and its
first invoice; sessions past ``expires_at`` expire on their own.
"""

from __future__ import annotations

import copy
import hashlib
from typing import TYPE_CHECKING, Any

from stripe_standin import core, errors, params
from stripe_standin.core import Call
from stripe_standin.resources import (
    catalogue,
    customers,
    subscriptions,
)

if TYPE_CHECKING:
    from stripe_standin.store import Store


def create_checkout_session(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(
        call.params,
        "mode",
        "customer",
        "customer_email",
        "line_items",
        "success_url",
        "cancel_url",
        "client_reference_id",
        "metadata",
        "subscription_data",
        "expires_at",
        "locale",
        "allow_promotion_codes",
        "payment_method_types",
        "billing_address_collection",
        "ui_mode",
        "payment_method_collection",
        "expand",
    )
    mode = params.str_param(p, "mode")
    if not mode:
        raise errors.missing_parameter("mode")
    if mode not in ("payment", "setup", "subscription"):
        raise errors.invalid_parameter("mode", "Invalid mode: must be one of payment, setup, or subscription")
    if mode != "subscription":
        raise errors.invalid_parameter("mode", "The stand-in only supports Checkout in `subscription` mode.")
    customer_id = params.str_param(p, "customer")
    if customer_id is not None and store.live_customer(customer_id) is None:
        raise errors.no_such("customer", customer_id, param="customer", status=400)
    if customer_id is not None and "customer_email" in p:
        raise errors.invalid_parameter(
            "customer_email", "You may only specify one of these parameters: customer, customer_email."
        )
    for name in ("success_url", "cancel_url"):
        if (url := params.str_param(p, name)) is not None:
            params.check_url(url, name)
    items = p.get("line_items")
    if not isinstance(items, list) or not items:
        raise errors.invalid_parameter(
            "line_items",
            "You must provide at least one recurring price in `subscription` mode when using prices.",
        )
    lines = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise errors.invalid_parameter(
                f"line_items[{n}]", "Invalid object", code="parameter_invalid_object"
            )
        for name in item:
            if name not in ("price", "quantity", "adjustable_quantity", "tax_rates"):
                raise errors.unknown_parameter(f"line_items[{n}][{name}]")
        price_id = params.str_param(item, "price")
        if not price_id:
            raise errors.missing_parameter(f"line_items[{n}][price]")
        price = catalogue.recurring_price(store, price_id, f"line_items[{n}][price]")
        quantity = params.int_param(item, "quantity", f"line_items[{n}][quantity]", minimum=1)
        if quantity is None:
            raise errors.missing_parameter(f"line_items[{n}][quantity]")
        lines.append((price, quantity))
    if len(lines) > 1:
        raise errors.invalid_parameter("line_items", "The stand-in supports one line item per session.")
    data = p.get("subscription_data") or {}
    if not isinstance(data, dict):
        raise errors.invalid_parameter("subscription_data", "Invalid hash", code="parameter_invalid_object")
    for name in data:
        if name not in ("metadata", "trial_period_days", "description", "trial_settings"):
            raise errors.unknown_parameter(f"subscription_data[{name}]")
    trial_days = params.int_param(
        data, "trial_period_days", "subscription_data[trial_period_days]", minimum=1
    )
    if trial_days is not None and trial_days > 730:
        raise errors.invalid_parameter(
            "subscription_data[trial_period_days]",
            "The maximum number of trial period days is 730 (2 years).",
        )
    sub_metadata = params.metadata_param(data)
    now = core.now()
    expires_at = params.int_param(p, "expires_at", "expires_at", minimum=0)
    if expires_at is None:
        expires_at = now + core.DAY
    elif expires_at < now + 30 * 60 - 5:
        raise errors.invalid_parameter(
            "expires_at",
            "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
        )
    elif expires_at > now + core.DAY + 5:
        raise errors.invalid_parameter(
            "expires_at",
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
        )
    price, quantity = lines[0]
    session_id = core.new_id("cs_test", 58)
    session = checkout_session_object(
        id=session_id,
        url=f"{call.base_url}/c/pay/{session_id}",
        customer=customer_id,
        customer_email=params.str_param(p, "customer_email"),
        currency=price["currency"],
        amount=price["unit_amount"] * quantity,
        success_url=params.str_param(p, "success_url"),
        cancel_url=params.str_param(p, "cancel_url"),
        client_reference_id=params.str_param(p, "client_reference_id"),
        metadata=params.metadata_param(p),
        expires_at=expires_at,
        livemode=call.livemode,
        locale=params.str_param(p, "locale"),
    )
    store.checkout_sessions[session_id] = session
    store.checkout_specs[session_id] = {
        "price": price["id"],
        "quantity": quantity,
        "trial_period_days": trial_days,
        "metadata": sub_metadata,
        "base_url": call.base_url,
        "declines": 0,
    }
    return _checkout_view(store, session, p)


def _checkout_view(store: Store, session: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    expand = params.get("expand") or []
    paths = [expand] if isinstance(expand, str) else list(expand)
    if "line_items" in paths:
        session = copy.deepcopy(session)
        session["line_items"] = _checkout_line_items(store, session["id"])
        paths.remove("line_items")
    return store.expand(session, {"expand": paths})


def _checkout_line_items(store: Store, session_id: str) -> dict[str, Any]:
    spec = store.checkout_specs[session_id]
    price = copy.deepcopy(store.prices[spec["price"]])
    amount = price["unit_amount"] * spec["quantity"]
    product = store.products.get(price["product"], {})
    line = {
        "id": "li_" + hashlib.sha256(session_id.encode()).hexdigest()[:24],
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "currency": price["currency"],
        "description": product.get("name", price["product"]),
        "price": price,
        "quantity": spec["quantity"],
    }
    return core.list_object([line], f"/v1/checkout/sessions/{session_id}/line_items", has_more=False)


def sweep_checkout_sessions(store: Store) -> None:
    """Expire open sessions past their ``expires_at``, as Stripe does on its own."""
    now = core.now()
    for session in store.checkout_sessions.values():
        if session["status"] == "open" and session["expires_at"] <= now:
            expire_checkout(store, session["id"])


def retrieve_checkout_session(store: Store, call: Call) -> dict[str, Any]:
    sweep_checkout_sessions(store)
    return _checkout_view(store, _checkout_or_404(store, call.args[0]), call.query)


def list_checkout_line_items(store: Store, call: Call) -> dict[str, Any]:
    q = params.allow(call.query, "limit", "starting_after", "ending_before", "expand")
    _checkout_or_404(store, call.args[0])
    return store.expand(_checkout_line_items(store, call.args[0]), q)


def list_checkout_sessions(store: Store, call: Call) -> dict[str, Any]:
    q = params.allow(
        call.query,
        "customer",
        "status",
        "subscription",
        "payment_intent",
        "payment_link",
        "customer_details",
        "created",
        "limit",
        "starting_after",
        "ending_before",
        "expand",
    )
    sweep_checkout_sessions(store)
    customer, status, subscription = (
        params.str_param(q, "customer"),
        params.str_param(q, "status"),
        params.str_param(q, "subscription"),
    )
    if status is not None and status not in ("open", "complete", "expired"):
        raise errors.invalid_parameter("status", "Invalid status: must be one of complete, expired, or open")
    matching = [
        s
        for s in params.newest_first(store.checkout_sessions.values())
        if (customer is None or s["customer"] == customer)
        and (status is None or s["status"] == status)
        and (subscription is None or s["subscription"] == subscription)
        and params.created_matches(s["created"], q)
    ]
    return store.expand(params.paginate(matching, q, "/v1/checkout/sessions"), q)


def expire_checkout_session(store: Store, call: Call) -> dict[str, Any]:
    params.allow(call.params, "expand")
    sweep_checkout_sessions(store)
    session = _checkout_or_404(store, call.args[0])
    if session["status"] != "open":
        raise errors.ApiError(
            400,
            'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has '
            f"a status of `{session['status']}`.",
        )
    return _checkout_view(store, expire_checkout(store, session["id"]), call.params)


def expire_checkout(store: Store, session_id: str) -> dict[str, Any]:
    session = store.checkout_sessions[session_id]
    if session["status"] != "open":
        raise ValueError(f"checkout session {session_id} is {session['status']}, not open")
    session.update(status="expired", url=None)
    store.emit("checkout.session.expired", session)
    return session


def complete_checkout(store: Store, session_id: str) -> dict[str, Any]:
    """Pay: the subscription, its first (paid) invoice, then the completed session."""
    sweep_checkout_sessions(store)
    session = store.checkout_sessions.get(session_id)
    if session is None:
        raise KeyError(f"No such checkout session: {session_id!r}")
    if session["status"] != "open":
        raise ValueError(f"checkout session {session_id} is {session['status']}, not open")
    spec = store.checkout_specs[session_id]
    customer_id = session["customer"]
    if customer_id is None or store.live_customer(customer_id) is None:
        customer_id = customers.put_customer(
            store,
            customers.customer_object(
                id=core.new_id("cus"),
                name=None,
                email=session["customer_email"],
                description=None,
                phone=None,
                metadata={},
                livemode=session["livemode"],
            ),
        )["id"]
    customers.save_card(store, customer_id)
    subscription, invoice = subscriptions.start_subscription(
        store,
        customer_id,
        spec["price"],
        quantity=spec["quantity"],
        metadata=spec["metadata"],
        trial_days=spec["trial_period_days"],
        base_url=spec["base_url"],
    )
    customer = store.customers[customer_id]
    session.update(
        status="complete",
        payment_status="paid" if invoice["amount_paid"] > 0 else "no_payment_required",
        customer=customer_id,
        subscription=subscription["id"],
        invoice=invoice["id"],
        url=None,
        customer_details={
            "address": None,
            "business_name": None,
            "email": customer.get("email"),
            "individual_name": None,
            "name": customer.get("name"),
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        },
    )
    store.emit("checkout.session.completed", session)
    return session


def decline_checkout(store: Store, session_id: str) -> dict[str, Any]:
    session = store.checkout_sessions[session_id]
    store.checkout_specs[session_id]["declines"] += 1
    return session


def _checkout_or_404(store: Store, session_id: str) -> dict[str, Any]:
    return store.found(store.checkout_sessions, "checkout.session", session_id, param="session")


def checkout_session_object(
    *,
    id: str,
    url: str,
    customer: str | None,
    customer_email: str | None,
    currency: str,
    amount: int,
    success_url: str | None,
    cancel_url: str | None,
    client_reference_id: str | None,
    metadata: dict[str, str],
    expires_at: int,
    livemode: bool,
    locale: str | None,
) -> dict[str, Any]:
    return {
        "id": id,
        "object": "checkout.session",
        "adaptive_pricing": None,
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount,
        "amount_total": amount,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": cancel_url,
        "client_reference_id": client_reference_id,
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": core.now(),
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": customer,
        "customer_account": None,
        "customer_creation": None if customer else "if_required",
        "customer_details": None,
        "customer_email": customer_email,
        "discounts": [],
        "expires_at": expires_at,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": None,
        "livemode": livemode,
        "locale": locale,
        "managed_payments": None,
        "metadata": metadata,
        "mode": "subscription",
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always",
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": url,
        "wallet_options": None,
    }
