"""Billing portal sessions and the portal configuration: ``/v1/billing_portal/...``.

``flow_data`` is validated and kept on the session as Stripe renders it (``flow``); what the
portal's buttons do lives in ``stripe_standin.hosted``.
"""

from __future__ import annotations

import copy
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
    """The account's default portal configuration (saved in the Dashboard, as it were)."""
    return _configuration(
        id=store.portal_configuration,
        created=store.created,
        is_default=True,
        features={},
        business_profile={},
        metadata={},
        name=None,
        default_return_url=None,
        livemode=False,
        proration_behavior="create_prorations",
    )


def _configuration(
    *,
    id: str,
    created: int,
    is_default: bool,
    features: dict[str, Any],
    business_profile: dict[str, Any],
    metadata: dict[str, str],
    name: str | None,
    default_return_url: str | None,
    livemode: bool,
    proration_behavior: str = "none",
) -> dict[str, Any]:
    """A configuration as Stripe renders it: every feature, set or defaulted."""
    return {
        "id": id,
        "object": "billing_portal.configuration",
        "active": True,
        "application": None,
        "business_profile": {"headline": None, "privacy_policy_url": None, "terms_of_service_url": None}
        | business_profile,
        "created": created,
        "default_return_url": default_return_url,
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
                "products": [],
                "proration_behavior": proration_behavior,
                "schedule_at_period_end": {"conditions": []},
                "trial_update_behavior": "end_trial",
            },
        },
        "is_default": is_default,
        "livemode": livemode,
        "login_page": {"enabled": False, "url": None},
        "metadata": metadata,
        "name": name,
        "updated": created,
    } | ({"features": _merged_features(features)} if features else {})


_CONFIGURATION_FEATURES: dict[str, tuple[str, ...]] = {
    "customer_update": ("allowed_updates", "enabled"),
    "invoice_history": ("enabled",),
    "payment_method_update": ("enabled", "payment_method_configuration"),
    "subscription_cancel": ("cancellation_reason", "enabled", "mode", "proration_behavior"),
    "subscription_pause": ("enabled",),
    "subscription_update": (
        "billing_cycle_anchor",
        "default_allowed_updates",
        "enabled",
        "products",
        "proration_behavior",
        "schedule_at_period_end",
        "trial_update_behavior",
    ),
}


