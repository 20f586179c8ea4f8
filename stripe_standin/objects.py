"""Stripe-shaped JSON objects and error bodies produced by the stand-in.

Shapes follow the Stripe API reference for API versions 2025-03-31 and later
(``current_period_start``/``current_period_end`` live on subscription items).
Only fields a typical integration reads are filled in meaningfully; the rest
carry Stripe's defaults so that SDK objects behave like the real ones.
"""

from __future__ import annotations

import random
import re
import string
import time
from typing import Any

_ALPHABET = string.ascii_letters + string.digits
_rng = random.Random()  # ids only need to be unique, not secret

API_KEY = re.compile(r"^(?:sk|rk)_(?:test|live)_[A-Za-z0-9_]+$")
_KEY_PREFIX = re.compile(r"^(?:sk|rk|pk)_(?:test|live)_")

PORTAL_NOT_CONFIGURED = (
    # Like real Stripe, "can\u2019t" has a typographic apostrophe (U+2019), not "'".
    "You can\u2019t create a portal session in {mode} mode until you save your "
    "customer portal settings in {mode} mode at "
    "https://dashboard.stripe.com/{path}settings/billing/portal."
)


def new_id(prefix: str, length: int = 14) -> str:
    return prefix + "_" + "".join(_rng.choices(_ALPHABET, k=length))


def now() -> int:
    return int(time.time())


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer: ``{"error": {...}}`` with an HTTP status.

    ``saved`` tells the idempotency layer whether real Stripe would store the
    answer under the request's Idempotency-Key (it does not for requests that
    fail validation before the endpoint starts executing).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        saved: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error: dict[str, Any] = {"message": message, "type": type}
        if code is not None:
            self.error["code"] = code
            self.error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param is not None:
            self.error["param"] = param
        self.saved = saved
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.error}


def mask_key(key: str) -> str:
    """Mask an API key the way Stripe echoes it: prefix, stars, last four."""
    match = _KEY_PREFIX.match(key)
    prefix = match.group(0) if match else ""
    if len(key) - len(prefix) <= 4:
        return prefix + "*" * (len(key) - len(prefix))
    return prefix + "*" * (len(key) - len(prefix) - 4) + key[-4:]


def authentication_error(key: str | None) -> ApiError:
    if not key:
        message = (
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for "
            "details, or we can help at https://support.stripe.com/."
        )
    else:
        message = f"Invalid API Key provided: {mask_key(key)}"
    return ApiError(401, message, saved=False, headers={"WWW-Authenticate": 'Basic realm="Stripe"'})


def unknown_parameter(name: str) -> ApiError:
    return ApiError(
        400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name, saved=False
    )


def missing_parameter(name: str) -> ApiError:
    return ApiError(
        400, f"Missing required param: {name}.", code="parameter_missing", param=name, saved=False
    )


def invalid_parameter(name: str, message: str, code: str = "parameter_invalid_string") -> ApiError:
    return ApiError(400, message, code=code, param=name, saved=False)


def no_such(kind: str, object_id: str, *, param: str, status: int) -> ApiError:
    return ApiError(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def unrecognized_url(method: str, path: str) -> ApiError:
    return ApiError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
        saved=False,
    )


def portal_not_configured(livemode: bool) -> ApiError:
    mode, path = ("live", "") if livemode else ("test", "test/")
    return ApiError(400, PORTAL_NOT_CONFIGURED.format(mode=mode, path=path))


def rate_limited() -> ApiError:
    return ApiError(
        429,
        "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
        code="rate_limit",
        saved=False,
    )


def internal_error() -> ApiError:
    return ApiError(500, "An unknown error occurred", type="api_error", saved=False)


def idempotency_mismatch(key: str) -> ApiError:
    return ApiError(
        400,
        "Keys for idempotent requests can only be used with the same parameters they "
        f"were first used with. Try using a key other than '{key}' if you meant to "
        "execute a different request.",
        type="idempotency_error",
        saved=False,
    )


def idempotency_endpoint_mismatch(key: str, first: str, this: str) -> ApiError:
    return ApiError(
        400,
        "Keys for idempotent requests can only be used for the same endpoint they were "
        f"first used for ('{first}' vs '{this}'). Try using a key other than '{key}' "
        "if you meant to execute a different request.",
        type="idempotency_error",
        saved=False,
    )


def idempotency_in_progress(key: str) -> ApiError:
    return ApiError(
        409,
        "There is currently another in-progress request using this Idempotent Key "
        "(that probably means you submitted twice, and the other request is still "
        f"going through): {key}. Please try again later.",
        type="idempotency_error",
        saved=False,
        headers={"Stripe-Should-Retry": "true"},
    )


# --------------------------------------------------------------------------
# Objects
# --------------------------------------------------------------------------


