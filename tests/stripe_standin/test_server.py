"""The Stripe stand-in, driven through the real ``stripe`` SDK (no Django needed)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pytest
import stripe

from stripe_standin import StripeStandIn
from stripe_standin.forms import FormError, parse_form
from tests.stripe_standin.support import KEY, client_for

REPO = Path(__file__).resolve().parents[2]


def headers_of(response_object: stripe.StripeObject) -> Mapping[str, str]:
    assert response_object.last_response is not None
    return response_object.last_response.headers


def http(
    url: str, method: str = "GET", data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A raw request (status, headers, body) that does not raise on 4xx/5xx."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def control(standin: StripeStandIn, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    status, _, payload = http(f"{standin.url}/_standin/{path}", method, data)
    assert status == 200, payload
    return json.loads(payload)


# --- wire format ---------------------------------------------------------------------------


def test_nested_form_parsing() -> None:
    assert parse_form(
        "metadata[organization_id]=5&expand[]=a&expand[]=b&items[0][price]=price_1"
        "&items[0][quantity]=2&items[1][price]=price_2&metadata[0]=zero&name=A%20B&empty="
    ) == {
        "metadata": {"organization_id": "5", "0": "zero"},
        "expand": ["a", "b"],
        "items": [{"price": "price_1", "quantity": "2"}, {"price": "price_2"}],
        "name": "A B",
        "empty": "",
    }
    assert parse_form("expand[0]=customer&expand[1]=items") == {"expand": ["customer", "items"]}
    with pytest.raises(FormError):
        parse_form("a[b]=1&a[b][c]=2")


def test_unrecognized_url_and_missing_key(standin: StripeStandIn) -> None:
    status, headers, body = http(f"{standin.url}/v1/customers/cus_1")
    assert status == 401
    assert json.loads(body)["error"]["message"].startswith("You did not provide an API key.")
    assert headers["Request-Id"].startswith("req_")
    status, _, body = http(f"{standin.url}/v1/nope", headers={"Authorization": f"Bearer {KEY}"})
    assert status == 404
    assert json.loads(body)["error"]["message"].startswith("Unrecognized request URL (GET: /v1/nope).")


def test_invalid_api_key_is_masked(standin: StripeStandIn) -> None:
    # Any well-formed secret or restricted key is accepted; others are rejected like Stripe does.
    with pytest.raises(stripe.AuthenticationError) as caught:
        client_for(standin, key="pk_test_abcdefgh1234").v1.customers.create()
    assert caught.value.http_status == 401
    assert caught.value.user_message == "Invalid API Key provided: pk_test_********1234"
    with pytest.raises(stripe.AuthenticationError):
        client_for(standin, key="whsec_not_an_api_key").v1.customers.create()
    standin.add_fault("401", times=1)  # a well-formed key that Stripe does not know
    with pytest.raises(stripe.AuthenticationError) as caught:
        client_for(standin, key="sk_test_abcdefgh1234").v1.customers.create()
    assert caught.value.user_message == "Invalid API Key provided: sk_test_********1234"
    assert client_for(standin, key="rk_live_restricted").v1.customers.create().livemode is True


# --- customers -------------------------------------------------------------------------------


def test_customer_round_trip(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    created = client.v1.customers.create(
        params={
            "name": "Acme Inc",
            "email": "billing@acme.test",
            "metadata": {"organization_id": "5"},
        }
    )
    assert re.fullmatch(r"cus_[A-Za-z0-9]{14}", created.id)
    assert created.object == "customer" and created.livemode is False
    assert created.to_dict()["metadata"] == {"organization_id": "5"}
    assert headers_of(created)["Request-Id"].startswith("req_")

    (recorded,) = standin.requests_to("POST", "/v1/customers")
    assert recorded.params == {
        "name": "Acme Inc",
        "email": "billing@acme.test",
        "metadata": {"organization_id": "5"},
    }
    assert recorded.headers["authorization"] == f"Bearer {KEY}"
    assert recorded.headers["stripe-version"] == stripe.api_version
    assert recorded.headers["idempotency-key"]  # the SDK always sends one on POST
    assert recorded.status == 200

    fetched = client.v1.customers.retrieve(created.id)
    assert (fetched.id, fetched.name, fetched.email) == (created.id, "Acme Inc", "billing@acme.test")

    deleted = client.v1.customers.delete(created.id)
    assert (deleted.id, deleted.deleted) == (created.id, True)
    again = client.v1.customers.retrieve(created.id)  # real Stripe returns the deleted stub
    assert again.to_dict() == {"id": created.id, "object": "customer", "deleted": True}
    assert standin.customers == []

    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.retrieve("cus_x")
    err = caught.value
    assert (err.http_status, err.code, err.param) == (404, "resource_missing", "id")
    assert err.user_message == "No such customer: 'cus_x'"
    assert cast(dict[str, Any], err.json_body)["error"]["type"] == "invalid_request_error"


def test_unknown_parameter(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.create(params=cast(Any, {"name": "A", "colour": "red"}))
    err = caught.value
    assert (err.http_status, err.code, err.param) == (400, "parameter_unknown", "colour")
    assert caught.value.user_message == "Received unknown parameter: colour"


# --- billing portal --------------------------------------------------------------------------


def test_portal_session_and_page(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"name": "Acme Inc"})
    session = client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": "http://localhost:8000/billing/"}
    )
    assert session.object == "billing_portal.session"
    assert session.id.startswith("bps_") and str(session.configuration).startswith("bpc_")
    assert (session.customer, session.return_url, session.flow, session.locale) == (
        customer.id,
        "http://localhost:8000/billing/",
        None,
        None,
    )
    assert session.url.startswith(f"{standin.url}/p/session/")

    status, headers, body = http(session.url)
    page = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "Stripe billing portal (local stand-in)" in page
    assert "Acme Inc" in page and customer.id in page
    assert '<a id="return-link" href="http://localhost:8000/billing/">' in page

    assert http(f"{standin.url}/p/session/test_nope")[0] == 404
    visits = standin.portal_visits
    assert [(v.session, v.customer) for v in visits] == [(session.id, customer.id), (None, None)]
    assert all(r.path.startswith("/v1/") for r in standin.requests)  # page visits are not API requests


def test_portal_session_errors(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    def error(params: dict[str, Any]) -> stripe.InvalidRequestError:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.billing_portal.sessions.create(params=params)  # type: ignore[arg-type]
        return caught.value

    err = error({"return_url": "http://x.test/"})
    assert (err.code, err.param, err.user_message) == (
        "parameter_missing",
        "customer",
        "Missing required param: customer.",
    )
    err = error({"customer": "cus_missing"})
    assert (err.http_status, err.code, err.param, err.user_message) == (
        400,
        "resource_missing",
        "customer",
        "No such customer: 'cus_missing'",
    )
    assert error({"customer": "cus_1", "bogus": "1"}).code == "parameter_unknown"

    customer_id = standin.create_customer(name="Acme")["id"]
    err = error({"customer": customer_id, "configuration": "conf_1"})
    assert (err.code, err.user_message) == ("resource_missing", "No such configuration: 'conf_1'")

    standin.set_portal_configured(False)
    err = error({"customer": customer_id})
    assert (err.http_status, err.code) == (400, None)
    assert err.user_message == (
        "You can\u2019t create a portal session in test mode until you save your customer portal "
        "settings in test mode at https://dashboard.stripe.com/test/settings/billing/portal."
    )
    with_config = client.v1.billing_portal.sessions.create(
        params={"customer": customer_id, "configuration": "bpc_123"}
    )
    assert with_config.configuration == "bpc_123"

    standin.delete_customer(customer_id)
    assert error({"customer": customer_id, "configuration": "bpc_123"}).param == "customer"


# --- idempotency -----------------------------------------------------------------------------


def test_idempotent_replay(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    params: Any = {"name": "Acme", "metadata": {"organization_id": "7"}}
    first = client.v1.customers.create(params=params, options={"idempotency_key": "org-7"})
    second = client.v1.customers.create(params=params, options={"idempotency_key": "org-7"})
    assert second.id == first.id
    assert "Idempotent-Replayed" not in headers_of(first)
    assert headers_of(second)["Idempotent-Replayed"] == "true"
    assert headers_of(second)["Original-Request"] == headers_of(first)["Request-Id"]
    assert len(standin.customers) == 1
    assert [r.replayed for r in standin.requests_to("POST", "/v1/customers")] == [False, True]

    other_key_owner = client_for(standin, key="sk_test_someone_else")
    third = other_key_owner.v1.customers.create(params=params, options={"idempotency_key": "org-7"})
    assert third.id != first.id  # keys are scoped to the API key


def test_idempotency_key_with_other_params(client: stripe.StripeClient) -> None:
    client.v1.customers.create(params={"name": "A"}, options={"idempotency_key": "k"})
    with pytest.raises(stripe.IdempotencyError) as caught:
        client.v1.customers.create(params={"name": "B"}, options={"idempotency_key": "k"})
    assert caught.value.http_status == 400
    assert caught.value.user_message == (
        "Keys for idempotent requests can only be used with the same parameters they were first "
        "used with. Try using a key other than 'k' if you meant to execute a different request."
    )


def test_concurrent_requests_with_one_key_create_one_customer(standin: StripeStandIn) -> None:
    standin.set_latency(200)  # every request is in flight at once: most see a 409 first
    client = client_for(standin, retries=3)
    ids: list[str] = []
    errors: list[Exception] = []

    def create() -> None:
        try:
            customer = client.v1.customers.create(
                params={"name": "Acme"}, options={"idempotency_key": "org-1-customer"}
            )
            ids.append(customer.id)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=create) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(ids) == 20 and len(set(ids)) == 1
    assert len(standin.customers) == 1
    statuses = [r.status for r in standin.requests_to("POST", "/v1/customers")]
    assert statuses.count(409) >= 1  # "another in-progress request", retried by the SDK
    executed = [r for r in standin.requests_to("POST", "/v1/customers") if r.status == 200 and not r.replayed]
    assert len(executed) == 1


# --- faults, retries, latency ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "exception", "status"),
    [
        ("500", stripe.APIError, 500),
        ("429", stripe.RateLimitError, 429),
        ("401", stripe.AuthenticationError, 401),
        ("drop", stripe.APIConnectionError, None),
        ("no_such_customer", stripe.InvalidRequestError, 404),
    ],
)
def test_fault_kinds_raise_sdk_errors(
    standin: StripeStandIn,
    client: stripe.StripeClient,
    kind: str,
    exception: type[Exception],
    status: int | None,
) -> None:
    customer_id = standin.create_customer(name="Acme")["id"]
    fault = standin.add_fault(kind, method="GET", path_prefix="/v1/customers/", times=1)
    with pytest.raises(exception) as caught:
        client.v1.customers.retrieve(customer_id)
    assert getattr(caught.value, "http_status", None) == status
    assert client.v1.customers.retrieve(customer_id).id == customer_id  # times=1: used up
    assert fault.hits == 1
    first, second = standin.requests_to("GET", "/v1/customers/")
    assert (first.fault, first.status, second.fault, second.status) == (kind, status, None, 200)


def test_portal_fault_kinds(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    customer_id = standin.create_customer(name="Acme")["id"]
    standin.add_fault("portal_not_configured", path_prefix="/v1/billing_portal/", times=1)
    standin.add_fault("no_such_customer", path_prefix="/v1/billing_portal/", times=1)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.billing_portal.sessions.create(params={"customer": customer_id})
    assert "customer portal settings" in caught.value.user_message
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.billing_portal.sessions.create(params={"customer": customer_id})
    assert (caught.value.http_status, caught.value.param) == (400, "customer")
    assert caught.value.user_message == f"No such customer: '{customer_id}'"
    assert client.v1.billing_portal.sessions.create(params={"customer": customer_id}).url


def test_fault_matching(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    standin.add_fault("500", method="POST", path_prefix="/v1/billing_portal/")
    customer = client.v1.customers.create(params={"name": "A"})  # other path: unaffected
    client.v1.customers.retrieve(customer.id)
    for _ in range(2):  # times=None: until reset
        with pytest.raises(stripe.APIError):
            client.v1.billing_portal.sessions.create(params={"customer": customer.id})
    standin.reset()
    standin.create_customer(id=customer.id)
    assert client.v1.billing_portal.sessions.create(params={"customer": customer.id}).customer == customer.id
    with pytest.raises(ValueError, match="unknown fault kind"):
        standin.add_fault("503")


def test_sdk_retries_are_separate_requests(standin: StripeStandIn) -> None:
    standin.add_fault("500", path_prefix="/v1/customers", times=1)
    standin.add_fault("drop", path_prefix="/v1/customers", times=1)
    customer = client_for(standin, retries=2).v1.customers.create(params={"name": "Acme"})
    attempts = standin.requests_to("POST", "/v1/customers")
    assert [(a.fault, a.status) for a in attempts] == [("500", 500), ("drop", None), (None, 200)]
    assert len({a.headers["idempotency-key"] for a in attempts}) == 1  # the SDK reuses its key
    assert [c["id"] for c in standin.customers] == [customer.id]


def test_latency(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    customer_id = standin.create_customer()["id"]
    standin.set_latency(150)
    started = time.monotonic()
    client.v1.customers.retrieve(customer_id)
    assert time.monotonic() - started >= 0.15
    standin.set_latency(0)
    standin.add_fault("latency", latency_ms=200, times=1)
    started = time.monotonic()
    client.v1.customers.retrieve(customer_id)
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    client.v1.customers.retrieve(customer_id)
    assert time.monotonic() - started < 0.2


# --- subscriptions ---------------------------------------------------------------------------


def test_subscription_list_and_retrieve(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    customer_id = standin.create_customer(name="Acme")["id"]
    old = standin.create_subscription(customer=customer_id, status="canceled", created=1_700_000_000)
    period_end = int(time.time()) + 10 * 86_400
    live = standin.create_subscription(
        customer=customer_id,
        status="trialing",
        price_id="price_pro",
        product="prod_pro",
        product_name="Pro",
        nickname="Pro monthly",
        unit_amount=4900,
        quantity=3,
        current_period_end=period_end,
        trial_end=period_end,
    )
    standin.create_subscription(customer=standin.create_customer()["id"])  # someone else's

    default = client.v1.subscriptions.list(params={"customer": customer_id})
    assert [s.id for s in default.data] == [live["id"]]  # canceled ones are left out by default
    everything = client.v1.subscriptions.list(params={"customer": customer_id, "status": "all", "limit": 10})
    assert everything["object"] == "list" and everything.url == "/v1/subscriptions"
    assert [s.id for s in everything.data] == [live["id"], old["id"]]  # newest first
    assert everything.has_more is False
    page = client.v1.subscriptions.list(params={"customer": customer_id, "status": "all", "limit": 1})
    assert (len(page.data), page.has_more) == (1, True)
    recorded = standin.requests_to("GET", "/v1/subscriptions")[-1]
    assert recorded.query == {"customer": customer_id, "status": "all", "limit": "1"}

    sub = client.v1.subscriptions.retrieve(live["id"])
    assert (sub.object, sub.customer, sub.status, sub.cancel_at_period_end) == (
        "subscription",
        customer_id,
        "trialing",
        False,
    )
    assert (sub.trial_end, sub.canceled_at) == (period_end, None)
    assert sub.start_date == sub.created and sub.metadata.to_dict() == {}
    (item,) = sub["items"].data
    assert item.object == "subscription_item" and item.id.startswith("si_")
    assert (item.quantity, item.current_period_end) == (3, period_end)
    assert item.current_period_start < period_end
    assert (item.price.id, item.price.product, item.price.nickname, item.price.unit_amount) == (
        "price_pro",
        "prod_pro",
        "Pro monthly",
        4900,
    )
    assert (item.price.currency, item.price.recurring.interval) == ("usd", "month")

    expanded = client.v1.subscriptions.retrieve(
        live["id"], params={"expand": ["customer", "items.data.price.product"]}
    )
    assert isinstance(expanded.customer, stripe.Customer) and expanded.customer.name == "Acme"
    product = expanded["items"].data[0].price.product
    assert isinstance(product, stripe.Product) and product.name == "Pro"

    standin.update_subscription(live["id"], status="active", cancel_at_period_end=True)
    updated = client.v1.subscriptions.retrieve(live["id"])
    assert (updated.status, updated.cancel_at_period_end, updated.cancel_at) == ("active", True, period_end)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.subscriptions.retrieve("sub_missing")
    assert caught.value.http_status == 404
    assert caught.value.user_message == "No such subscription: 'sub_missing'"

    client.v1.customers.delete(customer_id)  # like Stripe, deleting the customer cancels
    assert client.v1.subscriptions.list(params={"customer": customer_id}).data == []


# --- connections, controls, CLI ----------------------------------------------------------------


def test_keep_alive_reuses_one_connection(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"name": "A"})
    for _ in range(4):
        client.v1.customers.retrieve(customer.id)
    client.v1.subscriptions.list(params={"customer": customer.id})
    assert standin.connections_opened == 1
    assert standin.api_connections_opened == 1
    assert standin.stats()["requests"] == 6


def test_http_controls(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    customer = control(standin, "POST", "customers", {"name": "Acme", "metadata": {"org": "1"}})
    sub = control(standin, "POST", "subscriptions", {"customer": customer["id"], "status": "past_due"})
    assert client.v1.subscriptions.retrieve(sub["id"]).status == "past_due"
    control(standin, "POST", f"subscriptions/{sub['id']}", {"status": "canceled"})
    assert client.v1.subscriptions.retrieve(sub["id"]).canceled_at is not None

    fault = control(standin, "POST", "faults", {"kind": 429, "path_prefix": "/v1/customers", "times": 1})
    assert fault["kind"] == "429"
    with pytest.raises(stripe.RateLimitError):
        client.v1.customers.retrieve(customer["id"])
    control(standin, "POST", "portal_configured", {"value": False})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.billing_portal.sessions.create(params={"customer": customer["id"]})
    assert control(standin, "POST", "latency", {"ms": 5}) == {"ms": 5}

    stats = control(standin, "GET", "stats")
    assert stats["requests"] == 4  # control calls are not counted
    assert stats["by_path"]["GET /v1/subscriptions/{id}"] == 2
    assert stats["by_status"]["429"] == 1
    assert stats["connections_opened"] > stats["api_connections_opened"] == 1  # controls: own conns
    assert stats["latency_ms"] == 5
    report = control(standin, "GET", "requests?method=GET&path_prefix=/v1/customers")
    assert [(r["path"], r["status"], r["fault"]) for r in report["requests"]] == [
        (f"/v1/customers/{customer['id']}", 429, "429")
    ]
    assert report["requests"][0]["headers"]["authorization"] == f"Bearer {KEY}"

    status, _, body = http(f"{standin.url}/_standin/faults", "POST", b'{"kind": "teapot"}')
    assert status == 400 and b"unknown fault kind" in body
    control(standin, "POST", "reset", {})
    assert control(standin, "GET", "stats")["requests"] == 0
    assert standin.customers == []


def test_cli_serves_until_terminated(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "stripe_standin", "--host", "127.0.0.1", "--port", "0", "--latency-ms", "1"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"stripe-standin listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        client = stripe.StripeClient(KEY, base_addresses={"api": match.group(1)}, max_network_retries=0)
        customer = client.v1.customers.create(params={"name": "CLI"})
        assert client.v1.customers.retrieve(customer.id).name == "CLI"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert stderr == ""  # quiet: no per-request logging
