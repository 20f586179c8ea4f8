"""`sync_subscriptions --since DATE`: the events Stripe sent since then, replayed as webhooks."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from billing import stripe_gateway
from billing.models import Subscription, WebhookEvent
from billing.services.sync_events import SinceInvalid, events_replay, since_parse
from organizations.models import Organization
from stripe_standin import StripeStandIn
from stripe_standin import core as standin_core
from tests.billing.stripe_events import deliver
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


def organizations_with_subscriptions(standin: StripeStandIn, n: int) -> list[dict]:
    """`n` customers with a subscription each at Stripe, and the same in the app as of an hour ago."""
    customer_ids = standin.seed_bulk(n)
    organizations = Organization.objects.bulk_create(
        Organization(name=f"Org {i}", stripe_customer_id=customer_id, stripe_account_id=standin.account_id)
        for i, customer_id in enumerate(customer_ids)
    )
    by_customer = {o.stripe_customer_id: o for o in organizations}
    an_hour_ago = timezone.now() - timedelta(hours=1)
    subscriptions = standin.subscriptions
    Subscription.objects.bulk_create(
        SubscriptionFactory.build(
            organization=by_customer[s["customer"]],
            stripe_subscription_id=s["id"],
            status=s["status"],
            price_id=s["items"]["data"][0]["price"]["id"],
            product=s["items"]["data"][0]["price"]["product"],
            state_at=an_hour_ago,
        )
        for s in subscriptions
    )
    return subscriptions


def test_the_replay_applies_the_changes_since_then_without_listing_subscriptions(stripe_standin):
    subscriptions = organizations_with_subscriptions(stripe_standin, 30)
    since = timezone.now() - timedelta(minutes=5)
    changed = [s["id"] for s in subscriptions if s["status"] != "canceled"][:20]
    for subscription_id in changed:
        stripe_standin.update_subscription(subscription_id, cancel_at_period_end=True)
    before = len(stripe_standin.requests)

    result = events_replay(since=since)

    rows = Subscription.objects.all()
    assert sorted(r.stripe_subscription_id for r in rows if r.cancel_at_period_end) == sorted(changed)
    updates = stripe_standin.events("customer.subscription.updated")
    assert len(updates) == 20
    assert set(WebhookEvent.objects.values_list("stripe_event_id", flat=True)) >= {e["id"] for e in updates}
    assert result.listed == len(stripe_standin.events()) and result.pages == 1
    # The catalogue events among them queue a read of the plan list (products, prices and
    # their features), done at once by the tests' queue: not a call per organization.
    asked = [
        f"{r.method} {r.path}"
        for r in stripe_standin.requests[before:]
        if not r.path.startswith(("/v1/products", "/v1/prices"))
    ]
    assert asked == ["GET /v1/events"]  # no subscription page, nor one call per organization


def test_an_event_the_webhook_processed_is_not_applied_again(client, stripe_standin):
    (subscription,) = organizations_with_subscriptions(stripe_standin, 1)
    since = timezone.now() - timedelta(minutes=5)
    stripe_standin.update_subscription(subscription["id"], cancel_at_period_end=True)
    (update,) = stripe_standin.events("customer.subscription.updated")
    assert deliver(client, update).status_code == 200
    row = Subscription.objects.get(stripe_subscription_id=subscription["id"])
    assert row.cancel_at_period_end is True
    # Changed since in the app (not by an event): a second application would undo this.
    Subscription.objects.filter(pk=row.pk).update(cancel_at_period_end=False)

    result = events_replay(since=since)

    assert result.duplicate == 1
    assert Subscription.objects.get(pk=row.pk).cancel_at_period_end is False
    assert WebhookEvent.objects.filter(stripe_event_id=update["id"]).count() == 1
    again = events_replay(since=since)
    assert again.processed == 0 and again.duplicate == again.listed


def test_pages_are_read_to_the_end_and_applied_oldest_first(stripe_standin, monkeypatch):
    (subscription,) = organizations_with_subscriptions(stripe_standin, 1)
    since = timezone.now() - timedelta(minutes=5)
    first = int(time.time()) - 60
    for i, quantity in enumerate(range(2, 8)):  # six changes, ten seconds apart
        monkeypatch.setattr(standin_core, "now", lambda i=i: first + 10 * i)
        stripe_standin.update_subscription(subscription["id"], quantity=quantity)
    monkeypatch.undo()
    listing = stripe_gateway.event_list
    monkeypatch.setattr(stripe_gateway, "event_list", lambda **kwargs: listing(**kwargs, limit=2))

    result = events_replay(since=since)

    assert result.pages == -(-result.listed // 2)  # every page of two, to the last
    assert Subscription.objects.get(stripe_subscription_id=subscription["id"]).quantity == 7
    # Each change applied in turn, none found older than the one before it.
    assert result.outcomes["processed"] - (result.listed - 6) == 6
    assert "unchanged" not in result.outcomes


def test_a_date_older_than_30_days_is_refused_before_asking_stripe(stripe_standin):
    with pytest.raises(SinceInvalid, match="more than 30 days ago"):
        events_replay(since=timezone.now() - timedelta(days=31))
    assert stripe_standin.requests == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2020-01-01", "more than 30 days ago"),
        ("yesterday", "is not a date"),
        ("2026-13-01", "is not a date"),
        ((datetime.now(UTC) + timedelta(days=2)).date().isoformat(), "in the future"),
    ],
)
def test_since_refuses_bad_or_old_dates(value, message):
    with pytest.raises(SinceInvalid, match=message):
        since_parse(value)


def test_since_reads_a_utc_date_or_an_iso_date_time():
    day = (datetime.now(UTC) - timedelta(days=3)).date()
    assert since_parse(day.isoformat()) == datetime(day.year, day.month, day.day, tzinfo=UTC)
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    assert since_parse(moment.strftime("%Y-%m-%dT%H:%M:%SZ")) == moment
    assert since_parse(moment.astimezone(UTC).replace(tzinfo=None).isoformat()) == moment
    assert since_parse((moment + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00")) == moment


def test_as_an_arguments_type_a_refused_date_exits_2(capsys):
    parser = argparse.ArgumentParser(prog="sync_subscriptions")
    parser.add_argument("--since", type=since_parse)

    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--since", "2020-01-01"])

    assert exited.value.code == 2
    assert "more than 30 days ago" in capsys.readouterr().err


def test_the_command_replays_with_since_and_refuses_an_old_date(stripe_standin):
    subscriptions = organizations_with_subscriptions(stripe_standin, 5)
    since = (timezone.now() - timedelta(minutes=5)).isoformat()
    changed = next(s["id"] for s in subscriptions if s["status"] != "canceled")
    stripe_standin.update_subscription(changed, cancel_at_period_end=True)
    before = len(stripe_standin.requests)
    out = StringIO()

    call_command("sync_subscriptions", "--since", since, stdout=out)

    assert out.getvalue().startswith("replayed "), out.getvalue()
    assert Subscription.objects.get(stripe_subscription_id=changed).cancel_at_period_end is True
    asked = [r.path for r in stripe_standin.requests[before:]]
    assert [p for p in asked if not p.startswith(("/v1/products", "/v1/prices"))] == ["/v1/events"]
    with pytest.raises(CommandError, match="30 days"):
        call_command("sync_subscriptions", "--since", "2020-01-01")
