"""sync_subscriptions at scale: pages (not a call per organization), its rate, Stripe's 429, resume."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from billing import stripe_gateway
from billing.models import Subscription, SyncCheckpoint
from billing.stripe_gateway import resilience
from organizations.models import Organization
from tests import figures
from tests.factories import OrganizationFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

T0 = int(time.time()) - 86400


def _seed(stripe_standin: Any, count: int) -> list[Organization]:
    """`count` organizations, each with a customer and an active subscription at Stripe, and a
    stale row of it here (past_due, stored a day ago: the webhooks since were missed)."""
    organizations = Organization.objects.bulk_create(
        [
            OrganizationFactory.build(name=f"Org {n:05}", stripe_customer_id=f"cus_sync{n:05}")
            for n in range(count)
        ]
    )
    rows = []
    for n, organization in enumerate(organizations):
        stripe_standin.create_customer(id=f"cus_sync{n:05}", name=organization.name)
        sub = stripe_standin.create_subscription(customer=f"cus_sync{n:05}", status="active", created=T0 + n)
        rows.append(
            SubscriptionFactory.build(
                organization=organization,
                stripe_subscription_id=sub["id"],
                status="past_due",
                stripe_created=datetime.fromtimestamp(T0 + n, tz=UTC),
                state_at=datetime.fromtimestamp(T0, tz=UTC),
            )
        )
    Subscription.objects.bulk_create(rows)
    return organizations


def sync(*args: str) -> str:
    out = StringIO()
    call_command("sync_subscriptions", *args, stdout=out, stderr=StringIO(), no_color=True)
    return out.getvalue()


def _calls(stripe_standin: Any) -> int:
    return len([r for r in stripe_standin.requests if r.path.startswith("/v1/")])


def _records_them_all(stripe_standin: Any, count: int) -> None:
    _seed(stripe_standin, count)
    before = _calls(stripe_standin)

    out = sync()

    assert Subscription.objects.filter(status="active").count() == count
    assert not Subscription.objects.exclude(status="active").exists()
    calls = _calls(stripe_standin) - before
    assert calls <= 2 * count / 100 + 50, calls
    figures.record(f"sync of {count} organizations", stripe_calls=calls, stdout_lines=len(out.splitlines()))
    lines = out.splitlines()
    assert len(lines) <= 12  # at most 11 progress lines and one summary
    assert lines[-1].startswith(f"synced {count} organizations: {count} subscriptions ({count} updated)")
    assert lines[-1].endswith(f"{calls} Stripe calls")


def test_300_stale_organizations_cost_a_few_pages(stripe_standin):
    _records_them_all(stripe_standin, 300)


@pytest.mark.reliability
def test_3000_stale_organizations_cost_a_few_pages(stripe_standin):
    _records_them_all(stripe_standin, 3000)


def test_at_most_the_configured_rate(stripe_standin, settings, monkeypatch):
    settings.STRIPE_SYNC_RATE = 10
    monkeypatch.setattr("billing.stripe_gateway.calls.SYNC_PAGE_SIZE", 10)  # more pages than a second's worth
    _seed(stripe_standin, 150)
    start = time.time()

    sync()

    sent = sorted(r.time for r in stripe_standin.requests if r.time >= start)
    assert len(sent) > 30
    busiest = max(sum(1 for t in sent if s <= t < s + 1.0) for s in sent)
    assert busiest <= 10
    assert not [r for r in stripe_standin.requests if r.status == 429]
    assert Subscription.objects.filter(status="active").count() == 150


def test_stripe_429_is_waited_out_and_never_opens_the_breaker(stripe_standin, settings, monkeypatch):
    settings.STRIPE_BREAKER_FAILURES = 2  # two failures in a row would open it
    monkeypatch.setattr(resilience, "_SYNC_RATE_LIMITED_FIRST_WAIT", 0.01)
    _seed(stripe_standin, 250)
    # Stripe rate-limits the first five reads of each list.
    for path in ("/v1/customers", "/v1/subscriptions", "/v1/checkout/sessions"):
        stripe_standin.add_fault("429", method="GET", path_prefix=path, times=5)

    out = sync()

    assert "synced 250 organizations: 250 subscriptions (250 updated)" in out
    assert len([r for r in stripe_standin.requests if r.status == 429]) == 15
    assert Subscription.objects.filter(status="active").count() == 250
    assert resilience._current_breaker().allow() is None  # closed: the app's calls still go through
    resilience._current_breaker().release()
    assert stripe_gateway.price_list() is not None


def test_stripe_limiting_at_25_a_second_below_our_rate_is_waited_out(stripe_standin, settings, monkeypatch):
    # Our rate set above Stripe's: Stripe answers 429 past 25 requests in a second.
    settings.STRIPE_SYNC_RATE = 60
    settings.STRIPE_BREAKER_FAILURES = 2
    monkeypatch.setattr(resilience, "_SYNC_RATE_LIMITED_FIRST_WAIT", 0.01)
    monkeypatch.setattr("billing.stripe_gateway.calls.SYNC_PAGE_SIZE", 5)
    _seed(stripe_standin, 200)  # 40 pages of customers, 40 of subscriptions
    stripe_standin.add_fault("rate_limit", path_prefix="/v1/", per_second=25)

    out = sync()

    assert "synced 200 organizations: 200 subscriptions (200 updated)" in out
    assert [r for r in stripe_standin.requests if r.status == 429], "Stripe's limit was never reached"
    assert resilience._current_breaker().allow() is None  # closed
    resilience._current_breaker().release()


def test_an_interrupted_run_resumes_without_listing_a_page_twice(stripe_standin, monkeypatch):
    monkeypatch.setattr("billing.stripe_gateway.calls.SYNC_PAGE_SIZE", 10)
    _seed(stripe_standin, 60)  # 6 pages of customers, 6 of subscriptions
    page = stripe_gateway.subscription_page
    served = {"pages": 0}

    def interrupted_after_three(**kwargs: Any) -> Any:
        if served["pages"] == 3:
            raise KeyboardInterrupt  # Ctrl-C between the third page and the fourth
        served["pages"] += 1
        return page(**kwargs)

    monkeypatch.setattr(stripe_gateway, "subscription_page", interrupted_after_three)
    with pytest.raises(SystemExit) as stopped:
        sync()
    assert stopped.value.code == 130
    assert Subscription.objects.filter(status="active").count() == 30
    checkpoint = SyncCheckpoint.objects.get()
    assert (checkpoint.phase, checkpoint.finished_at) == ("subscriptions", None)

    monkeypatch.setattr(stripe_gateway, "subscription_page", page)
    out = sync("--resume")

    assert "synced 60 organizations: 60 subscriptions" in out
    assert Subscription.objects.filter(status="active").count() == 60
    for path in ("/v1/customers", "/v1/subscriptions"):
        cursors = [r.query.get("starting_after") for r in stripe_standin.requests_to("GET", path)]
        assert len(cursors) == 6, (path, cursors)
        assert len(set(cursors)) == len(cursors), (path, cursors)  # no page listed twice
    # A run without --resume starts afresh.
    sync()
    assert len(stripe_standin.requests_to("GET", "/v1/subscriptions")) == 12


def test_ctrl_c_stops_after_the_page_in_hand_with_130(stripe_standin, monkeypatch):
    import os
    import signal

    monkeypatch.setattr("billing.stripe_gateway.calls.SYNC_PAGE_SIZE", 10)
    _seed(stripe_standin, 40)
    page = stripe_gateway.subscription_page

    def ctrl_c_during_the_second(**kwargs: Any) -> Any:
        listed = page(**kwargs)
        if kwargs.get("starting_after"):
            os.kill(os.getpid(), signal.SIGINT)  # while this page is in hand
        return listed

    monkeypatch.setattr(stripe_gateway, "subscription_page", ctrl_c_during_the_second)
    with pytest.raises(SystemExit) as stopped:
        sync()

    assert stopped.value.code == 130
    assert Subscription.objects.filter(status="active").count() == 20  # the page in hand was stored
    monkeypatch.setattr(stripe_gateway, "subscription_page", page)
    sync("--resume")
    cursors = [r.query.get("starting_after") for r in stripe_standin.requests_to("GET", "/v1/subscriptions")]
    assert len(cursors) == 4 and len(set(cursors)) == 4
    assert Subscription.objects.filter(status="active").count() == 40


class _Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_progress_bar_and_the_summary(stripe_standin):
    _seed(stripe_standin, 30)
    out = _Terminal()

    call_command("sync_subscriptions", stdout=out, stderr=StringIO(), no_color=True)

    shown = out.getvalue()
    assert "sync (done)" in shown and "100%" in shown  # tqdm's bar, at its end
    assert "sync: 0%" not in shown  # no progress lines
    assert shown.rstrip().splitlines()[-1].startswith("synced 30 organizations: 30 subscriptions")
