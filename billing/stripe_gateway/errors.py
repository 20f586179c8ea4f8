"""Stripe's exceptions turned into billing errors, in one place.

Be careful changing the mapping: the API's status codes and the page's messages, and the
decision to re-create a customer, all hang on it. Stripe's errors are recognised by their
`code` and `param` where Stripe gives them, by their message only where it does not (each
such case says so)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import stripe

from billing.errors import (
    BillingError,
    BillingNotConfigured,
    BillingUnavailable,
    CustomerMissing,
    ProductMissing,
    SubscriptionMissing,
)

logger = logging.getLogger(__name__)


# By message only: Stripe answers an object of the other mode (a test key, a live customer) as
# `resource_missing` like a missing one, and only its message tells them apart: "No such
# customer: 'cus_...'; a similar object exists in live mode, but a test mode key was used to
# make this request." (and the other way round).
_OTHER_MODE_HINT = "a similar object exists in"
# By message only: Stripe reports "no portal configuration saved" as an invalid_request_error
# without a code or a param.
_PORTAL_NOT_CONFIGURED_HINTS = ("customer portal settings", "No such configuration")

# By code and param: a missing object is `resource_missing`, and `param` names it: the
# parameter that carried its id ("customer", "subscription"), or "id" for the object the call
# addressed (`customers.retrieve`), whose resource the call's name gives.
_MISSING_BY_PARAM: dict[str, type[BillingError]] = {
    "customer": CustomerMissing,
    "product": ProductMissing,
    "subscription": SubscriptionMissing,
}
_MISSING_BY_RESOURCE: dict[str, type[BillingError]] = {
    "customers": CustomerMissing,
    "products": ProductMissing,
    "subscriptions": SubscriptionMissing,
}


def _missing(error: stripe.InvalidRequestError, call: str) -> type[BillingError] | None:
    """The billing error of a missing customer or subscription, or None for anything else."""
    if error.code != "resource_missing":
        return None
    if error.param == "id":
        return _MISSING_BY_RESOURCE.get(call.partition(".")[0])
    return _MISSING_BY_PARAM.get(error.param or "")


@contextmanager
def _stripe_errors(call: str) -> Iterator[None]:
    """Turn Stripe's exceptions into billing errors (Zulip's `catch_stripe_errors`)."""
    try:
        yield
    except stripe.InvalidRequestError as e:
        message = e.user_message or ""
        if _OTHER_MODE_HINT in message:  # the object exists, in live mode for a test key or back
            logger.error("billing.stripe_not_configured", extra={"call": call, "reason": "mode"})
            raise BillingNotConfigured(
                "Billing is not configured: the Stripe key is for the other mode (test or live)"
            ) from e
        missing = _missing(e, call)
        if missing is not None:
            raise missing() from e
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
        # 409: the same idempotency key is still in flight (a retry after a timeout). The SDK
        # raises it as a plain APIError, not IdempotencyError, once its retries are spent.
        if status >= 500 or status in (409, 429):
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
