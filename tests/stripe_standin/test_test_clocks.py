"""Test clocks, plan-change prorations and invoice previews at the stand-in, through the SDK.

As at Stripe: a customer on a test clock lives on the clock's time; advancing it renews (the
invoice paid, or failed with a declining card), ends a subscription set to cancel, and dates
what it causes at the clock's time. A plan change prorates onto the next invoice, a change of
interval starts a new cycle invoiced at once, and `invoices/create_preview` shows the same
amounts the change then makes.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from typing import Any

import pytest
import stripe

from stripe_standin import StripeStandIn

START = 1_780_000_000  # a Thursday in May 2026, 20:26:40 UTC
DAY = 86_400


@pytest.fixture
def clocked(standin: StripeStandIn, client: Any) -> tuple[str, str]:
    """A customer on a new clock, with a card and a Starter monthly subscription: (clock, subscription)."""
    standin.seed_demo_catalogue()
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": START, "name": "demo"})
    customer = client.v1.customers.create({"name": "Acme Inc", "test_clock": clock.id})
    standin.save_card(customer.id)
    subscription = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": "price_demo_starter_monthly"}]}
    )
    return clock.id, subscription.id


def _item(client: Any, subscription_id: str) -> str:
    return client.v1.subscriptions.retrieve(subscription_id)["items"]["data"][0]["id"]


def test_a_clock_is_created_retrieved_and_listed(client: Any):
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": START})
    assert clock.object == "test_helpers.test_clock" and clock.status == "ready"
    assert client.v1.test_helpers.test_clocks.retrieve(clock.id).frozen_time == START
    assert [c.id for c in client.v1.test_helpers.test_clocks.list().data] == [clock.id]


def test_a_customer_on_a_clock_lives_on_its_time(client: Any, clocked):
    clock_id, subscription_id = clocked
    subscription = client.v1.subscriptions.retrieve(subscription_id)
    assert subscription.test_clock == clock_id
    assert subscription["items"]["data"][0]["current_period_start"] == START
    assert client.v1.customers.retrieve(subscription.customer).test_clock == clock_id


def test_advancing_a_month_renews_with_a_paid_invoice(standin: StripeStandIn, client: Any, clocked):
    clock_id, subscription_id = clocked
    before = client.v1.subscriptions.retrieve(subscription_id)["items"]["data"][0]["current_period_end"]
    clock = client.v1.test_helpers.test_clocks.advance(clock_id, {"frozen_time": before + DAY})
    assert clock.frozen_time == before + DAY and clock.status == "ready"
    subscription = client.v1.subscriptions.retrieve(subscription_id)
    assert subscription.status == "active"
    assert subscription["items"]["data"][0]["current_period_start"] == before
    invoices = client.v1.invoices.list({"subscription": subscription_id}).data
    assert [(i.billing_reason, i.status, i.amount_paid) for i in invoices] == [
        ("subscription_cycle", "paid", 1900),
        ("subscription_create", "paid", 1900),
    ]
    assert invoices[0].created == before  # dated at the clock's time
    renewal_events = [e for e in standin.events("invoice.paid")]
    assert renewal_events[-1]["created"] == before


def test_a_declining_card_makes_the_renewal_fail(standin: StripeStandIn, client: Any, clocked):
    clock_id, subscription_id = clocked
    customer = client.v1.subscriptions.retrieve(subscription_id).customer
    standin.save_card(customer, declines=True)
    client.v1.test_helpers.test_clocks.advance(clock_id, {"frozen_time": START + 31 * DAY + 1})
    assert client.v1.subscriptions.retrieve(subscription_id).status == "past_due"
    assert standin.events("invoice.payment_failed")


def test_a_subscription_set_to_cancel_ends_with_the_period(standin: StripeStandIn, client: Any, clocked):
    clock_id, subscription_id = clocked
    end = client.v1.subscriptions.update(subscription_id, {"cancel_at_period_end": True})["items"]["data"][0][
        "current_period_end"
    ]
    client.v1.test_helpers.test_clocks.advance(clock_id, {"frozen_time": end + DAY})
    subscription = client.v1.subscriptions.retrieve(subscription_id)
    assert subscription.status == "canceled" and subscription.ended_at == end
    deleted = standin.events("customer.subscription.deleted")
    assert [e["data"]["object"]["id"] for e in deleted] == [subscription_id]
    assert deleted[0]["created"] == end


def test_a_clock_cannot_go_back(client: Any, clocked):
    clock_id, _ = clocked
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.test_helpers.test_clocks.advance(clock_id, {"frozen_time": START - 1})
    assert raised.value.param == "frozen_time"


def test_an_upgrade_prorates_onto_the_next_invoice_as_previewed(client: Any, clocked):
    clock_id, subscription_id = clocked
    client.v1.test_helpers.test_clocks.advance(clock_id, {"frozen_time": START + 10 * DAY})
    item = _item(client, subscription_id)
    details = {
        "items": [{"id": item, "price": "price_demo_pro_monthly"}],
        "proration_behavior": "create_prorations",
    }
    preview = client.v1.invoices.create_preview(
        {"subscription": subscription_id, "subscription_details": details}
    )
    prorations = [line for line in preview.lines.data if line.parent.subscription_item_details.proration]
    # May has 31 days: 21 of them unused on Starter, used on Pro instead.
    assert [line.amount for line in prorations] == [round(-1900 * 21 / 31), round(4900 * 21 / 31)]
    assert preview.amount_due == 4900 + round(-1900 * 21 / 31) + round(4900 * 21 / 31)
    assert preview.id is None and preview.billing_reason == "upcoming"

    client.v1.subscriptions.update(
        subscription_id,
        {
            "items": [{"id": item, "price": "price_demo_pro_monthly"}],
            "proration_behavior": "create_prorations",
        },
    )
    assert len(client.v1.invoices.list({"subscription": subscription_id}).data) == 1  # nothing billed now
    client.v1.test_helpers.test_clocks.advance(clock_id, {"frozen_time": START + 32 * DAY})
    renewal = client.v1.invoices.list({"subscription": subscription_id}).data[0]
    assert renewal.billing_reason == "subscription_cycle"
    assert renewal.amount_due == preview.amount_due
    assert renewal.status == "paid"


def test_a_change_of_interval_starts_a_new_cycle_invoiced_at_once(client: Any, clocked):
    clock_id, subscription_id = clocked
    now = START + 10 * DAY
    client.v1.test_helpers.test_clocks.advance(clock_id, {"frozen_time": now})
    item = _item(client, subscription_id)
    change = {
        "items": [{"id": item, "price": "price_demo_starter_yearly"}],
        "proration_behavior": "create_prorations",
    }
    preview = client.v1.invoices.create_preview(
        {"subscription": subscription_id, "subscription_details": change}
    )
    assert preview.amount_due == 19000 - round(1900 * 21 / 31)

    subscription = client.v1.subscriptions.update(subscription_id, change)
    period = subscription["items"]["data"][0]
    assert period["current_period_start"] == now
    assert period["current_period_end"] == now + 365 * DAY  # May 2026 to May 2027
    invoice = client.v1.invoices.retrieve(subscription.latest_invoice)
    assert invoice.billing_reason == "subscription_update" and invoice.status == "paid"
    assert invoice.amount_paid == preview.amount_due


def test_a_downgrade_credit_pays_the_next_invoice(client: Any, standin: StripeStandIn):
    standin.seed_demo_catalogue()
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": START})
    customer = client.v1.customers.create({"test_clock": clock.id})
    standin.save_card(customer.id)
    subscription = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": "price_demo_pro_monthly"}]}
    )
    item = _item(client, subscription.id)
    client.v1.subscriptions.update(
        subscription.id, {"items": [{"id": item, "price": "price_demo_starter_monthly"}]}
    )
    preview = client.v1.invoices.create_preview({"subscription": subscription.id})
    # The whole month credited, the whole month charged at the new price, and the next one:
    # more credit than charge, so nothing is due and the rest stays as the customer's balance.
    assert preview.total == -4900 + 1900 + 1900
    assert preview.amount_due == 0 and preview.ending_balance == -1100


def test_a_preview_needs_the_subscriptions_own_item(client: Any, clocked):
    _, subscription_id = clocked
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoices.create_preview(
            {
                "subscription": subscription_id,
                "subscription_details": {"items": [{"id": "si_other", "price": "price_demo_pro_monthly"}]},
            }
        )
    assert raised.value.param == "subscription_details[items][0][id]"


def test_the_portal_offers_a_card_that_declines(standin: StripeStandIn, client: Any, clocked):
    clock_id, subscription_id = clocked
    customer = client.v1.subscriptions.retrieve(subscription_id).customer
    session = client.v1.billing_portal.sessions.create(
        {"customer": customer, "return_url": "http://app.test/"}
    )
    with urllib.request.urlopen(session.url, timeout=10) as answer:
        assert 'id="declining-card"' in answer.read().decode()
    form = urllib.parse.urlencode({"action": "declining_card"}).encode()
    with urllib.request.urlopen(
        urllib.request.Request(session.url, data=form, method="POST"), timeout=10
    ) as answer:
        assert "its next charge will be declined" in answer.read().decode()
    client.v1.test_helpers.test_clocks.advance(clock_id, {"frozen_time": START + 32 * DAY})
    assert client.v1.subscriptions.retrieve(subscription_id).status == "past_due"
