"""Coupons and promotion codes: ``/v1/coupons``, ``/v1/promotion_codes``.

A promotion code is the customer-facing code of a coupon (``promotion[coupon]``); Checkout
takes one on its hosted page when the session allows promotion codes, and the subscription's
invoices then carry the coupon's discount for as long as its ``duration`` says.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from stripe_standin import core, errors, params
from stripe_standin.core import Call

if TYPE_CHECKING:
    from stripe_standin.store import Store

DURATIONS = ("once", "repeating", "forever")


def create_coupon_api(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(
        call.params,
        "id",
        "name",
        "percent_off",
        "amount_off",
        "currency",
        "duration",
        "duration_in_months",
        "max_redemptions",
        "redeem_by",
        "metadata",
        "applies_to",
        "currency_options",
        "expand",
    )
    coupon_id = params.str_param(p, "id") or core.new_id("", 8).lstrip("_")
    if coupon_id in store.coupons:
        raise errors.ApiError(400, "Coupon already exists.", code="resource_already_exists", param="id")
    percent = p.get("percent_off")
    amount = params.int_param(p, "amount_off", "amount_off", minimum=1)
    if (percent is None) == (amount is None):
        raise errors.invalid_parameter(
            "percent_off", "You must pass exactly one of `percent_off` or `amount_off`."
        )
    percent_off: float | None = None
    if percent is not None:
        try:
            percent_off = float(percent)
        except (TypeError, ValueError) as e:
            raise errors.invalid_parameter("percent_off", f"Invalid decimal: {percent}") from e
        if not 0 < percent_off <= 100:
            raise errors.invalid_parameter("percent_off", "percent_off must be between 0 and 100.")
    currency = params.str_param(p, "currency")
    if amount is not None and not currency:
        raise errors.missing_parameter("currency")
    duration = params.str_param(p, "duration") or "once"
    if duration not in DURATIONS:
        raise errors.invalid_parameter(
            "duration", "Invalid duration: must be one of forever, once, or repeating"
        )
    months = params.int_param(p, "duration_in_months", "duration_in_months", minimum=1)
    if duration == "repeating" and months is None:
        raise errors.missing_parameter("duration_in_months")
    coupon = {
        "id": coupon_id,
        "object": "coupon",
        "amount_off": amount,
        "applies_to": None,
        "created": core.now(),
        "currency": currency.lower() if currency else None,
        "duration": duration,
        "duration_in_months": months if duration == "repeating" else None,
        "livemode": call.livemode,
        "max_redemptions": params.int_param(p, "max_redemptions", "max_redemptions", minimum=1),
        "metadata": params.metadata_param(p),
        "name": params.str_param(p, "name"),
        "percent_off": percent_off,
        "redeem_by": params.int_param(p, "redeem_by", "redeem_by", minimum=0),
        "times_redeemed": 0,
        "valid": True,
    }
    store.coupons[coupon_id] = coupon
    return coupon


def retrieve_coupon(store: Store, call: Call) -> dict[str, Any]:
    return store.found(store.coupons, "coupon", call.args[0], param="id")


def create_promotion_code_api(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(
        call.params,
        "promotion",
        "code",
        "active",
        "customer",
        "expires_at",
        "max_redemptions",
        "metadata",
        "restrictions",
        "expand",
    )
    promotion = p.get("promotion")
    if not isinstance(promotion, dict):
        raise errors.missing_parameter("promotion")
    if params.str_param(promotion, "type") != "coupon":
        raise errors.invalid_parameter("promotion[type]", "Invalid promotion[type]: must be coupon")
    coupon_id = params.str_param(promotion, "coupon")
    if not coupon_id:
        raise errors.missing_parameter("promotion[coupon]")
    coupon = store.coupons.get(coupon_id)
    if coupon is None:
        raise errors.no_such("coupon", coupon_id, param="promotion[coupon]", status=400)
    code = params.str_param(p, "code") or core.new_id("", 8).lstrip("_").upper()
    if not re.fullmatch(r"[A-Za-z0-9-]+", code):
        raise errors.invalid_parameter(
            "code", "The code may only contain letters (a-z, A-Z), digits (0-9) and dashes (-)."
        )
    active = bool(params.bool_param(p, "active", True))
    if active and promotion_code_find(store, code) is not None:
        raise errors.ApiError(
            400,
            "An active promotion code with `code: " + code + "` already exists.",
            code="resource_already_exists",
            param="code",
        )
    promotion_code_id = core.new_id("promo", 24)
    promotion_code = {
        "id": promotion_code_id,
        "object": "promotion_code",
        "active": active,
        "code": code,
        "created": core.now(),
        "customer": params.str_param(p, "customer"),
        "customer_account": None,
        "expires_at": params.int_param(p, "expires_at", "expires_at", minimum=0),
        "livemode": call.livemode,
        "max_redemptions": params.int_param(p, "max_redemptions", "max_redemptions", minimum=1),
        "metadata": params.metadata_param(p),
        "promotion": {"coupon": coupon_id, "type": "coupon"},
        "restrictions": {
            "currency_options": {},
            "first_time_transaction": False,
            "minimum_amount": None,
            "minimum_amount_currency": None,
        },
        "times_redeemed": 0,
    }
    store.promotion_codes[promotion_code_id] = promotion_code
    return promotion_code


def promotion_code_find(store: Store, code: str) -> dict[str, Any] | None:
    """The active promotion code `code` (case-insensitive, as Stripe matches it), if any."""
    return next(
        (
            pc
            for pc in store.promotion_codes.values()
            if pc["active"] and pc["code"].lower() == code.strip().lower()
        ),
        None,
    )


def list_promotion_codes(store: Store, call: Call) -> dict[str, Any]:
    q = params.allow(
        call.query,
        "active",
        "code",
        "coupon",
        "customer",
        "created",
        "limit",
        "starting_after",
        "ending_before",
        "expand",
    )
    active = params.bool_param(q, "active", None)
    code, coupon = params.str_param(q, "code"), params.str_param(q, "coupon")
    matching = [
        pc
        for pc in params.newest_first(store.promotion_codes.values())
        if (active is None or pc["active"] == active)
        and (code is None or pc["code"].lower() == code.lower())
        and (coupon is None or pc["promotion"]["coupon"] == coupon)
    ]
    return store.expand(params.paginate(matching, q, "/v1/promotion_codes"), q)


def retrieve_promotion_code(store: Store, call: Call) -> dict[str, Any]:
    return store.found(store.promotion_codes, "promotion_code", call.args[0], param="id")


def discount_amount(coupon: dict[str, Any], amount: int) -> int:
    """What the coupon takes off `amount` (never more than it)."""
    if coupon.get("percent_off") is not None:
        return min(amount, round(amount * float(coupon["percent_off"]) / 100))
    return min(amount, int(coupon.get("amount_off") or 0))
