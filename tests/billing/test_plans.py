"""GET /subscriptions: the plans on offer, read from the stand-in's catalogue through the real
SDK; their shapes, order, period types and capabilities; the cache and its fallbacks."""

from __future__ import annotations

import threading
import time

import pytest
from rest_framework.test import APIClient

from billing import selectors
from billing.services.plans import period_type
from tests.assertions import assert_error

URL = "/subscriptions"


def plans(client: APIClient | None = None) -> list[dict]:
    response = (client or APIClient()).get(URL)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"success", "data"} and body["success"] is True, body
    return body["data"]


@pytest.mark.django_db
def test_demo_catalogue_in_exact_shapes_without_authentication(stripe_standin):
    stripe_standin.seed_demo_catalogue()
    data = plans()
    assert [plan["id"] for plan in data] == ["prod_demo_free", "prod_demo_starter", "prod_demo_pro"]
    starter = data[1]
    assert starter == {
        "id": "prod_demo_starter",
        "name": "Starter",
        "description": "For small teams: 1 TB of storage.",
        "periods": [
            {
                "id": "price_demo_starter_monthly",
                "subscriptionId": "prod_demo_starter",
                "periodType": "MONTHLY",
                "price": 1900,
                "currency": "usd",
                "perSeat": False,
            },
            {
                "id": "price_demo_starter_yearly",
                "subscriptionId": "prod_demo_starter",
                "periodType": "YEARLY",
                "price": 19000,
                "currency": "usd",
                "perSeat": False,
            },
        ],
        "capabilities": [
            {
                "id": "feat_demo_projects",
                "code": "PROJECTS",
                "description": "Projects",
                "type": "BOOLEAN",
                "value": 1,
            },
            {
                "id": "feat_demo_storage_1tb",
                "code": "STORAGE_TB",
                "description": "1 TB of storage",
                "type": "QUOTA",
                "value": 1,
            },
        ],
    }
    pro_codes = {(c["code"], c["value"]) for c in data[2]["capabilities"]}
    assert pro_codes == {("PROJECTS", 1), ("STORAGE_TB", 5), ("EXTENDED_SUPPORT", 1)}
    assert data[0]["periods"][0]["price"] == 0


@pytest.mark.django_db
def test_trailing_slash_and_head_are_served(stripe_standin, api_client):
    stripe_standin.seed_demo_catalogue()
    assert api_client.get(URL + "/").status_code == 200
    assert api_client.head(URL).status_code == 200


@pytest.mark.django_db
def test_other_methods_are_405_in_the_envelope(api_client):
    assert_error(api_client.post(URL), 405, "METHOD_NOT_ALLOWED")


@pytest.mark.django_db
def test_a_bad_token_is_ignored_on_the_public_list(stripe_standin):
    stripe_standin.seed_demo_catalogue()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert len(plans(client)) == 3


@pytest.mark.django_db
def test_order_follows_billing_products_and_skips_the_rest(stripe_standin, settings):
    stripe_standin.seed_demo_catalogue()
    settings.BILLING_PRODUCTS = ["prod_demo_pro", "prod_demo_free"]
    assert [plan["id"] for plan in plans()] == ["prod_demo_pro", "prod_demo_free"]
    (listed,) = [r for r in stripe_standin.requests_to("GET", "/v1/products") if r.path == "/v1/products"]
    assert listed.query == {"active": "true", "limit": "100", "ids": ["prod_demo_pro", "prod_demo_free"]}


@pytest.mark.django_db
def test_without_billing_products_by_lowest_price_and_periods_by_price(stripe_standin):
    cheap = stripe_standin.create_product("Cheap")
    dear = stripe_standin.create_product("Dear")
    stripe_standin.create_price(dear["id"], 5000, interval="year")
    stripe_standin.create_price(dear["id"], 900, interval="month")
    stripe_standin.create_price(cheap["id"], 500, interval="month", interval_count=3)
    stripe_standin.create_price(cheap["id"], 300, interval="week")
    stripe_standin.create_price(cheap["id"], 100, interval="day")
    stripe_standin.create_price(cheap["id"], 50, interval=None)  # one-time: not a period
    stripe_standin.create_price(cheap["id"], 10, interval="month", active=False)  # inactive
    lonely = stripe_standin.create_product("No recurring price")
    stripe_standin.create_price(lonely["id"], 10, interval=None)
    stripe_standin.create_product("Archived", active=False)
    data = plans()
    assert [plan["name"] for plan in data] == ["Cheap", "Dear"]
    assert [(p["price"], p["periodType"]) for p in data[0]["periods"]] == [
        (100, "DAILY"),
        (300, "WEEKLY"),
        (500, "EVERY_3_MONTHS"),
    ]
    assert [p["periodType"] for p in data[1]["periods"]] == ["MONTHLY", "YEARLY"]
    assert data[0]["capabilities"] == []


def test_period_types():
    assert period_type(interval="year", interval_count=1) == "YEARLY"
    assert period_type(interval="week", interval_count=2) == "EVERY_2_WEEKS"
    assert period_type(interval="day", interval_count=10) == "EVERY_10_DAYS"


@pytest.mark.django_db
def test_capability_defaults_from_lookup_key(stripe_standin):
    product = stripe_standin.create_product("Basic")
    stripe_standin.create_price(product["id"], 100)
    feature = stripe_standin.create_feature("Priority queue", "priority-queue")
    quota = stripe_standin.create_feature(
        "Seats", "seats-10", metadata={"code": "SEATS", "type": "QUOTA", "value": "10"}
    )
    stripe_standin.attach_feature(product["id"], feature["id"])
    stripe_standin.attach_feature(product["id"], quota["id"])
    (plan,) = plans()
    assert plan["capabilities"] == [  # in the order they were attached
        {
            "id": feature["id"],
            "code": "priority-queue",
            "description": "Priority queue",
            "type": "BOOLEAN",
            "value": 1,
        },
        {"id": quota["id"], "code": "SEATS", "description": "Seats", "type": "QUOTA", "value": 10},
    ]


