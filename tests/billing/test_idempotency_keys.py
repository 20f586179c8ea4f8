"""Every Stripe idempotency key names one write: a row made for it (never a time or a count),
behind this deployment's prefix. Stripe (and the stand-in) replays the first answer of a key
without doing the write, so a key that comes round again for another write would leave the
app and Stripe disagreeing."""

from __future__ import annotations

import pytest

from billing.models import StripeWrite
from billing.services.customers import customer_ensure, customer_forget
from tests.billing.keys import sent
from tests.billing.stripe_events import subscribe_at_stripe

pytestmark = pytest.mark.django_db

CANCEL, MY = "/subscriptions/cancel", "/subscriptions/my"
RESUME_PAGE = "/billing/resume/"  # the page's button: resume has no API path here


def at_stripe_of(stripe_standin, subscription_id: str) -> dict:
    return next(s for s in stripe_standin.subscriptions if s["id"] == subscription_id)


def _subscription_writes(stripe_standin, subscription_id: str) -> list:
    return [
        r
        for r in stripe_standin.requests
        if r.method == "POST" and r.path == f"/v1/subscriptions/{subscription_id}"
    ]


def test_the_stand_in_replays_a_key_without_doing_the_write(organization, stripe_standin, settings):
    """What the tests below rely on: the same key with the same parameters answers the first
    answer again, and Stripe's subscription stays as it is."""
    import stripe

    live = stripe_standin.create_subscription(
        customer=stripe_standin.create_customer(name="x")["id"], status="active"
    )
    client = stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses={"api": stripe_standin.url})
    client.v1.subscriptions.update(live["id"], {"cancel_at_period_end": True}, {"idempotency_key": "k1"})
    client.v1.subscriptions.update(live["id"], {"cancel_at_period_end": False}, {"idempotency_key": "k2"})
    replayed = client.v1.subscriptions.update(
        live["id"], {"cancel_at_period_end": True}, {"idempotency_key": "k1"}
    )
    assert replayed.cancel_at_period_end is True  # the first answer...
    assert at_stripe_of(stripe_standin, live["id"])["cancel_at_period_end"] is False  # ...not done


def test_cancel_resume_cancel_in_one_second_agrees_with_stripe_every_time(
    client, owner, organization, auth_client, stripe_standin, settings
):
    settings.BILLING_PORTAL_RATE = "1000/min"
    live = subscribe_at_stripe(client, organization, stripe_standin)
    api = auth_client(owner)
    client.force_login(owner)
    for round in range(5):
        for step, cancels in (("cancel", True), ("resume", False), ("cancel", True), ("resume", False)):
            if step == "cancel":
                response = api.post(CANCEL)
                assert response.status_code == 200, response.content
            else:
                response = client.post(RESUME_PAGE)
                assert response.status_code == 303, response.content
            at_stripe = at_stripe_of(stripe_standin, live["id"])["cancel_at_period_end"]
            mine = api.get(MY).json()["data"]
            assert (at_stripe, mine["cancel_at_period_end"], mine["autoRenew"]) == (
                cancels,
                cancels,
                not cancels,
            ), (round, step)
    writes = _subscription_writes(stripe_standin, live["id"])
    assert len(writes) == 20
    assert not any(w.replayed for w in writes)
    keys = [w.headers["idempotency-key"] for w in writes]
    assert len(set(keys)) == 20
    assert all(key.startswith(sent("subscription-")) for key in keys)


def test_a_retry_after_a_lost_answer_replays_the_same_write(
    owner, client, organization, auth_client, stripe_standin
):
    """Stripe made the write but its answer never came: the next request is the same write
    (the row is unfinished) and replays its key instead of writing again."""
    live = subscribe_at_stripe(client, organization, stripe_standin)
    stripe_standin.add_fault("500", method="POST", path_prefix=f"/v1/subscriptions/{live['id']}", times=10)
    assert auth_client(owner).post(CANCEL).status_code == 503
    stripe_standin.clear_faults()
    assert auth_client(owner).post(CANCEL).status_code == 200
    keys = {w.headers["idempotency-key"] for w in _subscription_writes(stripe_standin, live["id"])}
    (write,) = StripeWrite.objects.filter(subject__startswith="subscription-")
    assert keys == {sent(write.idempotency_key)} and write.finished_at is not None


def test_a_customer_deleted_at_stripe_is_created_anew_not_replayed(organization, stripe_standin):
    first = customer_ensure(organization=organization)
    stripe_standin.delete_customer(first)
    customer_forget(customer_id=first, at=organization.created_at)  # the customer.deleted webhook

    second = customer_ensure(organization=organization)

    assert second != first
    creates = stripe_standin.requests_to("POST", "/v1/customers")
    assert [c.replayed for c in creates] == [False, False]
    assert len({c.headers["idempotency-key"] for c in creates}) == 2
    organization.refresh_from_db()
    assert organization.stripe_customer_id == second


def test_two_deployments_on_one_account_never_share_a_key(organization, stripe_standin, settings):
    """Staging and production (or a restored backup) have the same primary keys: each row's
    random token, and each deployment's prefix, keep their keys apart."""
    settings.STRIPE_IDEMPOTENCY_PREFIX = "staging"
    staging = customer_ensure(organization=organization)
    type(organization).objects.filter(pk=organization.pk).update(stripe_customer_id=None)
    StripeWrite.objects.all().delete()  # the other deployment's database: none of these rows
    settings.STRIPE_IDEMPOTENCY_PREFIX = "production"

    production = customer_ensure(organization=organization)

    assert production != staging
    keys = [c.headers["idempotency-key"] for c in stripe_standin.requests_to("POST", "/v1/customers")]
    assert keys[0].startswith("staging-") and keys[1].startswith("production-")


def test_the_default_prefix_differs_between_secret_keys():
    import hmac

    def prefix(secret: str) -> str:
        return hmac.new(secret.encode(), b"stripe-idempotency", "sha256").hexdigest()[:12]

    from django.conf import settings

    assert prefix(settings.SECRET_KEY) == settings.STRIPE_IDEMPOTENCY_PREFIX
    assert prefix("staging-secret") != prefix("production-secret")
