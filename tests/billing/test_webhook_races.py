"""A subscription's first event racing its customer's deletion.

Found by test_webhooks.py on PostgreSQL: an organization whose Stripe customer had been
deleted kept an `active` subscription. The first event of a subscription looked the
organization up by customer id, then created the row; `customer.deleted`, committing in
between, cleared the customer and canceled the organization's subscriptions, which did not
yet include that uncommitted row. Here the race is made deterministic: the first event is
held right after it inserted its row, while the deletion is delivered.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.db.models.signals import post_save
from django.test import Client

from billing.models import Subscription
from organizations.models import Organization
from tests import figures
from tests.billing.stripe_events import deliver, event, give_customer

HOLD_SECONDS = 0.75  # in-process, the deletion commits within milliseconds when not held off


@pytest.mark.django_db(transaction=True)
def test_a_first_event_racing_its_customers_deletion_leaves_no_live_subscription(
    organization, stripe_standin
):
    customer_id = give_customer(organization, stripe_standin)
    subscription = stripe_standin.create_subscription(
        customer=customer_id, status="active", created=1_700_000_000
    )
    first = event("customer.subscription.created", subscription, created=1_700_000_100)
    deletion = event("customer.deleted", {"id": customer_id, "object": "customer"}, created=1_700_000_200)

    inserted = threading.Event()
    deletion_done = threading.Event()
    holder: dict[str, int | None] = {"thread": None}

    def hold_after_insert(sender: type, instance: Subscription, created: bool, **kwargs: object) -> None:
        if created and threading.get_ident() == holder["thread"]:
            inserted.set()
            # Hold the transaction open: without the fix the deletion commits meanwhile; with
            # it, the deletion waits for this transaction, so the hold runs out.
            deletion_done.wait(HOLD_SECONDS)

    answers: dict[str, int] = {}

    def deliver_first() -> None:
        holder["thread"] = threading.get_ident()
        try:
            answers["first"] = deliver(Client(), first).status_code
        finally:
            connection.close()

    def deliver_deletion() -> None:
        try:
            assert inserted.wait(30), "the first event never inserted its row"
            answers["deletion"] = deliver(Client(), deletion).status_code
            deletion_done.set()
        finally:
            connection.close()

    post_save.connect(hold_after_insert, sender=Subscription)
    try:
        threads = [threading.Thread(target=deliver_first), threading.Thread(target=deliver_deletion)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        post_save.disconnect(hold_after_insert, sender=Subscription)

    assert answers == {"first": 200, "deletion": 200}, answers
    organization = Organization.objects.get(pk=organization.pk)
    assert organization.stripe_customer_id is None
    live = Subscription.objects.exclude(status__in=Subscription.ENDED_STATUSES)
    figures.record("webhook races", first_event_vs_customer_deletion_live_rows=live.count())
    assert list(live.values_list("stripe_subscription_id", "status")) == []
