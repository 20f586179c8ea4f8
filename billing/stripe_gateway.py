"""The one module that talks to Stripe.

Anything that calls Stripe goes here: one configured client (key, pinned API version,
optional local base URL, timeouts, retries, kept-alive connections) and one small function
per Stripe call. Stripe's exceptions are turned into `billing.errors` here, so the rest of
the project never imports `stripe`.

Be careful changing the error mapping: the API's status codes and the page's messages, and
the decision to re-create a customer, all hang on it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import stripe
from django.conf import settings

from billing.errors import (
    BillingError,
    BillingNotConfigured,
    BillingUnavailable,
    CustomerMissing,
)

logger = logging.getLogger(__name__)

# The API version this SDK release is generated against: request and response shapes
# (subscription periods on items, for instance) follow it. Upgrade the SDK and this together.
STRIPE_API_VERSION = "2026-10-28.endive"

# Stripe reports "no portal configuration saved" as an invalid_request_error without a code.
_PORTAL_NOT_CONFIGURED_HINTS = ("customer portal settings", "No such configuration")
# Connect timeout is short (an unreachable Stripe should fail fast); the read timeout leaves
# room for Stripe's own slow answers while a person waits.
_CONNECT_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class PortalSession:
    id: str
    url: str


@functools.lru_cache(maxsize=4)
def _client_for(api_key: str, api_base: str, read_timeout: float, max_retries: int) -> stripe.StripeClient:
    # One client per configuration, shared by every thread of the process: its requests
    # session is per thread, so each thread keeps its own connection to Stripe alive.
    return stripe.StripeClient(
        api_key,
        stripe_version=STRIPE_API_VERSION,
        base_addresses={"api": api_base} if api_base else None,  # type: ignore[typeddict-item]
        max_network_retries=max_retries,
        http_client=stripe.RequestsClient(timeout=(_CONNECT_TIMEOUT_SECONDS, read_timeout)),
    )


def client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise BillingNotConfigured("Billing is not configured: no Stripe key is set")
    return _client_for(
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE,
        settings.STRIPE_TIMEOUT_SECONDS,
        settings.STRIPE_MAX_NETWORK_RETRIES,
    )


def is_test_mode() -> bool:
    return "_live_" not in settings.STRIPE_SECRET_KEY


def customer_dashboard_url(customer_id: str) -> str:
    mode = "test/" if is_test_mode() else ""
    return f"https://dashboard.stripe.com/{mode}customers/{customer_id}"


def _is_missing_customer(error: stripe.InvalidRequestError) -> bool:
    return error.code == "resource_missing" and "No such customer" in (error.user_message or str(error))


@contextmanager
def _stripe_errors(call: str) -> Iterator[None]:
    """Turn Stripe's exceptions into billing errors (Zulip's `catch_stripe_errors`)."""
    try:
        yield
    except stripe.InvalidRequestError as e:
        message = e.user_message or ""
        if _is_missing_customer(e):
            raise CustomerMissing() from e
        if any(hint in message for hint in _PORTAL_NOT_CONFIGURED_HINTS):
            logger.error("billing.stripe_not_configured", extra={"call": call, "reason": "portal"})
            raise BillingNotConfigured(
                "Billing is not configured: no customer portal configuration is saved in Stripe"
            ) from e
        logger.error(
            "billing.stripe_invalid_request",
            extra={"call": call, "code": e.code, "param": e.param, "request_id": e.request_id},
        )
        raise BillingError() from e
    except (stripe.AuthenticationError, stripe.PermissionError) as e:
        logger.error("billing.stripe_not_configured", extra={"call": call, "reason": "key"})
        raise BillingNotConfigured("Billing is not configured: Stripe refused the API key") from e
    except stripe.IdempotencyError as e:
        if e.http_status == 409:  # the same key is still in flight: a retry will settle it
            raise BillingUnavailable() from e
        logger.error("billing.stripe_idempotency_conflict", extra={"call": call})
        raise BillingError() from e
    except (stripe.RateLimitError, stripe.APIConnectionError) as e:
        logger.warning(
            "billing.stripe_unavailable",
            extra={"call": call, "error": type(e).__name__, "status": e.http_status},
        )
        raise BillingUnavailable() from e
    except stripe.StripeError as e:
        status = e.http_status or 0
        if status >= 500 or status == 429:
            logger.warning(
                "billing.stripe_unavailable",
                extra={"call": call, "error": type(e).__name__, "status": status},
            )
            raise BillingUnavailable() from e
        logger.error(
            "billing.stripe_error",
            extra={"call": call, "error": type(e).__name__, "status": status},
        )
        raise BillingError() from e


def customer_create(*, name: str, email: str, organization_id: int, idempotency_key: str) -> str:
    """Create a customer and return its id. The key makes a retried or raced call a replay."""
    params: dict[str, Any] = {
        "name": name,
        "metadata": {"organization_id": str(organization_id)},
    }
    if email:
        params["email"] = email
    with _stripe_errors("customers.create"):
        customer = client().v1.customers.create(
            params,  # type: ignore[arg-type]
            {"idempotency_key": idempotency_key},
        )
    return customer.id


def portal_session_create(*, customer_id: str, return_url: str, configuration: str = "") -> PortalSession:
    params: dict[str, Any] = {"customer": customer_id, "return_url": return_url}
    if configuration:
        params["configuration"] = configuration
    with _stripe_errors("billing_portal.sessions.create"):
        session = client().v1.billing_portal.sessions.create(params)  # type: ignore[arg-type]
    return PortalSession(id=session.id, url=session.url)
