"""The /v1/ API: one table of (method, path, endpoint), each route written once.

A path names its parameters ``{id}``; the regular expression that matches requests and the
label that ``stats()["by_path"]`` counts under (``"GET /v1/customers/{id}"``) both come from
it. Endpoints take the store and the decoded request (``core.Call``) and answer a JSON-able
dict or raise ``errors.ApiError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from stripe_standin.core import Call
from stripe_standin.resources import (
    catalogue,
    checkout,
    customers,
    discounts,
    entitlements,
    events,
    features,
    invoices,
    portal,
    subscriptions,
    test_clocks,
)

if TYPE_CHECKING:
    from stripe_standin.store import Store

Endpoint = Callable[["Store", Call], dict[str, Any]]


class Route(NamedTuple):
    method: str
    pattern: re.Pattern[str]
    label: str  # e.g. "GET /v1/customers/{id}", used in stats
    endpoint: Endpoint


def _route(method: str, path: str, endpoint: Endpoint) -> Route:
    regex = "^" + re.sub(r"\\\{\w+\\\}", "([^/]+)", re.escape(path)) + "$"
    return Route(method, re.compile(regex), f"{method} {path}", endpoint)


# More specific paths first: "/v1/products/{id}/features" before "/v1/products/{id}".
ROUTES = [
    _route(method, path, endpoint)
    for method, path, endpoint in [
        ("GET", "/v1/account", customers.retrieve_account),
        ("GET", "/v1/customers", customers.list_customers),
        ("POST", "/v1/customers", customers.create_customer),
        ("GET", "/v1/customers/{id}", customers.retrieve_customer),
        ("POST", "/v1/customers/{id}", customers.update_customer),
        ("DELETE", "/v1/customers/{id}", customers.delete_customer_api),
        ("POST", "/v1/billing_portal/sessions", portal.create_portal_session),
        ("GET", "/v1/billing_portal/configurations", portal.list_configurations),
        ("POST", "/v1/billing_portal/configurations", portal.create_configuration),
        ("GET", "/v1/billing_portal/configurations/{id}", portal.retrieve_configuration),
        ("POST", "/v1/billing_portal/configurations/{id}", portal.update_configuration),
        ("GET", "/v1/subscriptions", subscriptions.list_subscriptions),
        ("POST", "/v1/subscriptions", subscriptions.create_subscription_api),
        ("GET", "/v1/subscriptions/{id}", subscriptions.retrieve_subscription),
        ("POST", "/v1/subscriptions/{id}", subscriptions.update_subscription_api),
        ("DELETE", "/v1/subscriptions/{id}", subscriptions.cancel_subscription_api),
        ("GET", "/v1/products", catalogue.list_products),
        ("POST", "/v1/products", catalogue.create_product_api),
        ("GET", "/v1/products/{id}/features", features.list_product_features),
        ("POST", "/v1/products/{id}/features", features.attach_feature_api),
        ("GET", "/v1/products/{id}/features/{id}", features.retrieve_product_feature),
        ("DELETE", "/v1/products/{id}/features/{id}", features.detach_feature_api),
        ("GET", "/v1/products/{id}", catalogue.retrieve_product),
        ("POST", "/v1/products/{id}", catalogue.update_product_api),
        ("GET", "/v1/prices", catalogue.list_prices),
        ("POST", "/v1/prices", catalogue.create_price_api),
        ("GET", "/v1/prices/{id}", catalogue.retrieve_price),
        ("POST", "/v1/prices/{id}", catalogue.update_price_api),
        ("GET", "/v1/entitlements/features", features.list_features),
        ("POST", "/v1/entitlements/features", features.create_feature_api),
        ("GET", "/v1/entitlements/features/{id}", features.retrieve_feature),
        ("POST", "/v1/entitlements/features/{id}", features.update_feature_api),
        ("GET", "/v1/entitlements/active_entitlements", entitlements.list_active_entitlements),
        ("GET", "/v1/entitlements/active_entitlements/{id}", entitlements.retrieve_active_entitlement),
        ("GET", "/v1/checkout/sessions", checkout.list_checkout_sessions),
        ("POST", "/v1/checkout/sessions", checkout.create_checkout_session),
        ("GET", "/v1/checkout/sessions/{id}/line_items", checkout.list_checkout_line_items),
        ("POST", "/v1/checkout/sessions/{id}/expire", checkout.expire_checkout_session),
        ("GET", "/v1/checkout/sessions/{id}", checkout.retrieve_checkout_session),
        ("POST", "/v1/coupons", discounts.create_coupon_api),
        ("GET", "/v1/coupons/{id}", discounts.retrieve_coupon),
        ("GET", "/v1/promotion_codes", discounts.list_promotion_codes),
        ("POST", "/v1/promotion_codes", discounts.create_promotion_code_api),
        ("GET", "/v1/promotion_codes/{id}", discounts.retrieve_promotion_code),
        ("GET", "/v1/events", events.list_events),
        ("GET", "/v1/events/{id}", events.retrieve_event),
        ("GET", "/v1/invoices", invoices.list_invoices),
        ("POST", "/v1/invoices/create_preview", invoices.create_preview),
        ("POST", "/v1/invoices/{id}/pay", invoices.pay_invoice_api),
        ("GET", "/v1/invoices/{id}", invoices.retrieve_invoice),
        ("GET", "/v1/test_helpers/test_clocks", test_clocks.list_test_clocks),
        ("POST", "/v1/test_helpers/test_clocks", test_clocks.create_test_clock),
        ("POST", "/v1/test_helpers/test_clocks/{id}/advance", test_clocks.advance_test_clock),
        ("GET", "/v1/test_helpers/test_clocks/{id}", test_clocks.retrieve_test_clock),
        ("DELETE", "/v1/test_helpers/test_clocks/{id}", test_clocks.delete_test_clock),
    ]
]


def match_route(method: str, path: str) -> tuple[Route | None, tuple[str, ...]]:
    for route in ROUTES:
        if route.method == method and (match := route.pattern.match(path)):
            return route, match.groups()
    return None, ()
