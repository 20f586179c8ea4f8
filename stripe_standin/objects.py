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


def product_object(product_id: str, name: str) -> dict[str, Any]:
    return {
        "id": product_id,
        "object": "product",
        "active": True,
        "created": now(),
        "description": None,
        "livemode": False,
        "metadata": {},
        "name": name,
        "type": "service",
    }


def price_object(
    *, price_id: str, product: str, nickname: str | None, unit_amount: int, currency: str, interval: str
) -> dict[str, Any]:
    return {
        "id": price_id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": now(),
        "currency": currency,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": nickname,
        "product": product,
        "recurring": {
            "interval": interval,
            "interval_count": 1,
            "meter": None,
            "usage_type": "licensed",
        },
        "tax_behavior": "unspecified",
        "type": "recurring",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
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
        "default_payment_method": None,
        "ended_at": canceled_at if status == "canceled" else None,
        "items": {
            "object": "list",
            "data": [item],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/subscription_items?subscription={id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "metadata": metadata,
        "start_date": created,
        "status": status,
        "trial_end": trial_end,
        "trial_start": created if trial_end is not None else None,
    }


def list_object(data: list[dict[str, Any]], url: str, has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}
