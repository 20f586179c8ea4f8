"""GET /v1/events and /v1/events/{id}, driven through the real SDK as the app's gateway calls it."""

from __future__ import annotations

import pytest
import stripe

from stripe_standin import StripeStandIn, core

NOW = 1_900_000_000
DAY = 86_400


@pytest.fixture
def standin(_server: StripeStandIn, monkeypatch: pytest.MonkeyPatch) -> StripeStandIn:
    _server.reset()
    monkeypatch.setattr(core, "now", lambda: NOW)
    return _server


def customers_at(standin: StripeStandIn, monkeypatch: pytest.MonkeyPatch, times: list[int]) -> list[str]:
    """One customer.created event at each time; their event ids, oldest first."""
    for t in times:
        monkeypatch.setattr(core, "now", lambda t=t: t)
        standin.create_customer(name=f"at {t}")
    monkeypatch.setattr(core, "now", lambda: NOW)
    return [e["id"] for e in standin.events("customer.created")]


def test_events_are_listed_newest_first_in_pages(standin, client, monkeypatch):
    ids = customers_at(standin, monkeypatch, [NOW - 50 + i for i in range(25)])

    first = client.v1.events.list({"limit": 10})
    assert first.object == "list" and first.url == "/v1/events" and first.has_more is True
    assert [e.id for e in first.data] == ids[::-1][:10]
    assert first.data[0].type == "customer.created"
    assert first.data[0].data.object.name == f"at {NOW - 26}"
    paged = [e.id for e in client.v1.events.list({"limit": 10}).auto_paging_iter()]
    assert paged == ids[::-1]
    second = client.v1.events.list({"limit": 10, "starting_after": first.data[-1].id})
    assert [e.id for e in second.data] == ids[::-1][10:20]
    back = client.v1.events.list({"limit": 3, "ending_before": second.data[0].id})
    assert [e.id for e in back.data] == ids[::-1][7:10]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.events.list({"limit": 101})
    assert caught.value.param == "limit"


def test_created_bounds_filter_the_list(standin, client, monkeypatch):
    ids = customers_at(standin, monkeypatch, [NOW - 40, NOW - 30, NOW - 20, NOW - 10])

    def listed(created: dict[str, int]) -> list[str]:
        return [e.id for e in client.v1.events.list({"created": created}).data]  # type: ignore[typeddict-item]

    assert listed({"gte": NOW - 30}) == [ids[3], ids[2], ids[1]]
    assert listed({"gt": NOW - 30}) == [ids[3], ids[2]]
    assert listed({"lte": NOW - 30}) == [ids[1], ids[0]]
    assert listed({"lt": NOW - 30, "gte": NOW - 40}) == [ids[0]]


def test_type_and_types_filter_the_list(standin, client):
    customer = standin.create_customer(name="Acme")
    subscription = standin.create_subscription(customer=customer["id"])
    standin.update_subscription(subscription["id"], cancel_at_period_end=True)

    def types(params: dict[str, object]) -> list[str]:
        return [e.type for e in client.v1.events.list(params).data]  # type: ignore[arg-type]

    assert types({"type": "customer.subscription.updated"}) == ["customer.subscription.updated"]
    assert types({"type": "customer.subscription.*"}) == [
        "customer.subscription.updated",
        "customer.subscription.created",
    ]
    assert types({"types": ["customer.created", "customer.subscription.updated"]}) == [
        "customer.subscription.updated",
        "customer.created",
    ]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.events.list({"type": "customer.created", "types": ["customer.created"]})
    assert caught.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.events.list({"typo": "x"})  # type: ignore[typeddict-unknown-key]
    assert caught.value.code == "parameter_unknown"


def test_events_older_than_30_days_are_not_listed_nor_retrieved(standin, client, monkeypatch):
    old, recent = customers_at(standin, monkeypatch, [NOW - 31 * DAY, NOW - 29 * DAY])

    assert [e.id for e in client.v1.events.list({"limit": 100}).data] == [recent]
    assert client.v1.events.retrieve(recent).id == recent
    for missing in (old, "evt_unknown"):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.events.retrieve(missing)
        assert (caught.value.http_status, caught.value.code) == (404, "resource_missing")


def test_a_retrieved_event_is_the_one_recorded(standin, client):
    standin.create_customer(name="Acme")
    (recorded,) = standin.events("customer.created")

    retrieved = client.v1.events.retrieve(recorded["id"])

    assert retrieved.to_dict() == recorded
