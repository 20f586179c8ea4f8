"""The one package that talks to Stripe.

Anything that calls Stripe goes through here, and the rest of the project never imports
`stripe`: callers use `from billing import stripe_gateway` and the names below.

- `connection`: the configured client (key, pinned API version, base URL, timeouts, retries);
- `resilience`: the request's deadline, the bulkhead and the circuit breaker around each call;
- `errors`: Stripe's exceptions turned into `billing.errors`;
- `types`: Stripe's objects as the app keeps them (`Stripe…` dataclasses) and their mappings;
- `calls`: one function per Stripe call.
"""

from billing.stripe_gateway.calls import (
    SYNC_PAGE_SIZE,
    WEBHOOK_TOLERANCE_SECONDS,
    account_id,
    active_entitlements_list,
    checkout_session_create,
    checkout_session_expire,
    checkout_session_open_page,
    checkout_session_retrieve,
    customer_create,
    customer_is_gone,
    customer_page,
    event_list,
    invoice_list,
    portal_session_create,
    price_list,
    product_feature_list,
    product_list,
    subscription_cancel,
    subscription_create,
    subscription_list,
    subscription_page,
    subscription_retrieve,
    subscription_update,
    webhook_event_construct,
)
from billing.stripe_gateway.connection import STRIPE_API_VERSION, client, customer_dashboard_url, is_test_mode
from billing.stripe_gateway.resilience import deadline_seconds, request_deadline, resilience_reset
from billing.stripe_gateway.types import (
    StripeCheckoutSession,
    StripeEvent,
    StripeFeature,
    StripeInvoice,
    StripePage,
    StripePortalSession,
    StripePrice,
    StripeProduct,
    StripeSubscription,
    event_from_dict,
    feature_from_dict,
    invoice_subscription_id,
    stripe_id_of,
    stripe_id_valid,
    subscription_from_dict,
)

__all__ = [
    "STRIPE_API_VERSION",
    "SYNC_PAGE_SIZE",
    "WEBHOOK_TOLERANCE_SECONDS",
    "StripeCheckoutSession",
    "StripeEvent",
    "StripeFeature",
    "StripeInvoice",
    "StripePage",
    "StripePortalSession",
    "StripePrice",
    "StripeProduct",
    "StripeSubscription",
    "account_id",
    "active_entitlements_list",
    "checkout_session_create",
    "checkout_session_expire",
    "checkout_session_open_page",
    "checkout_session_retrieve",
    "client",
    "customer_create",
    "customer_dashboard_url",
    "customer_is_gone",
    "customer_page",
    "deadline_seconds",
    "event_from_dict",
    "event_list",
    "feature_from_dict",
    "invoice_list",
    "invoice_subscription_id",
    "is_test_mode",
    "portal_session_create",
    "price_list",
    "product_feature_list",
    "product_list",
    "request_deadline",
    "resilience_reset",
    "stripe_id_of",
    "stripe_id_valid",
    "subscription_cancel",
    "subscription_create",
    "subscription_from_dict",
    "subscription_list",
    "subscription_page",
    "subscription_retrieve",
    "subscription_update",
    "webhook_event_construct",
]
