"""The project's billing errors: what the API and the page both speak.

Stripe's exceptions never leave `billing.stripe_gateway`; they become one of these.
Each carries the contract's `error_code`, its HTTP status and a message fit for a person.
"""

from __future__ import annotations


class BillingError(Exception):
    error_code = "INTERNAL_ERROR"
    status_code = 500
    message = "Failed to create billing portal session"
    retry_after: float | None = None

    def __init__(self, message: str | None = None, *, retry_after: float | None = None) -> None:
        if message is not None:
            self.message = message
        if retry_after is not None:
            self.retry_after = retry_after
        super().__init__(self.message)


class NoOrganization(BillingError):
    error_code = "NO_ORGANIZATION"
    status_code = 400
    message = "User must belong to an organization"


class OrganizationNotFound(BillingError):
    error_code = "ORG_NOT_FOUND"
    status_code = 404
    message = "Organization not found"


class BillingPermissionDenied(BillingError):
    error_code = "BILLING_PERMISSION_DENIED"
    status_code = 403
    message = "Only an organization's owner, admins and billing managers can manage billing"


class RateLimited(BillingError):
    error_code = "RATE_LIMITED"
    status_code = 429
    message = "Too many billing portal requests; try again in a moment"


class BillingUnavailable(BillingError):
    """Stripe could not be reached or is overloaded; the same request may work later."""

    error_code = "BILLING_UNAVAILABLE"
    status_code = 503
    message = "Billing is temporarily unavailable; try again in a moment"
    retry_after = 5.0


class BillingNotConfigured(BillingError):
    """No key, a key Stripe refuses, or no portal configuration saved in Stripe."""

    error_code = "BILLING_NOT_CONFIGURED"
    status_code = 500
    message = "Billing is not configured"


class CustomerMissing(BillingError):
    """Stripe no longer knows the organization's customer (deleted on Stripe's side).

    Internal: the services recover from it by creating a new customer.
    """

    message = "The Stripe customer no longer exists"


class SubscriptionMissing(BillingError):
    """Stripe does not know the subscription (internal: the caller falls back to what it has)."""

    message = "The Stripe subscription no longer exists"


class WebhookSignatureInvalid(BillingError):
    """A webhook delivery whose `Stripe-Signature` is missing, wrong or too old."""

    error_code = "INVALID_SIGNATURE"
    status_code = 400
    message = "Invalid or missing Stripe signature"


class WebhookPayloadInvalid(BillingError):
    """A signed webhook delivery that is not a Stripe event (not JSON, or no id/type)."""

    error_code = "INVALID_PAYLOAD"
    status_code = 400
    message = "The webhook payload is not a valid Stripe event"
