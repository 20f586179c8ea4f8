"""python manage.py sync_subscriptions: repairs missed webhooks, never rolls newer state back."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from billing.models import Subscription
from tests.billing.stripe_events import deliver, event, give_customer
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

T0 = int(time.time()) - 86400


def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def sync(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("sync_subscriptions", *args, stdout=out, stderr=err, no_color=True)
    return out.getvalue(), err.getvalue()


def test_a_missed_event_is_repaired(client, organization, stripe_standin):
    customer_id = give_customer(organization, stripe_standin)
    sub = stripe_standin.create_subscription(customer=customer_id, status="active", quantity=2, created=T0)
    assert deliver(client, event("customer.subscription.created", sub, created=T0)).status_code == 200
    # The customer then canceled at period end and added a second subscription in the portal;
    # neither event reached us.
    stripe_standin.update_subscription(sub["id"], cancel_at_period_end=True, quantity=3)
    second = stripe_standin.create_subscription(
        customer=customer_id,
        status="trialing",
        price_id="price_pro",
        product="prod_pro",
        created=T0 + 60,
        trial_end=T0 + 14 * 86400,
    )

    out, err = sync()

    assert err == ""
    lines = out.splitlines()
    assert lines[0] == "sync: 0% (customers)"
    assert lines[-2] == "sync: 100% (done)"
    assert lines[-1].startswith("synced 1 organizations: 2 subscriptions (2 updated), ")
    assert len(lines) <= 12  # at most 11 progress lines and the summary
    first = Subscription.objects.get(stripe_subscription_id=sub["id"])
    assert (first.status, first.cancel_at_period_end, first.quantity) == ("active", True, 3)
    new = Subscription.objects.get(stripe_subscription_id=second["id"])
    assert (new.organization, new.status, new.price_id, new.product) == (
        organization,
        "trialing",
        "price_pro",
        "prod_pro",
    )
    assert new.trial_end == at(T0 + 14 * 86400)
    lists = stripe_standin.requests_to("GET", "/v1/subscriptions")
    # One page of every subscription of the account, not a list per customer.
    assert [(r.path, r.query) for r in lists] == [("/v1/subscriptions", {"status": "all", "limit": "100"})]


def test_running_it_twice_changes_nothing_the_second_time(organization, stripe_standin):
    customer_id = give_customer(organization, stripe_standin)
    stripe_standin.create_subscription(customer=customer_id, created=T0)
    sync()
    before = list(Subscription.objects.values_list("stripe_subscription_id", "status", "quantity"))

    out, _ = sync()

    assert "synced 1 organizations: 1 subscriptions (" in out
    assert list(Subscription.objects.values_list("stripe_subscription_id", "status", "quantity")) == before
    assert Subscription.objects.count() == 1


def test_state_newer_than_the_fetch_is_kept(organization, stripe_standin):
    """A webhook applied after Stripe answered the sync must not be rolled back by it."""
    customer_id = give_customer(organization, stripe_standin)
    sub = stripe_standin.create_subscription(customer=customer_id, status="active", created=T0)
    future = timezone.now() + timedelta(minutes=5)  # stands for an event created after the fetch
    SubscriptionFactory.create(
        organization=organization,
        stripe_subscription_id=sub["id"],
        status="past_due",
        stripe_created=at(T0),
        state_at=future,
    )

    out, _ = sync()

    assert "1 subscriptions (0 updated)" in out
    assert Subscription.objects.get().status == "past_due"


def test_a_fetch_overrides_an_older_webhook_state(client, organization, stripe_standin):
    customer_id = give_customer(organization, stripe_standin)
    sub = stripe_standin.create_subscription(customer=customer_id, status="active", created=T0)
    deliver(client, event("customer.subscription.updated", {**sub, "status": "past_due"}, created=T0 + 10))

    sync()

    assert Subscription.objects.get().status == "active"  # what Stripe says now


def test_a_deleted_customer_is_cleared(organization, stripe_standin):
    customer_id = give_customer(organization, stripe_standin)
    sub = stripe_standin.create_subscription(customer=customer_id, status="active", created=T0)
    sync()
    stripe_standin.delete_customer(customer_id)  # Stripe cancels its subscriptions too

    out, err = sync("--clear-missing")  # one organization, and its customer missing: told to

    cleared = f"the customer {customer_id} no longer exists in Stripe: cleared"
    assert f"Acme Inc (#{organization.pk}): {cleared}" in err
    assert "synced 1 organizations: 1 subscriptions (1 updated)" in out
    assert "1 customers missing at Stripe (1 cleared)" in out
    organization.refresh_from_db()
    assert organization.stripe_customer_id is None
    assert Subscription.objects.get(stripe_subscription_id=sub["id"]).status == "canceled"


def test_a_customer_stripe_never_heard_of_is_cleared_but_its_subscription_is_not_canceled(
    organization, stripe_standin
):
    organization.stripe_customer_id = "cus_not_in_this_account"
    organization.save()
    SubscriptionFactory.create(
        organization=organization, stripe_subscription_id="sub_orphan", stripe_created=at(T0), state_at=at(T0)
    )

    _, err = sync("--clear-missing")

    assert "cus_not_in_this_account no longer exists in Stripe: cleared" in err
    organization.refresh_from_db()
    assert organization.stripe_customer_id is None
    # A lookup miss is no proof of a cancellation: only Stripe's own state or events end it.
    assert Subscription.objects.get().status == "active"


def _organizations_with_subscriptions(make_organization, stripe_standin, count):
    organizations = []
    for n in range(count):
        organization = make_organization(name=f"Org {n:02}")
        customer_id = give_customer(organization, stripe_standin)
        stripe_standin.create_subscription(customer=customer_id, status="active", created=T0)
        organizations.append(organization)
    sync()
    return organizations


def _billing_rows():
    from organizations.models import Organization

    return (
        sorted(Organization.objects.values_list("pk", "stripe_customer_id")),
        sorted(Subscription.objects.values_list("stripe_subscription_id", "status", "state_at")),
    )


def test_a_key_for_another_account_changes_nothing_and_fails(make_organization, stripe_standin):
    _organizations_with_subscriptions(make_organization, stripe_standin, 3)
    before = _billing_rows()
    stripe_standin.reset()  # the key now reaches an account that knows none of our customers

    with pytest.raises(CommandError, match="Stripe does not know 3 of the 3 customers checked"):
        sync()

    assert _billing_rows() == before
    assert not [r for r in stripe_standin.requests if r.method != "GET"]  # no write at Stripe


def test_one_deleted_customer_among_many_is_cleared(make_organization, stripe_standin):
    organizations = _organizations_with_subscriptions(make_organization, stripe_standin, 11)
    gone = organizations[4]
    stripe_standin.delete_customer(gone.stripe_customer_id)

    _, err = sync()

    cleared = f"the customer {gone.stripe_customer_id} no longer exists in Stripe: cleared"
    assert f"Org 04 (#{gone.pk}): {cleared}" in err
    gone.refresh_from_db()
    assert gone.stripe_customer_id is None
    # Stripe's own state of the subscription (canceled with its customer), fetched by its id.
    assert Subscription.objects.get(organization=gone).status == "canceled"
    assert Subscription.objects.filter(status="active").count() == 10


def test_two_of_eleven_missing_is_too_many_to_clear(make_organization, stripe_standin):
    organizations = _organizations_with_subscriptions(make_organization, stripe_standin, 11)
    for organization in organizations[:2]:
        stripe_standin.delete_customer(organization.stripe_customer_id)
    customers, _ = _billing_rows()

    with pytest.raises(CommandError, match="Stripe does not know 2 of the 11 customers checked"):
        sync()

    assert _billing_rows()[0] == customers  # no customer cleared

    # The operator knows the key is right: the run goes on without listing the customers again.
    listed = len(stripe_standin.requests_to("GET", "/v1/customers"))
    _, err = sync("--resume", "--clear-missing")
    assert err.count("no longer exists in Stripe: cleared") == 2
    assert len(stripe_standin.requests_to("GET", "/v1/customers")) == listed


def test_a_failing_page_fails_the_run_and_resume_goes_on_from_it(make_organization, stripe_standin):
    failing = make_organization(name="Failing")
    working = make_organization(name="Working")
    give_customer(failing, stripe_standin)
    working_customer = give_customer(working, stripe_standin)
    stripe_standin.create_subscription(customer=working_customer, created=T0)
    # The subscriptions' page fails through the client's retries.
    stripe_standin.add_fault("500", method="GET", path_prefix="/v1/subscriptions")

    with pytest.raises(CommandError, match=r"failed at subscriptions: BILLING_UNAVAILABLE.*--resume"):
        sync()
    assert not Subscription.objects.exists()

    stripe_standin.clear_faults()
    out, _ = sync("--resume")

    assert "synced 2 organizations: 1 subscriptions (1 updated)" in out
    assert Subscription.objects.get().organization == working
    # The customers were listed once, by the first run.
    assert len(stripe_standin.requests_to("GET", "/v1/customers")) == 1


def test_only_active_organizations_with_a_customer(make_organization, stripe_standin):
    make_organization(name="No customer")
    inactive = make_organization(name="Gone", is_active=False)
    give_customer(inactive, stripe_standin)

    out, _ = sync()

    assert out.splitlines()[0] == "sync: 100% (done)"
    assert out.splitlines()[1].startswith("synced 0 organizations: 0 subscriptions")
    assert stripe_standin.requests == []
