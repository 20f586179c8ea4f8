"""Billing portal sessions and the portal configuration: ``/v1/billing_portal/...``.

``flow_data`` is validated and kept on the session as Stripe renders it (``flow``); what the
portal's buttons do lives in ``stripe_standin.hosted``.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from stripe_standin import core, errors, params
from stripe_standin.core import Call
from stripe_standin.resources import (
    catalogue,
)

if TYPE_CHECKING:
    from stripe_standin.store import Store


def create_portal_session(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(
        call.params,
        "customer",
        "return_url",
        "configuration",
        "locale",
        "on_behalf_of",
        "flow_data",
        "expand",
    )
    customer_id = params.str_param(p, "customer")
    if not customer_id:
        raise errors.missing_parameter("customer")
    configuration = params.str_param(p, "configuration")
    if configuration is not None and not configuration.startswith("bpc_"):
        raise errors.no_such("configuration", configuration, param="configuration", status=400)
    if store.live_customer(customer_id) is None:
        raise errors.no_such("customer", customer_id, param="customer", status=400)
    if configuration is None and not store.portal_configured:
        raise errors.portal_not_configured(call.livemode)
    flow = _portal_flow(store, p["flow_data"], customer_id) if "flow_data" in p else None
    token = "test_" + secrets.token_urlsafe(24)
    session = {
        "id": core.new_id("bps", 24),
        "object": "billing_portal.session",
        "configuration": configuration or store.portal_configuration,
        "created": core.now(),
        "customer": customer_id,
        "customer_account": None,
        "flow": flow,
        "livemode": call.livemode,
        "locale": params.str_param(p, "locale"),
        "on_behalf_of": params.str_param(p, "on_behalf_of"),
        "return_url": params.str_param(p, "return_url"),
        "url": f"{call.base_url}/p/session/{token}",
    }
    store.portal_sessions[token] = session
    return session


def _portal_flow(store: Store, data: Any, customer_id: str) -> dict[str, Any]:
    """Validate ``flow_data`` and render the session's ``flow`` the way Stripe does."""
    if not isinstance(data, dict):
        raise errors.invalid_parameter("flow_data", "Invalid object", code="parameter_invalid_object")
    allowed = (
        "type",
        "after_completion",
        "subscription_cancel",
        "subscription_update",
        "subscription_update_confirm",
    )
    for name in data:
        if name not in allowed:
            raise errors.unknown_parameter(f"flow_data[{name}]")
    kind = params.str_param(data, "type")
    if not kind:
        raise errors.missing_parameter("flow_data[type]")
    kinds = (
        "payment_method_update",
        "subscription_cancel",
        "subscription_update",
        "subscription_update_confirm",
    )
    if kind not in kinds:
        raise errors.invalid_parameter(
            "flow_data[type]",
            f"Invalid flow_data[type]: must be one of {', '.join(kinds[:-1])}, or {kinds[-1]}",
        )
    flow: dict[str, Any] = {
        "after_completion": _after_completion(store, data.get("after_completion")),
        "subscription_cancel": None,
        "subscription_update": None,
        "subscription_update_confirm": None,
        "type": kind,
    }
    for other in kinds[1:]:
        if other != kind and other in data:
            raise errors.invalid_parameter(
                f"flow_data[{other}]",
                f"You passed `flow_data[{other}]` but `flow_data[type]` is `{kind}`.",
            )
    if kind == "payment_method_update":
        return flow
    details = data.get(kind)
    if not isinstance(details, dict):
        raise errors.missing_parameter(f"flow_data[{kind}]")
    fields = {
        "subscription_cancel": ("subscription", "retention"),
        "subscription_update": ("subscription",),
        "subscription_update_confirm": ("subscription", "items", "discounts"),
    }[kind]
    for name in details:
        if name not in fields:
            raise errors.unknown_parameter(f"flow_data[{kind}][{name}]")
    param = f"flow_data[{kind}][subscription]"
    subscription_id = params.str_param(details, "subscription")
    if not subscription_id:
        raise errors.missing_parameter(param)
    subscription = store.subscriptions.get(subscription_id)
    if subscription is None:
        raise errors.no_such("subscription", subscription_id, param=param, status=400)
    if subscription["customer"] != customer_id:
        raise errors.invalid_parameter(
            param,
            f"The subscription `{subscription_id}` does not belong to the customer `{customer_id}`.",
        )
    if subscription["status"] in core.ENDED:
        raise errors.invalid_parameter(
            param,
            f"The subscription `{subscription_id}` cannot be managed in the portal because it is "
            f"`{subscription['status']}`.",
        )
    if kind == "subscription_cancel":
        flow[kind] = {"retention": None, "subscription": subscription_id}
    elif kind == "subscription_update":
        flow[kind] = {"subscription": subscription_id}
    else:
        flow[kind] = {
            "discounts": None,
            "items": _flow_items(store, details.get("items"), subscription),
            "subscription": subscription_id,
        }
    return flow


