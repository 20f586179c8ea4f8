"""The stand-in's objects and errors have the shape of Stripe's own.

``stripe_fixtures3.json`` holds Stripe's published example objects of the resources the app
uses, from ``fixtures3.json`` of github.com/stripe/openapi at commit
f6c2a48fbac2819d1feba8143d942ffc65e1c0d2. Every object the stand-in answers (found anywhere
in an answer or an event, nested ones included) must carry every key Stripe's example of that
object carries, with the same JSON type wherever both values are not null, one level of
nesting deep (list objects too), and no top-level key Stripe's example lacks.

Errors: the ``{"error": {...}}`` body as stripe-python parses it (``type``, ``code``,
``param``, ``message``, ``doc_url``), raised as the SDK's own exception classes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe

from stripe_standin import StripeStandIn
from tests.stripe_standin.support import KEY, client_for
from tests.stripe_standin.test_billing import checkout
from tests.stripe_standin.test_server import http

EXAMPLES: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).with_name("stripe_fixtures3.json")).read_text()
)["resources"]

# Stripe's example of each "object" value (a deleted customer is its own shape).
KINDS = {
    "customer": "customer",
    "product": "product",
    "price": "price",
    "entitlements.feature": "entitlements.feature",
    "product_feature": "product_feature",
    "checkout.session": "checkout.session",
    "subscription": "subscription",
    "subscription_item": "subscription_item",
    "invoice": "invoice",
    "billing_portal.session": "billing_portal.session",
    "billing_portal.configuration": "billing_portal.configuration",
    "entitlements.active_entitlement": "entitlements.active_entitlement",
    "entitlements.active_entitlement_summary": "entitlements.active_entitlement_summary",
    "event": "event",
}

# The fields of Stripe's error object (stripe-python's ErrorObject).
ERROR_FIELDS = {
    "advice_code",
    "charge",
    "code",
    "decline_code",
    "doc_url",
    "message",
    "network_advice_code",
    "network_decline_code",
    "param",
    "payment_intent",
    "payment_method",
    "payment_method_type",
    "request_log_url",
    "setup_intent",
    "source",
    "type",
}
ERROR_TYPES = {"api_error", "card_error", "idempotency_error", "invalid_request_error"}


@pytest.fixture
def standin(_server: StripeStandIn) -> StripeStandIn:
    _server.reset()
    _server.set_portal_configured(True)
    return _server


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "null"


def _expandable(ours: Any, example: Any) -> bool:
    """An id where Stripe's example shows the object expanded, or the other way round."""
    return (isinstance(ours, str) and isinstance(example, dict) and "id" in example) or (
        isinstance(ours, dict) and "id" in ours and isinstance(example, str)
    )


def mismatches(ours: dict[str, Any], example: dict[str, Any], where: str, depth: int = 0) -> list[str]:
    """What ``ours`` lacks or types differently from ``example`` (one level of nesting)."""
    problems = []
    for key, expected in example.items():
        if key not in ours:
            problems.append(f"{where}.{key}: missing")
            continue
        value = ours[key]
        if expected is None or value is None:
            continue
        if json_type(value) != json_type(expected) and not _expandable(value, expected):
            problems.append(f"{where}.{key}: {json_type(value)}, Stripe has {json_type(expected)}")
        elif depth == 0 and isinstance(value, dict) and isinstance(expected, dict):
            if expected.get("object") == "list":
                problems += mismatches(
                    value,
                    {k: expected[k] for k in ("object", "data", "has_more", "url")},
                    f"{where}.{key}",
                    1,
                )
                if value["data"] and expected["data"] and isinstance(expected["data"][0], dict):
                    problems += mismatches(value["data"][0], expected["data"][0], f"{where}.{key}.data[0]", 1)
            else:
                problems += mismatches(value, expected, f"{where}.{key}", 1)
    return problems


def objects_in(payload: Any) -> Iterator[dict[str, Any]]:
    """Every Stripe object in a JSON answer, nested ones included."""
    if isinstance(payload, dict):
        kind = payload.get("object")
        if isinstance(kind, str) and kind in KINDS and not payload.get("deleted"):
            yield payload
        for value in payload.values():
            yield from objects_in(value)
    elif isinstance(payload, list):
        for value in payload:
            yield from objects_in(value)


def raw(response: stripe.StripeObject) -> dict[str, Any]:
    """The JSON the stand-in answered, as sent."""
    assert response.last_response is not None
    body: dict[str, Any] = json.loads(response.last_response.body)
    return body


@pytest.fixture
def answers(standin: StripeStandIn, client: stripe.StripeClient) -> list[dict[str, Any]]:
    """A catalogue, a customer through Checkout, renewals, the portal: every answer and event."""
    v1 = client.v1
    got: list[stripe.StripeObject] = []
    product = v1.products.create(params={"name": "Team", "metadata": {"tier": "2"}})
    price = v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 1500,
            "recurring": {"interval": "month"},
        }
    )
    feature = v1.entitlements.features.create(params={"name": "Projects", "lookup_key": "projects"})
    attached = v1.products.features.create(product.id, params={"entitlement_feature": feature.id})
    customer = v1.customers.create(params={"name": "Acme", "email": "billing@acme.test"})
    session = checkout(client, customer.id, price.id)
    standin.complete_checkout_session(session.id)
    done = v1.checkout.sessions.retrieve(session.id)
    assert isinstance(done.subscription, str)
    standin.simulate_renewal(done.subscription, succeed=False)
    subscription = v1.subscriptions.update(done.subscription, params={"cancel_at_period_end": True})
    expired = checkout(client, customer.id, price.id)
    portal = v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": "http://app.test/billing/"}
    )
    assert isinstance(portal.configuration, str)
    got += [product, price, feature, attached, customer, session, done, subscription, portal]
    got += [
        v1.checkout.sessions.expire(expired.id),
        v1.billing_portal.configurations.retrieve(portal.configuration),
        v1.billing_portal.configurations.list(),
        v1.products.list(),
        v1.prices.list(),
        v1.entitlements.features.list(),
        v1.products.features.list(product.id),
        v1.customers.retrieve(customer.id),
        v1.subscriptions.list(params={"customer": customer.id, "expand": ["data.latest_invoice"]}),
        v1.subscriptions.retrieve(done.subscription, params={"expand": ["customer"]}),
        v1.checkout.sessions.list(params={"customer": customer.id}),
        v1.checkout.sessions.line_items.list(session.id),
        v1.invoices.list(params={"customer": customer.id}),
        v1.entitlements.active_entitlements.list(params={"customer": customer.id}),
    ]
    answers = [raw(r) for r in got]
    answers += standin.events()
    return answers


