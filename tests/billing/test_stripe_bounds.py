"""Waiting on Stripe is bounded, and never holds the database.

The deadline (all tries of a request together), the bulkhead (calls in flight per process),
the circuit breaker (no calls for a while after a run of failures), the customer lease (no
transaction across customers.create), and a Stripe failure not counting toward the rate.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from billing import stripe_gateway
from billing.errors import BillingUnavailable
from billing.models import StripeWrite
from billing.services.customers import customer_ensure
from billing.stripe_gateway import resilience
from core.models import Lease
from organizations.models import Organization
from tests.assertions import assert_error
from tests.conftest import access_token_for

PORTAL = "/subscriptions/portal"


def _client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
    return client


def _portal_in_flight(
    user: User, stripe_standin, stripe_path: str, seen: int = 0
) -> tuple[threading.Thread, list[int]]:
    """A portal request of `user` on a thread of its own, once its call to `stripe_path` is in
    flight at the stand-in (the one after the `seen` calls before it); its status lands in the
    list when it is answered."""
    answers: list[int] = []

    def request() -> None:
        try:
            answers.append(_client(user).post(PORTAL).status_code)
        finally:
            connection.close()

    thread = threading.Thread(target=request)
    thread.start()
    deadline = time.monotonic() + 5
    while len(stripe_standin.requests_to("POST", stripe_path)) <= seen and time.monotonic() < deadline:
        time.sleep(0.01)
    return thread, answers


def _with_customer(organization: Organization, stripe_standin) -> str:
    customer_id: str = stripe_standin.create_customer(name=organization.name)["id"]
    organization.stripe_customer_id = customer_id
    organization.save()
    return customer_id


@pytest.mark.django_db
def test_the_deadline_covers_every_try_of_a_request(owner, organization, stripe_standin, settings):
    """Three tries of a 10 s read would wait 30 s; the request's deadline stops them all."""
    settings.STRIPE_DEADLINE_SECONDS = 1.0
    settings.STRIPE_MAX_NETWORK_RETRIES = 2
    _with_customer(organization, stripe_standin)
    stripe_standin.add_fault("latency", latency_ms=5000, path_prefix="/v1/billing_portal")
    _client(owner).get("/subscriptions/my")  # the suite's schema check of answers is ready

    started = time.monotonic()
    response = _client(owner).post(PORTAL)
    elapsed = time.monotonic() - started

    assert_error(response, 503, "BILLING_UNAVAILABLE")
    assert elapsed < 2.0, elapsed
    # One try: the deadline left no time for a retry.
    assert len(stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")) == 1


@pytest.mark.django_db
def test_a_failure_stripe_caused_does_not_count_toward_the_rate(
    owner, organization, stripe_standin, settings
):
    settings.BILLING_PORTAL_RATE = "2/min"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_BREAKER_FAILURES = 100
    _with_customer(organization, stripe_standin)
    client = _client(owner)
    stripe_standin.add_fault("500", path_prefix="/v1/billing_portal", times=5)

    outage = [client.post(PORTAL).status_code for _ in range(5)]
    after = [client.post(PORTAL).status_code for _ in range(3)]

    assert outage == [503] * 5
    assert after == [200, 200, 429]  # the rate's two requests are both still there


@pytest.mark.django_db(transaction=True)
def test_a_call_that_finds_the_bulkhead_full_waits_its_turn_while_stripe_answers(
    make_user, organization, stripe_standin, settings
):
    settings.STRIPE_MAX_CONCURRENT_CALLS = settings.STRIPE_BURST_CALLS = 1
    _with_customer(organization, stripe_standin)
    first_user = make_user(role="owner", organization=organization)
    second_user = make_user(role="owner", organization=organization)
    stripe_standin.add_fault("latency", latency_ms=300, path_prefix="/v1/billing_portal", times=1)
    thread, answers = _portal_in_flight(first_user, stripe_standin, "/v1/billing_portal")

    waited = _client(second_user).post(PORTAL)
    thread.join(timeout=10)

    assert waited.status_code == 200, waited.content
    assert answers == [200]
    assert len(stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")) == 2


@pytest.mark.django_db(transaction=True)
def test_while_stripe_answers_a_call_past_the_bulkhead_goes_at_once(
    make_user, organization, stripe_standin, settings, monkeypatch
):
    """One slot, two threads' worth of burst. Stripe has just answered; a call in the slot
    takes 3 s: the next goes to Stripe at once and is answered first, instead of waiting.
    ("Just": within the bulkhead's patience, held at 2 s here so that the test's own steps
    between the answer and the next call, slow on a busy machine, do not outlast it.)"""
    settings.STRIPE_MAX_CONCURRENT_CALLS, settings.STRIPE_BURST_CALLS = 1, 2
    monkeypatch.setattr(resilience._bulkhead(1, 2), "min_patience", 2.0)
    monkeypatch.setattr(resilience._bulkhead(1, 2), "max_patience", 2.0)
    _with_customer(organization, stripe_standin)
    slow_user, next_user = (make_user(role="owner", organization=organization) for _ in range(2))
    assert _client(slow_user).post(PORTAL).status_code == 200  # Stripe is answering
    stripe_standin.add_fault("latency", latency_ms=3000, path_prefix="/v1/billing_portal", times=1)
    thread, answers = _portal_in_flight(slow_user, stripe_standin, "/v1/billing_portal", seen=1)

    answer = _client(next_user).post(PORTAL)
    slow_still_in_flight = thread.is_alive()
    thread.join(timeout=10)

    assert answer.status_code == 200, answer.content
    assert slow_still_in_flight, "the second call waited for the first"
    assert answers == [200]
    assert len(stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")) == 3


@pytest.mark.django_db(transaction=True)
def test_a_call_past_the_bulkhead_that_stripe_does_not_answer_gives_its_thread_back_soon(
    make_user, organization, stripe_standin, settings
):
    """Stripe stops answering just after an answer: the call in the slot waits out the
    request's deadline (5 s here), the one past the bulkhead only its own 2 s, then answers 503."""
    settings.STRIPE_MAX_CONCURRENT_CALLS, settings.STRIPE_BURST_CALLS = 1, 2
    settings.STRIPE_DEADLINE_SECONDS = 5.0
    _with_customer(organization, stripe_standin)
    hung_user, next_user = (make_user(role="owner", organization=organization) for _ in range(2))
    assert _client(hung_user).post(PORTAL).status_code == 200
    stripe_standin.add_fault("latency", latency_ms=7000, path_prefix="/v1/billing_portal", times=10)
    thread, answers = _portal_in_flight(hung_user, stripe_standin, "/v1/billing_portal", seen=1)

    started = time.monotonic()
    answer = _client(next_user).post(PORTAL)
    took = time.monotonic() - started
    thread.join(timeout=15)

    assert_error(answer, 503, "BILLING_UNAVAILABLE")
    assert took < 4.0, took  # a bound on a hang (the request's deadline is 5 s), not a speed claim
    assert answers == [503]


@pytest.mark.django_db(transaction=True)
def test_while_stripe_hangs_a_call_that_finds_the_bulkhead_full_is_refused_at_once(
    make_user, organization, stripe_standin, settings
):
    """The call in flight hangs for 3 s. A request that comes while the slots have only just
    filled waits a moment (Stripe may yet answer) and is refused long before the hung call
    ends; one that comes later is refused at once. Neither reaches Stripe."""
    settings.STRIPE_MAX_CONCURRENT_CALLS = settings.STRIPE_BURST_CALLS = 1
    _with_customer(organization, stripe_standin)
    hung_user, early, late = (make_user(role="owner", organization=organization) for _ in range(3))
    stripe_standin.add_fault("latency", latency_ms=3000, path_prefix="/v1/billing_portal", times=1)
    thread, answers = _portal_in_flight(hung_user, stripe_standin, "/v1/billing_portal")

    started = time.monotonic()
    early_answer = _client(early).post(PORTAL)
    early_took = time.monotonic() - started
    time.sleep(0.3)
    started = time.monotonic()
    late_answer = _client(late).post(PORTAL)
    late_took = time.monotonic() - started
    thread.join(timeout=10)

    assert_error(early_answer, 503, "BILLING_UNAVAILABLE")
    assert_error(late_answer, 503, "BILLING_UNAVAILABLE")
    # Bounds on a hang (the hung call takes 3 s), not speed claims.
    assert early_took < 1.5, early_took
    assert late_took < 0.5, late_took
    assert answers == [200]
    assert len(stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")) == 1


@pytest.mark.django_db(transaction=True)
def test_the_breaker_opens_when_stripe_hangs_while_the_bulkhead_refuses_others(
    make_user, organization, stripe_standin, settings
):
    """Refusals by the full bulkhead never reached Stripe: they do not wipe out the timeouts
    counted before them, and the breaker opens after its run of timeouts."""
    settings.STRIPE_MAX_CONCURRENT_CALLS = settings.STRIPE_BURST_CALLS = 1
    settings.STRIPE_BREAKER_FAILURES = 2
    settings.STRIPE_BREAKER_SECONDS = 30
    settings.STRIPE_DEADLINE_SECONDS = 1.0
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.BILLING_PORTAL_RATE = "100/min"
    _with_customer(organization, stripe_standin)
    hung_user, other = (
        make_user(role="owner", organization=organization),
        _client(make_user(role="owner", organization=organization)),
    )
    stripe_standin.add_fault("latency", latency_ms=10_000, path_prefix="/v1/billing_portal")
    answers: list[int] = []
    refusals = []
    for seen in range(2):
        thread, hung_answers = _portal_in_flight(hung_user, stripe_standin, "/v1/billing_portal", seen)
        refusals.append(other.post(PORTAL))  # the bulkhead is full: refused, Stripe not asked
        thread.join(timeout=10)
        answers += hung_answers

    started = time.monotonic()
    after = other.post(PORTAL)
    took = time.monotonic() - started

    assert answers == [503, 503]  # the two timeouts
    for refused in refusals:
        assert_error(refused, 503, "BILLING_UNAVAILABLE")
    assert_error(after, 503, "BILLING_UNAVAILABLE")
    assert len(stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")) == 2  # the hung ones
    assert int(after["Retry-After"]) > 1  # the breaker's: open for 30 s
    assert took < 0.5, took  # a bound on the 10 s hang, not a speed claim


@pytest.mark.django_db
def test_a_call_made_with_the_deadline_already_spent_is_not_stripes_failure(
    owner, organization, stripe_standin, settings
):
    settings.STRIPE_BREAKER_FAILURES = 1
    customer_id = _with_customer(organization, stripe_standin)

    with stripe_gateway.request_deadline(0), pytest.raises(BillingUnavailable):
        stripe_gateway.portal_session_create(customer_id=customer_id, return_url="https://example.com/")
    assert stripe_standin.requests_to("POST", "/v1/billing_portal/sessions") == []

    response = _client(owner).post(PORTAL)  # the breaker did not count it: Stripe is called

    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_the_breaker_opens_after_a_run_of_failures_then_lets_one_trial_through(
    owner, organization, stripe_standin, settings
):
    settings.STRIPE_BREAKER_FAILURES = 2
    settings.STRIPE_BREAKER_SECONDS = 0.3
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.BILLING_PORTAL_RATE = "100/min"
    _with_customer(organization, stripe_standin)
    client = _client(owner)
    stripe_standin.add_fault("500", path_prefix="/v1/billing_portal", times=2)

    assert [client.post(PORTAL).status_code for _ in range(2)] == [503, 503]
    open_answer = client.post(PORTAL)
    assert_error(open_answer, 503, "BILLING_UNAVAILABLE")
    assert int(open_answer["Retry-After"]) == 1  # 0.3 s, in whole seconds and at least 1
    assert len(stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")) == 2  # not called

    time.sleep(0.35)
    assert client.post(PORTAL).status_code == 200  # the trial call, and it closed the breaker
    assert client.post(PORTAL).status_code == 200
    assert len(stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")) == 4


@pytest.mark.django_db(transaction=True)
def test_the_database_stays_writable_while_a_customer_is_being_created(
    owner, organization, make_organization, stripe_standin
):
    """No transaction is open across customers.create: on SQLite one would lock every write."""
    stripe_standin.add_fault("latency", latency_ms=1500, path_prefix="/v1/customers", times=1)
    thread, answers = _portal_in_flight(owner, stripe_standin, "/v1/customers")

    started = time.monotonic()
    other = make_organization(name="Written meanwhile")
    other.name = "Written meanwhile, twice"
    other.save()
    elapsed = time.monotonic() - started
    thread.join(timeout=10)

    assert elapsed < 0.5, elapsed
    assert answers == [200]


@pytest.mark.django_db
def test_a_dead_holders_lease_is_taken_over_and_replays_its_customer(organization, stripe_standin):
    """The holder died after Stripe created the customer and before we stored it: the next
    request takes the expired lease and gets the same customer back (same idempotency key)."""
    key = f"org-{organization.pk}-customer"
    first = customer_ensure(organization=Organization.objects.get(pk=organization.pk))
    Organization.objects.filter(pk=organization.pk).update(stripe_customer_id=None)  # the lost write
    StripeWrite.objects.update(finished_at=None)  # ... and so never finished
    Lease.objects.create(key=key, token="dead", expires_at=timezone.now() - timedelta(seconds=1))

    again = customer_ensure(organization=Organization.objects.get(pk=organization.pk))

    assert again == first
    assert len(stripe_standin.customers) == 1
    creates = stripe_standin.requests_to("POST", "/v1/customers")
    assert [r.replayed for r in creates] == [False, True]
    assert not Lease.objects.exists()


@pytest.mark.django_db
def test_a_live_holders_lease_makes_the_others_wait_then_answer_503(organization, stripe_standin, settings):
    settings.STRIPE_DEADLINE_SECONDS = 0.3
    Lease.objects.create(
        key=f"org-{organization.pk}-customer", token="alive", expires_at=timezone.now() + timedelta(minutes=1)
    )
    with pytest.raises(BillingUnavailable):
        customer_ensure(organization=organization)
    assert stripe_standin.requests_to("POST", "/v1/customers") == []