def _after_completion(store: Store, data: Any) -> dict[str, Any]:
    done: dict[str, Any] = {"hosted_confirmation": None, "redirect": None, "type": "portal_homepage"}
    if data is None:
        return done
    if not isinstance(data, dict):
        raise errors.invalid_parameter(
            "flow_data[after_completion]", "Invalid object", code="parameter_invalid_object"
        )
    for name in data:
        if name not in ("type", "redirect", "hosted_confirmation"):
            raise errors.unknown_parameter(f"flow_data[after_completion][{name}]")
    kind = params.str_param(data, "type")
    if not kind:
        raise errors.missing_parameter("flow_data[after_completion][type]")
    if kind not in ("hosted_confirmation", "portal_homepage", "redirect"):
        raise errors.invalid_parameter(
            "flow_data[after_completion][type]",
            "Invalid flow_data[after_completion][type]: must be one of hosted_confirmation, "
            "portal_homepage, or redirect",
        )
    done["type"] = kind
    if kind == "redirect":
        redirect = data.get("redirect")
        url = params.str_param(redirect, "return_url") if isinstance(redirect, dict) else None
        if not url:
            raise errors.missing_parameter("flow_data[after_completion][redirect][return_url]")
        params.check_url(url, "flow_data[after_completion][redirect][return_url]")
        done["redirect"] = {"return_url": url}
    elif kind == "hosted_confirmation":
        confirmation = data.get("hosted_confirmation")
        message = params.str_param(confirmation, "custom_message") if isinstance(confirmation, dict) else None
        done["hosted_confirmation"] = {"custom_message": message}
    return done


def _flow_items(store: Store, items: Any, subscription: dict[str, Any]) -> list[dict[str, Any]]:
    base = "flow_data[subscription_update_confirm][items]"
    if not isinstance(items, list) or not items:
        raise errors.missing_parameter(base)
    item_ids = {i["id"] for i in subscription["items"]["data"]}
    rendered = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise errors.invalid_parameter(f"{base}[{n}]", "Invalid object", code="parameter_invalid_object")
        for name in item:
            if name not in ("id", "price", "quantity"):
                raise errors.unknown_parameter(f"{base}[{n}][{name}]")
        item_id = params.str_param(item, "id")
        if not item_id:
            raise errors.missing_parameter(f"{base}[{n}][id]")
        if item_id not in item_ids:
            raise errors.invalid_parameter(
                f"{base}[{n}][id]",
                f"The subscription item `{item_id}` does not belong to the subscription "
                f"`{subscription['id']}`.",
            )
        price_id = params.str_param(item, "price")
        if price_id is not None:
            catalogue.recurring_price(store, price_id, f"{base}[{n}][price]")
        quantity = params.int_param(item, "quantity", f"{base}[{n}][quantity]", minimum=1)
        if price_id is None and quantity is None:
            raise errors.invalid_parameter(
                f"{base}[{n}]", "Each item needs a new `price` or `quantity` to confirm."
            )
        rendered.append({"id": item_id, "price": price_id, "quantity": quantity})
    return rendered


def configuration_object(store: Store) -> dict[str, Any]:
    """The account's one portal configuration: what the hosted portal pages offer."""
    return {
        "id": store.portal_configuration,
        "object": "billing_portal.configuration",
        "active": True,
        "application": None,
        "business_profile": {"headline": None, "privacy_policy_url": None, "terms_of_service_url": None},
        "created": store.created,
        "default_return_url": None,
        "features": {
            "customer_update": {"allowed_updates": [], "enabled": False},
            "invoice_history": {"enabled": True},
            "payment_method_update": {"enabled": True, "payment_method_configuration": None},
            "subscription_cancel": {
                "cancellation_reason": {"enabled": False, "options": []},
                "enabled": True,
                "mode": "at_period_end",
                "proration_behavior": "none",
            },
            "subscription_update": {
                "billing_cycle_anchor": None,
                "default_allowed_updates": ["price"],
                "enabled": True,
                "proration_behavior": "create_prorations",
                "schedule_at_period_end": {"conditions": []},
                "trial_update_behavior": "end_trial",
            },
        },
        "is_default": True,
        "livemode": False,
        "login_page": {"enabled": False, "url": None},
        "metadata": {},
        "name": None,
        "updated": store.created,
    }


def list_configurations(store: Store, call: Call) -> dict[str, Any]:
    """Empty until the portal settings are saved (``set_portal_configured``)."""
    q = params.allow(call.query, "active", "is_default", "limit", "starting_after", "ending_before", "expand")
    saved = [configuration_object(store)] if store.portal_configured else []
    return params.paginate(saved, q, "/v1/billing_portal/configurations")


def retrieve_configuration(store: Store, call: Call) -> dict[str, Any]:
    (configuration_id,) = call.args
    if configuration_id != store.portal_configuration or not store.portal_configured:
        raise errors.no_such("configuration", configuration_id, param="configuration", status=404)
    return configuration_object(store)
