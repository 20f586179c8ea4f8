"""Stripe still working on a request after the client gave up on it (timeouts, then retries
that find the same idempotency key in flight and get 409): the caller is told to retry
(503, never a 500), and the retry gets what Stripe did the first time, not a second one."""

from __future__ import annotations

import time

import pytest

from billing.models import PortalSession
from tests import figures

URL = "/subscriptions/portal"
# Longer than the client's three attempts of 0.3 s each (the test process has no back-off
# between them: tests/conftest.py).
STRIPE_BUSY_MS = 1300


@pytest.fixture
def impatient_client(settings):
    settings.STRIPE_TIMEOUT_SECONDS = 0.3
    settings.STRIPE_MAX_NETWORK_RETRIES = 2


def _wait_for_stripe_to_finish(standin, path: str) -> None:
    deadline = time.monotonic() + STRIPE_BUSY_MS / 1000 + 5
    while time.monotonic() < deadline:
        if all(r.status is not None for r in standin.requests_to("POST", path)):
            return
        time.sleep(0.05)
    raise AssertionError("the stand-in never finished the slow request")


def _assert_503(response) -> None:
    assert response.status_code == 503, response.content
    assert response.json()["error_code"] == "BILLING_UNAVAILABLE"
    assert response["Retry-After"] == "5"  # BillingUnavailable.retry_after


@pytest.mark.django_db
def test_a_portal_session_still_in_flight_after_every_retry_is_503(
    impatient_client, owner, organization, auth_client, stripe_standin
):
    organization.stripe_customer_id = stripe_standin.create_customer(name="Acme Inc")["id"]
    organization.save()
    path = "/v1/billing_portal/sessions"
    stripe_standin.add_fault("latency", latency_ms=STRIPE_BUSY_MS, path_prefix=path, times=1)
    response = auth_client(owner).post(URL)
    _wait_for_stripe_to_finish(stripe_standin, path)
    attempts = stripe_standin.requests_to("POST", path)
    figures.record(
        "Stripe busy past our timeout",
        portal_session_attempts=[r.status for r in attempts],
    )
    # The first attempt timed out (Stripe answered it later); both retries found the key in flight.
    assert [r.status for r in attempts] == [200, 409, 409], [r.status for r in attempts]
    _assert_503(response)
    assert PortalSession.objects.count() == 0


@pytest.mark.django_db
def test_a_customer_created_after_our_timeout_is_not_created_twice(
    impatient_client, owner, organization, auth_client, stripe_standin
):
    path = "/v1/customers"
    stripe_standin.add_fault("latency", latency_ms=STRIPE_BUSY_MS, path_prefix=path, times=1)
    client = auth_client(owner)
    first = client.post(URL)
    _wait_for_stripe_to_finish(stripe_standin, path)
    _assert_503(first)
    organization.refresh_from_db()
    assert organization.stripe_customer_id is None
    assert len(stripe_standin.customers) == 1  # Stripe did create it, after we stopped waiting

    second = client.post(URL)
    assert second.status_code == 200, second.content
    organization.refresh_from_db()
    (customer,) = stripe_standin.customers
    assert organization.stripe_customer_id == customer["id"]
    replays = [r for r in stripe_standin.requests_to("POST", path) if r.replayed]
    assert len(replays) == 1, "the retry should have been answered from Stripe's idempotency store"
    figures.record(
        "Stripe busy past our timeout",
        customers_after_timeout_and_retry=len(stripe_standin.customers),
    )
