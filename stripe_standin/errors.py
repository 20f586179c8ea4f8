"""Stripe's error answers: ``{"error": {"type", "code", "param", "message", "doc_url"}}``.

Every error the stand-in answers is made here, with Stripe's type, code, param and wording
(the wording matters: clients match on some of it).
"""

from __future__ import annotations

import re
from typing import Any

_KEY_PREFIX = re.compile(r"^(?:sk|rk|pk)_(?:test|live)_")

PORTAL_NOT_CONFIGURED = (
    # Like real Stripe, "can\u2019t" has a typographic apostrophe (U+2019), not "'".
    "You can\u2019t create a portal session in {mode} mode until you save your "
    "customer portal settings in {mode} mode at "
    "https://dashboard.stripe.com/{path}settings/billing/portal."
)


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
