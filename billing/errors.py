"""The billing errors: what the API and the page both speak.

Stripe's exceptions never leave `billing.stripe_gateway`; they become one of these. Each
carries its public `error_code`, its HTTP status and a message fit for a person; the API's
exception handler maps them (they are `ApplicationError`s), the page shows a sentence for each.
"""

from __future__ import annotations

from core.errors import ApplicationError
from core.errors import RateLimited as _RateLimited


class BillingError(ApplicationError):
    message = "Failed to create billing portal session"


class BillingPermissionDenied(BillingError):
    error_code = "BILLING_PERMISSION_DENIED"
    status_code = 403
    message = "Only an organization's owner, admins and billing managers can manage billing"


class RateLimited(_RateLimited, BillingError):
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


class ProductMissing(BillingError):
    """Stripe does not know the product (internal: a product it does not know grants nothing)."""

    message = "The Stripe product no longer exists"


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


class WebhookPayloadTooLarge(BillingError):
    """A webhook delivery over the size cap: not Stripe's (its events are far smaller)."""

    error_code = "PAYLOAD_TOO_LARGE"
    status_code = 413
    message = "Webhook payload exceeds 1 MiB"


class NoSubscription(BillingError):
    error_code = "NO_SUBSCRIPTION"
    status_code = 404
    message = "No active subscription found"


class InvalidStartDate(BillingError):
    error_code = "INVALID_START_DATE"
    status_code = 400
    message = "startDate is not an ISO 8601 date or date-time"


class InvalidEndDate(BillingError):
    error_code = "INVALID_END_DATE"
    status_code = 400
    message = "endDate is not an ISO 8601 date or date-time"


class InvalidDateRange(BillingError):
    error_code = "INVALID_DATE_RANGE"
    status_code = 400
    message = "startDate is after endDate"


class BuyRequestInvalid(BillingError):
    """The buy request's body is not JSON, or names no period."""

    error_code = "VALIDATION_ERROR"
    status_code = 400
    message = "subscriptionPeriodId is required"


class SubscriptionPeriodNotFound(BillingError):
    """Not an active recurring price of a plan on offer."""

    error_code = "SUBSCRIPTION_PERIOD_NOT_FOUND"
    status_code = 404
    message = "Subscription period not found"


class AlreadySubscribed(BillingError):
    error_code = "ALREADY_SUBSCRIBED"
    status_code = 409
    message = "The organization is already subscribed to this plan"


class TooManyMembers(BillingError):
    """The plan's member cap is below the organization's members (refused before Stripe)."""

    error_code = "TOO_MANY_MEMBERS"
    status_code = 409
    message = "The organization has more members than this plan allows"


class InvalidCheckoutSession(BillingError):
    """Not one of the organization's Checkout sessions (asked without calling Stripe)."""

    error_code = "INVALID_SESSION"
    status_code = 400
    message = "Invalid Checkout Session ID"


class NoPendingPayment(BillingError):
    error_code = "NO_PENDING_PAYMENT"
    status_code = 404
    message = "No pending payment found"


# Gates on what the organization's plan allows (billing.permissions, billing.decorators): not
# billing failures, so not BillingErrors.
class SubscriptionRequired(ApplicationError):
    """The organization has no subscription in an access status (402)."""

    error_code = "SUBSCRIPTION_REQUIRED"
    status_code = 402
    message = "An active subscription is required"


class CapabilityRequired(ApplicationError):
    """The organization has access, but its plan lacks the capability (403)."""

    error_code = "CAPABILITY_REQUIRED"
    status_code = 403
    message = "Your plan does not include this feature"

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"Your plan does not include this feature ({code})")


class PlanChangeBlocked(BillingError):
    """A plan change while the subscription is past due or set to cancel: the payment (or the
    cancellation) comes first. Raised before any Stripe call."""

    error_code = "PLAN_CHANGE_BLOCKED"
    status_code = 409
    message = "The plan can't be changed while a payment is due or the subscription is set to cancel"