def test_every_object_has_the_keys_and_types_of_stripes_example(answers: list[dict[str, Any]]) -> None:
    seen: dict[str, int] = dict.fromkeys(KINDS, 0)
    problems: set[str] = set()
    for answer in answers:
        for found in objects_in(answer):
            kind = KINDS[found["object"]]
            seen[kind] += 1
            problems.update(mismatches(found, EXAMPLES[kind], kind))
    assert sorted(problems) == []
    assert [kind for kind, count in seen.items() if count == 0] == []  # every resource was looked at


def test_no_object_has_top_level_keys_stripe_does_not(answers: list[dict[str, Any]]) -> None:
    extra: set[str] = set()
    for answer in answers:
        for found in objects_in(answer):
            kind = KINDS[found["object"]]
            extra.update(f"{kind}.{key}" for key in set(found) - set(EXAMPLES[kind]))
    assert sorted(extra) == []


def test_list_objects_are_shaped_like_stripes(answers: list[dict[str, Any]]) -> None:
    def lists(payload: Any) -> Iterator[dict[str, Any]]:
        if isinstance(payload, dict):
            if payload.get("object") == "list":
                yield payload
            for value in payload.values():
                yield from lists(value)
        elif isinstance(payload, list):
            for value in payload:
                yield from lists(value)

    found = [listed for answer in answers for listed in lists(answer)]
    assert found
    for listed in found:
        assert {"object", "data", "has_more", "url"} <= set(listed), listed
        assert isinstance(listed["data"], list) and isinstance(listed["has_more"], bool), listed
        assert isinstance(listed["url"], str) and listed["url"].startswith("/v1/"), listed


# --- errors -------------------------------------------------------------------------------------


def _error(standin: StripeStandIn, method: str, path: str, body: bytes | None = None, **headers: str) -> Any:
    headers = {"Authorization": f"Bearer {KEY}", **headers}
    if body is not None:
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    status, _, payload = http(f"{standin.url}{path}", method, body, headers)
    return status, json.loads(payload)


def test_every_kind_of_error_has_stripes_error_body(standin: StripeStandIn) -> None:
    customer = standin.create_customer(name="Acme")["id"]
    cases = [
        ("GET", "/v1/customers/cus_missing", None, {}),  # resource_missing
        ("POST", "/v1/customers", b"nonsense=1", {}),  # parameter_unknown
        ("POST", "/v1/billing_portal/sessions", b"", {}),  # parameter_missing
        ("GET", "/v1/subscriptions?limit=1000", None, {}),  # parameter_invalid_integer
        ("GET", "/v1/nowhere", None, {}),  # unrecognized URL
        ("GET", "/v1/customers", None, {"Authorization": "Bearer nope"}),  # authentication
        ("POST", "/v1/customers", b"name=A", {"Idempotency-Key": "k1"}),
        ("POST", "/v1/customers", b"name=B", {"Idempotency-Key": "k1"}),  # idempotency_error
        ("POST", "/v1/invoices/in_missing/pay", b"", {}),
    ]
    standin.set_portal_configured(False)
    cases.append(("POST", "/v1/billing_portal/sessions", f"customer={customer}".encode(), {}))
    for method, path, body, headers in cases:
        status, payload = _error(standin, method, path, body, **headers)
        if (status, path) == (200, "/v1/customers"):
            continue  # the first use of the idempotency key
        assert status >= 400 and set(payload) == {"error"}, payload
        error = payload["error"]
        assert set(error) <= ERROR_FIELDS, error
        assert error["type"] in ERROR_TYPES and isinstance(error["message"], str), error
        for field in ("code", "param", "doc_url"):
            assert field not in error or isinstance(error[field], str), error
        assert ("doc_url" in error) == ("code" in error), error


def test_the_sdk_reads_stripes_errors(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.customers.retrieve("cus_missing")
    assert (missing.value.http_status, missing.value.code, missing.value.param) == (
        404,
        "resource_missing",
        "id",
    )
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.customers.create(params={"nonsense": "1"})  # type: ignore[arg-type]
    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "nonsense")
    with pytest.raises(stripe.AuthenticationError):
        client_for(standin, key="sk_test_").v1.customers.list()
    standin.add_fault("429", times=1)
    with pytest.raises(stripe.RateLimitError) as limited:
        client.v1.customers.list()
    assert limited.value.error is not None and limited.value.error.code == "rate_limit"
    standin.add_fault("500", times=1)
    with pytest.raises(stripe.APIError) as failed:
        client.v1.customers.list()
    assert failed.value.http_status == 500 and failed.value.error is not None
    assert failed.value.error.type == "api_error"
