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
    discounts,
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
        "automatic_tax",
        "tax_id_collection",
        "customer_update",
        "discounts",
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
    options = _checkout_options(store, p, customer_id)
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
        "coupon": options["coupon"],
        "promotion_code": options["promotion_code"],
        "automatic_tax": options["automatic_tax"],
    }
    session["allow_promotion_codes"] = options["allow_promotion_codes"]
    session["automatic_tax"]["enabled"] = options["automatic_tax"]
    session["automatic_tax"]["status"] = "requires_location_inputs" if options["automatic_tax"] else None
    if "tax_id_collection" in p:  # an optional field of the object, rendered when asked for
        session["tax_id_collection"] = {"enabled": options["tax_id_collection"], "required": "never"}
    _price_session(store, session, store.checkout_specs[session_id])
    return _checkout_view(store, session, p)


# The stand-in's "automatic tax": one fixed demo rate, whatever the address (its Checkout page
# says so). Stripe Tax would work the rate out from the customer's address.
DEMO_TAX_PERCENT = 10


def _checkout_options(store: Store, p: dict[str, Any], customer_id: str | None) -> dict[str, Any]:
    """``allow_promotion_codes``, ``discounts``, ``automatic_tax``, ``tax_id_collection`` and
    ``customer_update``, checked as Stripe checks them."""
    allow_codes = bool(params.bool_param(p, "allow_promotion_codes", False))
    coupon, promotion_code = None, None
    raw_discounts = p.get("discounts")
    if raw_discounts not in (None, ""):
        if allow_codes:
            raise errors.invalid_parameter(
                "allow_promotion_codes",
                "You may only specify one of these parameters: allow_promotion_codes, discounts.",
            )
        if (
            not isinstance(raw_discounts, list)
            or len(raw_discounts) != 1
            or not isinstance(raw_discounts[0], dict)
        ):
            raise errors.invalid_parameter("discounts", "You may only specify one discount.")
        entry = raw_discounts[0]
        if (coupon_id := params.str_param(entry, "coupon")) is not None:
            coupon = store.found(store.coupons, "coupon", coupon_id, param="discounts[0][coupon]")
        elif (code_id := params.str_param(entry, "promotion_code")) is not None:
            promotion_code = store.found(
                store.promotion_codes, "promotion_code", code_id, param="discounts[0][promotion_code]"
            )
            coupon = store.coupons[promotion_code["promotion"]["coupon"]]
        else:
            raise errors.missing_parameter("discounts[0][coupon]")
    automatic_tax = _enabled(p, "automatic_tax", ("enabled", "liability"))
    tax_ids = _enabled(p, "tax_id_collection", ("enabled", "required"))
    update = p.get("customer_update")
    if update is not None:
        if customer_id is None:
            raise errors.invalid_parameter(
                "customer_update", "`customer_update` can only be used with `customer`."
            )
        if not isinstance(update, dict):
            raise errors.invalid_parameter("customer_update", "Invalid hash", code="parameter_invalid_object")
        for name, value in update.items():
            if name not in ("address", "name", "shipping"):
                raise errors.unknown_parameter(f"customer_update[{name}]")
            if value not in ("auto", "never"):
                raise errors.invalid_parameter(
                    f"customer_update[{name}]",
                    f"Invalid customer_update[{name}]: must be one of auto or never",
                )
    update = update or {}
    customer = store.live_customer(customer_id) if customer_id else None
    saves_address = "auto" in (update.get("address"), update.get("shipping"))
    if automatic_tax and customer is not None and not customer.get("address") and not saves_address:
        raise errors.invalid_parameter(
            "automatic_tax[enabled]",
            "Automatic tax calculation in Checkout requires a valid address on the Customer. Add a valid "
            "address to the Customer or set either `customer_update[address]` to 'auto' or "
            "`customer_update[shipping]` to 'auto' to save the address entered in Checkout to the "
            "Customer.",
        )
    if tax_ids and customer is not None and update.get("name") != "auto":
        raise errors.invalid_parameter(
            "tax_id_collection[enabled]",
            "Tax ID collection requires updating business name on the customer. To enable tax ID "
            "collection for an existing customer, please set `customer_update[name]` to `auto`.",
        )
    return {
        "allow_promotion_codes": allow_codes or None,
        "coupon": coupon["id"] if coupon else None,
        "promotion_code": promotion_code["id"] if promotion_code else None,
        "automatic_tax": automatic_tax,
        "tax_id_collection": tax_ids,
    }