def customer_object(
    *,
    id: str,
    name: str | None,
    email: str | None,
    description: str | None,
    phone: str | None,
    metadata: dict[str, str],
    livemode: bool,
) -> dict[str, Any]:
    return {
        "id": id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": description,
        "discount": None,
        "email": email,
        "invoice_prefix": "".join(_rng.choices(string.ascii_uppercase + string.digits, k=8)),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": livemode,
        "metadata": metadata,
        "name": name,
        "next_invoice_sequence": 1,
        "phone": phone,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def deleted_customer(customer_id: str) -> dict[str, Any]:
    return {"id": customer_id, "object": "customer", "deleted": True}


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
    created = created or now()
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
        "created": now(),
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


def feature_object(
    *, feature_id: str, name: str, lookup_key: str, metadata: dict[str, str], livemode: bool = False
) -> dict[str, Any]:
    return {
        "id": feature_id,
        "object": "entitlements.feature",
        "active": True,
        "livemode": livemode,
        "lookup_key": lookup_key,
        "metadata": metadata,
        "name": name,
    }


def product_feature_object(pf_id: str, feature: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": pf_id,
        "object": "product_feature",
        "entitlement_feature": feature,
        "livemode": feature["livemode"],
    }


def active_entitlement_object(ent_id: str, feature: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": ent_id,
        "object": "entitlements.active_entitlement",
        "feature": feature["id"],
        "livemode": feature["livemode"],
        "lookup_key": feature["lookup_key"],
    }


def entitlement_summary_object(customer: str, entitlements: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "entitlements.active_entitlement_summary",
        "customer": customer,
        "entitlements": {
            "object": "list",
            "data": entitlements,
            "has_more": False,
            "url": f"/v1/customer/{customer}/entitlements",
        },
        "livemode": False,
    }


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
) -> dict[str, Any]:
    item = {
        "id": item_id,
        "object": "subscription_item",
        "created": created,
        "current_period_end": current_period_end,
        "current_period_start": current_period_start,
        "metadata": {},
        "price": price,
        "quantity": quantity,
        "subscription": id,
        "tax_rates": [],
    }
    return {
        "id": id,
        "object": "subscription",
        "billing_cycle_anchor": current_period_start,
        "cancel_at": current_period_end if cancel_at_period_end else None,
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": canceled_at,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": price["currency"],
        "customer": customer,
        "default_payment_method": default_payment_method,
        "ended_at": (ended_at or canceled_at) if status in ("canceled", "incomplete_expired") else None,
        "items": {
            "object": "list",
            "data": [item],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/subscription_items?subscription={id}",
        },
        "latest_invoice": latest_invoice,
        "livemode": False,
        "metadata": metadata,
        "start_date": created,
        "status": status,
        "trial_end": trial_end,
        "trial_start": created if trial_end is not None else None,
    }


def list_object(data: list[dict[str, Any]], url: str, has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


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
        "consent": None,
        "consent_collection": None,
        "created": now(),
        "currency": currency,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": customer,
        "customer_creation": None if customer else "if_required",
        "customer_details": None,
        "customer_email": customer_email,
        "discounts": [],
        "expires_at": expires_at,
        "invoice": None,
        "invoice_creation": None,
        "livemode": livemode,
        "locale": locale,
        "metadata": metadata,
        "mode": "subscription",
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always",
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
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
    }


def invoice_object(
    *,
    id: str,
    number: str,
    customer: dict[str, Any],
    subscription: dict[str, Any],
    amount: int,
    billing_reason: str,
    period_start: int,
    period_end: int,
    hosted_url: str,
    pdf_url: str,
) -> dict[str, Any]:
    """A finalized (open) invoice for the subscription's one item; ``pay`` it to mark it paid."""
    created = now()
    item = subscription["items"]["data"][0]
    price = item["price"]
    quantity = int(item["quantity"])
    line = {
        "id": new_id("il"),
        "object": "line_item",
        "amount": amount,
        "currency": price["currency"],
        "description": f"{quantity} \u00d7 {price['nickname'] or price['product']}",
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": id,
        "livemode": False,
        "metadata": {},
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription["id"],
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        "period": {"end": period_end, "start": period_start},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details",
            "unit_amount_decimal": price["unit_amount_decimal"],
        },
        "quantity": quantity,
        "subtotal": amount,
        "taxes": [],
    }
    return {
        "id": id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Stripe stand-in",
        "amount_due": amount,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": amount,
        "amount_shipping": 0,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
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
        "ending_balance": 0,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": hosted_url,
        "invoice_pdf": pdf_url,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": [line],
            "has_more": False,
            "total_count": 1,
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
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "open",
        "status_transitions": {
            "finalized_at": created,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": amount,
        "subtotal_excluding_tax": amount,
        "test_clock": None,
        "total": amount,
        "total_discount_amounts": [],
        "total_excluding_tax": amount,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }


def event_object(
    type: str,
    data_object: dict[str, Any],
    previous_attributes: dict[str, Any] | None,
    *,
    api_version: str,
    request_id: str | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"object": data_object}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": new_id("evt", 24),
        "object": "event",
        "api_version": api_version,
        "created": now(),
        "data": data,
        "livemode": bool(data_object.get("livemode", False)),
        "pending_webhooks": 1,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": type,
    }