@pytest.mark.django_db
def test_the_list_is_cached(stripe_standin):
    stripe_standin.seed_demo_catalogue()
    first = plans()
    calls = len(stripe_standin.requests)
    assert plans() == first
    assert len(stripe_standin.requests) == calls  # no Stripe call the second time


@pytest.mark.django_db
def test_cache_expires_after_the_configured_seconds(stripe_standin, settings):
    settings.BILLING_PLANS_CACHE_SECONDS = 0  # Django: a timeout of 0 stores nothing fresh
    stripe_standin.seed_demo_catalogue()
    plans()
    plans()
    assert len([r for r in stripe_standin.requests if r.path == "/v1/products"]) == 2


@pytest.mark.django_db
def test_a_cached_list_is_served_while_stripe_is_down(stripe_standin, settings):
    stripe_standin.seed_demo_catalogue()
    settings.BILLING_PLANS_CACHE_SECONDS = 0  # only the stale copy is kept
    first = plans()
    stripe_standin.add_fault("500")
    assert plans() == first


@pytest.mark.django_db
def test_without_a_cached_list_stripe_down_is_503(stripe_standin, api_client):
    stripe_standin.seed_demo_catalogue()
    stripe_standin.add_fault("500")
    response = api_client.get(URL)
    assert_error(response, 503, "BILLING_UNAVAILABLE")
    assert int(response["Retry-After"]) >= 1


@pytest.mark.django_db
def test_no_stripe_key_is_500_not_configured(settings, api_client):
    settings.STRIPE_SECRET_KEY = ""
    assert_error(api_client.get(URL), 500, "BILLING_NOT_CONFIGURED")


@pytest.mark.django_db
def test_selector_finds_a_price_plan_from_the_cache_without_stripe(stripe_standin):
    assert selectors.plan_period_for_price(price_id="price_demo_pro_yearly") is None  # never fetched
    stripe_standin.seed_demo_catalogue()
    plans()
    calls = len(stripe_standin.requests)
    found = selectors.plan_period_for_price(price_id="price_demo_pro_yearly")
    assert found is not None
    plan, period = found
    assert (plan["name"], period["periodType"], period["price"]) == ("Pro", "YEARLY", 49000)
    free = selectors.plan_for_product(product_id="prod_demo_free")
    assert free is not None and free["name"] == "Free"
    assert selectors.plan_period_for_price(price_id="price_unknown") is None
    assert len(stripe_standin.requests) == calls


@pytest.mark.django_db
def test_a_cached_list_costs_no_query_and_no_stripe_call(stripe_standin, django_assert_num_queries):
    stripe_standin.seed_demo_catalogue()
    first = plans()
    calls = len(stripe_standin.requests)
    with django_assert_num_queries(0):  # public: no user lookup; the list comes from the cache
        assert plans() == first
    assert len(stripe_standin.requests) == calls


def _read_at_once(readers: int) -> list[tuple[list, float]]:
    """`readers` threads reading the plan list at the same moment: what each got, and when."""
    from billing.services.plans import plans_list

    barrier = threading.Barrier(readers)
    results: list[tuple[list, float]] = []

    def read() -> None:
        barrier.wait()
        started = time.monotonic()
        plans = plans_list()
        results.append((plans, time.monotonic() - started))

    threads = [threading.Thread(target=read) for _ in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == readers
    return results


def _product_lists(standin) -> int:
    return len([r for r in standin.requests if r.method == "GET" and r.path == "/v1/products"])


def test_an_expired_list_is_fetched_once_while_the_others_serve_the_last_one(stripe_standin, settings):
    from billing.services.plans import plans_list

    stripe_standin.seed_demo_catalogue()
    settings.BILLING_PLANS_CACHE_SECONDS = 0  # every read finds the fresh copy gone
    last = plans_list()
    fetched = _product_lists(stripe_standin)
    stripe_standin.set_latency(300)

    results = _read_at_once(8)

    assert _product_lists(stripe_standin) == fetched + 1  # one fetch, not eight
    assert all(plans == last for plans, _ in results)
    # Only the fetcher waited on Stripe: a fetch is five calls at 300 ms, 1.5 s at the least.
    assert sorted(seconds for _, seconds in results)[-2] < 1.0
    assert max(seconds for _, seconds in results) >= 1.5


def test_with_no_list_yet_the_readers_wait_for_one_fetch(stripe_standin):
    stripe_standin.seed_demo_catalogue()
    stripe_standin.set_latency(200)

    results = _read_at_once(8)

    assert _product_lists(stripe_standin) == 1
    assert len({repr(plans) for plans, _ in results}) == 1 and results[0][0]


def test_after_a_catalogue_change_the_readers_wait_for_the_new_list(stripe_standin):
    from billing.services.plans import plans_invalidate, plans_list

    stripe_standin.seed_demo_catalogue()
    before = plans_list()
    new = stripe_standin.create_product("Enterprise")
    stripe_standin.create_price(new["id"], 99_000, interval="month")
    plans_invalidate()  # as a product.* / price.* webhook does
    fetched = _product_lists(stripe_standin)
    stripe_standin.set_latency(200)

    results = _read_at_once(8)

    assert _product_lists(stripe_standin) == fetched + 1
    for plans, _ in results:  # the old list, now out of date, is served to no one
        assert len(plans) == len(before) + 1 and any(plan["id"] == new["id"] for plan in plans)