def _merged_features(features: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """`features` over `base` (Stripe's defaults when None), feature by feature."""
    if base is None:
        base = _configuration(
            id="",
            created=0,
            is_default=False,
            features={},
            business_profile={},
            metadata={},
            name=None,
            default_return_url=None,
            livemode=False,
        )["features"]
    merged = copy.deepcopy(base)
    for feature, fields in features.items():
        merged.setdefault(feature, {}).update(copy.deepcopy(fields))
    return merged


def _features_param(store: Store, raw: Any) -> dict[str, Any]:
    """Validate ``features`` as Stripe does: known names, booleans, modes, existing prices."""
    if not isinstance(raw, dict):
        raise errors.invalid_parameter("features", "Invalid hash", code="parameter_invalid_object")
    features: dict[str, Any] = {}
    for feature, fields in raw.items():
        allowed = _CONFIGURATION_FEATURES.get(feature)
        if allowed is None:
            raise errors.unknown_parameter(f"features[{feature}]")
        if not isinstance(fields, dict):
            raise errors.invalid_parameter(
                f"features[{feature}]", "Invalid hash", code="parameter_invalid_object"
            )
        parsed: dict[str, Any] = {}
        for name, value in fields.items():
            param = f"features[{feature}][{name}]"
            if name not in allowed:
                raise errors.unknown_parameter(param)
            if name == "enabled":
                parsed[name] = params.bool_param(fields, name, False)
                continue
            if name == "mode" and value not in ("at_period_end", "immediately"):
                raise errors.invalid_parameter(
                    param, "Invalid mode: must be one of at_period_end or immediately"
                )
            if name == "proration_behavior" and value not in ("none", "create_prorations", "always_invoice"):
                raise errors.invalid_parameter(
                    param,
                    "Invalid proration_behavior: must be one of always_invoice, create_prorations, or none",
                )
            if name == "products":
                parsed[name] = _update_products(store, value, param)
            elif name == "default_allowed_updates":
                updates = [] if value == "" else value
                if not isinstance(updates, list) or any(
                    u not in ("price", "quantity", "promotion_code") for u in updates
                ):
                    raise errors.invalid_parameter(param, "Invalid array")
                parsed[name] = list(updates)
            else:
                parsed[name] = value
        features[feature] = parsed
    return features


def _update_products(store: Store, value: Any, param: str) -> list[dict[str, Any]]:
    if value == "":
        return []
    if not isinstance(value, list):
        raise errors.invalid_parameter(param, "Invalid array")
    if len(value) > 10:
        raise errors.invalid_parameter(param, "You can specify up to 10 products.")
    products = []
    for n, entry in enumerate(value):
        where = f"{param}[{n}]"
        if not isinstance(entry, dict):
            raise errors.invalid_parameter(where, "Invalid hash", code="parameter_invalid_object")
        product_id = params.str_param(entry, "product")
        if not product_id:
            raise errors.missing_parameter(f"{where}[product]")
        catalogue.product_or_404(store, product_id)
        prices = entry.get("prices")
        if not isinstance(prices, list) or not prices:
            raise errors.missing_parameter(f"{where}[prices]")
        for m, price_id in enumerate(prices):
            price = catalogue.recurring_price(store, str(price_id), f"{where}[prices][{m}]")
            if price["product"] != product_id:
                raise errors.invalid_parameter(
                    f"{where}[prices][{m}]",
                    f"The price `{price_id}` does not belong to the product `{product_id}`.",
                )
        products.append(
            {
                "adjustable_quantity": {"enabled": False, "maximum": None, "minimum": 1},
                "prices": [str(p) for p in prices],
                "product": product_id,
            }
        )
    return products


_CONFIGURATION_PARAMS = (
    "business_profile",
    "default_return_url",
    "features",
    "login_page",
    "metadata",
    "name",
    "expand",
)


def create_configuration(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(call.params, *_CONFIGURATION_PARAMS)
    if "features" not in p:
        raise errors.missing_parameter("features")
    features = _features_param(store, p["features"])
    profile = p.get("business_profile") or {}
    if not isinstance(profile, dict):
        raise errors.invalid_parameter("business_profile", "Invalid hash", code="parameter_invalid_object")
    if (url := params.str_param(p, "default_return_url")) and url:
        params.check_url(url, "default_return_url")
    configuration = _configuration(
        id=core.new_id("bpc", 24),
        created=core.now(),
        is_default=False,
        features=features,
        business_profile={k: v or None for k, v in profile.items()},
        metadata=params.metadata_param(p),
        name=params.str_param(p, "name") or None,
        default_return_url=url or None,
        livemode=call.livemode,
    )
    store.portal_configurations[configuration["id"]] = configuration
    return configuration


def update_configuration(store: Store, call: Call) -> dict[str, Any]:
    p = params.allow(call.params, "active", *_CONFIGURATION_PARAMS)
    (configuration_id,) = call.args
    configuration = store.portal_configurations.get(configuration_id)
    if configuration is None:
        if configuration_id == store.portal_configuration and store.portal_configured:
            raise errors.invalid_parameter(
                "configuration", "The stand-in keeps the default configuration as the Dashboard saved it."
            )
        raise errors.no_such("configuration", configuration_id, param="configuration", status=404)
    if "features" in p:
        configuration["features"] = _merged_features(
            _features_param(store, p["features"]), configuration["features"]
        )
    if "active" in p:
        configuration["active"] = params.bool_param(p, "active", True)
    if isinstance(p.get("business_profile"), dict):
        configuration["business_profile"] |= {k: v or None for k, v in p["business_profile"].items()}
    if "name" in p:
        configuration["name"] = params.str_param(p, "name") or None
    if "default_return_url" in p:
        configuration["default_return_url"] = params.str_param(p, "default_return_url") or None
    params.update_metadata(configuration, p)
    configuration["updated"] = core.now()
    return configuration


def _all_configurations(store: Store) -> list[dict[str, Any]]:
    saved = [configuration_object(store)] if store.portal_configured else []
    return [*saved, *store.portal_configurations.values()]


def list_configurations(store: Store, call: Call) -> dict[str, Any]:
    """The default one once the portal settings are saved (``set_portal_configured``), and every
    one made through the API; newest first."""
    q = params.allow(call.query, "active", "is_default", "limit", "starting_after", "ending_before", "expand")
    active = params.bool_param(q, "active", None)
    is_default = params.bool_param(q, "is_default", None)
    matching = [
        c
        for c in reversed(_all_configurations(store))
        if (active is None or c["active"] == active) and (is_default is None or c["is_default"] == is_default)
    ]
    return params.paginate(matching, q, "/v1/billing_portal/configurations")


def retrieve_configuration(store: Store, call: Call) -> dict[str, Any]:
    (configuration_id,) = call.args
    found = next((c for c in _all_configurations(store) if c["id"] == configuration_id), None)
    if found is None:
        raise errors.no_such("configuration", configuration_id, param="configuration", status=404)
    return found
