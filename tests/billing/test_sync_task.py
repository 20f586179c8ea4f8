"""The sync as a background task: the organizations admin's "sync now" queues
`sync_subscriptions`' work for the worker, with the command's wrong-account guard."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse
from django_tasks.signals import task_finished

from billing.models import Subscription
from organizations.models import Organization
from tests.billing.stripe_events import give_customer

pytestmark = pytest.mark.django_db

T0 = int(time.time()) - 3600


@pytest.fixture
def finished():
    """The results of the tasks run (at once, by the tests' queue) during the test."""
    results = []

    def record(sender, task_result, **kwargs):
        results.append(task_result)

    task_finished.connect(record)
    yield results
    task_finished.disconnect(record)


def sync_now(admin_client, organization):
    return admin_client.post(
        reverse("admin:organizations_organization_changelist"),
        {"action": "sync_now", "_selected_action": [organization.pk]},
        follow=True,
    )


def test_sync_now_queues_the_sync_which_stores_what_stripe_has(
    admin_client, organization, stripe_standin, finished
):
    customer_id = give_customer(organization, stripe_standin)
    at_stripe = stripe_standin.create_subscription(customer=customer_id, status="past_due", created=T0)

    response = sync_now(admin_client, organization)

    assert response.status_code == 200
    assert "The sync is queued" in response.content.decode()
    (result,) = [r for r in finished if r.task.name == "subscriptions_sync"]
    assert result.status == "SUCCESSFUL", result.errors
    assert Subscription.objects.get().stripe_subscription_id == at_stripe["id"]
    assert Subscription.objects.get().status == "past_due"


def test_sync_now_with_a_key_of_another_account_changes_nothing(admin_client, organization, finished):
    organization.stripe_customer_id = "cus_of_another_account"  # Stripe has no such customer
    organization.save()

    sync_now(admin_client, organization)

    (result,) = [r for r in finished if r.task.name == "subscriptions_sync"]
    assert result.status == "FAILED"  # given up, shown in the admin with the guard's message
    assert result.errors[0].exception_class_path == "billing.services.sync.SyncKeySuspect"
    assert Organization.objects.get().stripe_customer_id == "cus_of_another_account"  # not cleared