def _enabled(p: dict[str, Any], name: str, allowed: tuple[str, ...]) -> bool:
    value = p.get(name)
    if value is None:
        return False
    if not isinstance(value, dict):
        raise errors.invalid_parameter(name, "Invalid hash", code="parameter_invalid_object")
    for field in value:
        if field not in allowed:
            raise errors.unknown_parameter(f"{name}[{field}]")
    if "enabled" not in value:
        raise errors.missing_parameter(f"{name}[enabled]")
    return bool(params.bool_param(value, "enabled", False))


def checkout_amounts(store: Store, spec: dict[str, Any]) -> dict[str, int]:
    """What the session charges for its period (after any trial): subtotal, discount, tax and total
    (smallest unit)."""
    price = store.prices[spec["price"]]
    subtotal = price["unit_amount"] * spec["quantity"]
    coupon = store.coupons.get(spec.get("coupon") or "")
    discount = discounts.discount_amount(coupon, subtotal) if coupon else 0
    tax = round((subtotal - discount) * DEMO_TAX_PERCENT / 100) if spec.get("automatic_tax") else 0
    return {"subtotal": subtotal, "discount": discount, "tax": tax, "total": subtotal - discount + tax}


def _price_session(store: Store, session: dict[str, Any], spec: dict[str, Any]) -> None:
    amounts = checkout_amounts(store, spec)
    coupon = spec.get("coupon")
    session["amount_subtotal"] = amounts["subtotal"]
    session["amount_total"] = amounts["total"]
    session["discounts"] = (
        [
            {
                "coupon": None if spec.get("promotion_code") else coupon,
                "promotion_code": spec.get("promotion_code"),
            }
        ]
        if coupon
        else []
    )
    session["total_details"] = {
        "amount_discount": amounts["discount"],
        "amount_shipping": 0,
        "amount_tax": amounts["tax"],
    }


def apply_promotion_code(store: Store, session_id: str, code: str) -> str | None:
    """The hosted page's "Apply" of a promotion code: None, or what Stripe's page says."""
    session = store.checkout_sessions[session_id]
    spec = store.checkout_specs[session_id]
    if not session.get("allow_promotion_codes"):
        return "This Checkout Session does not take promotion codes."
    found = discounts.promotion_code_find(store, code)
    if found is None or not store.coupons[found["promotion"]["coupon"]]["valid"]:
        return "This code is invalid."
    spec["coupon"] = found["promotion"]["coupon"]
    spec["promotion_code"] = found["id"]
    _price_session(store, session, spec)
    return None


def _invoice_terms(store: Store, spec: dict[str, Any]) -> dict[str, Any] | None:
    """What the subscription's invoices carry beyond the price: the coupon and the tax."""
    coupon = store.coupons.get(spec.get("coupon") or "")
    if coupon is None and not spec.get("automatic_tax"):
        return None
    invoices_left = None  # forever
    if coupon is not None and coupon["duration"] == "once":
        invoices_left = 1
    elif coupon is not None and coupon["duration"] == "repeating":
        invoices_left = int(coupon["duration_in_months"])
    return {
        "coupon": coupon["id"] if coupon else None,
        "promotion_code": spec.get("promotion_code"),
        "discount_invoices_left": invoices_left,
        "tax_percent": DEMO_TAX_PERCENT if spec.get("automatic_tax") else None,
    }


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
        terms=_invoice_terms(store, spec),
    )
    for used in (
        store.coupons.get(spec.get("coupon") or ""),
        store.promotion_codes.get(spec.get("promotion_code") or ""),
    ):
        if used is not None:
            used["times_redeemed"] += 1
    _price_session(store, session, spec)
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
