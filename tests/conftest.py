"""Fixtures shared by the whole suite: people, organizations, clients, and the Stripe stand-in.

And two things of the whole session, whatever tests were selected: every log record of the
test process (and every log file the reliability suite's processes wrote) is scanned for
secrets when the session finishes, and a finding fails the run; the figures tests recorded
(tests/figures.py) are printed at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from billing import apis as billing_apis
from organizations.models import Organization
from stripe_standin import StripeStandIn
from tests import figures, logscan, openapi_validation
from tests.factories import (
    PASSWORD,
    CapabilitySetFactory,
    CheckoutSessionFactory,
    InvitationFactory,
    MemberAuditEntryFactory,
    MembershipFactory,
    OrganizationFactory,
    PortalSessionFactory,
    SeatChangeFactory,
    StripeWriteFactory,
    SubscriptionFactory,
    UserFactory,
    WebhookEventFactory,
)

__all__ = ["PASSWORD"]

_capture = logscan.CaptureHandler()
_SECRETS_KEY = pytest.StashKey[list[logscan.Finding]]()


def pytest_sessionstart(session: pytest.Session) -> None:
    logging.getLogger().addHandler(_capture)
    logscan.KNOWN_SECRETS.update(
        {
            PASSWORD,
            django_settings.SECRET_KEY,
            django_settings.STRIPE_SECRET_KEY,
            django_settings.STRIPE_WEBHOOK_SECRET,
        }
    )


@pytest.hookimpl(trylast=True)  # after the session's fixtures (and the servers they ran) are torn down
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    logging.getLogger().removeHandler(_capture)
    scanned, found = logscan.findings(logscan.LOG_FILES)
    figures.record(
        "secrets in logs",
        lines_scanned=scanned,
        log_files=len([p for p in logscan.LOG_FILES if p.exists()]),
        findings=len(found),
    )
    session.config.stash[_SECRETS_KEY] = found
    if found:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    found = config.stash.get(_SECRETS_KEY, [])
    if found:
        terminalreporter.write_sep("=", f"SECRETS IN LOGS: {len(found)} line(s), the run fails", red=True)
        for finding in found[:20]:
            terminalreporter.write_line(str(finding))
    if len(figures.FIGURES) > 1 or found:  # more than the scan's own line
        terminalreporter.write_sep("=", "figures")
        for line in figures.lines():
            terminalreporter.write_line(line)
        figures.dump()


@pytest.fixture(scope="session")
def stripe_standin() -> Iterator[StripeStandIn]:
    """The local Stripe stand-in, over real HTTP on loopback, for the whole session."""
    standin = StripeStandIn()
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture(autouse=True)
def _stripe_at_standin(settings: Any, stripe_standin: StripeStandIn) -> Iterator[StripeStandIn]:
    """Every test starts with an empty stand-in, and the app pointed at it."""
    stripe_standin.reset()
    settings.STRIPE_API_BASE = stripe_standin.url
    yield stripe_standin


@pytest.fixture(autouse=True)
def _answers_match_the_openapi_document(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every JSON API answer a test client receives is validated against the OpenAPI document."""
    request = Client.request

    def validated(self: Client, **request_fields: Any) -> Any:
        response = request(self, **request_fields)
        openapi_validation.validate_answer(response)
        return response

    monkeypatch.setattr(Client, "request", validated)


@pytest.fixture(autouse=True)
def _no_stripe_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK sleeps between retries (stripe-python 16: `HTTPClient._sleep_time_seconds`, at least
    `INITIAL_DELAY` = 0.5 s, at most `MAX_DELAY`); in this process the retry happens at once.
    Processes the tests start (gunicorn) keep the real back-off."""
    from stripe._http_client import HTTPClient

    monkeypatch.setattr(HTTPClient, "INITIAL_DELAY", 0)
    monkeypatch.setattr(HTTPClient, "MAX_DELAY", 0)


class StoppedClock:
    """A clock that moves only when told to (`advance`)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def ratelimit_clock(monkeypatch: pytest.MonkeyPatch) -> StoppedClock:
    """core.ratelimit's clock, stopped: a `Retry-After` is then an exact number of seconds."""
    from core import ratelimit

    clock = StoppedClock()
    monkeypatch.setattr(ratelimit, "time", clock)
    return clock


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    cache.clear()  # rate-limit counters from one test never reach the next
    billing_apis._plans_answer_kept = None  # nor the plan list's answer, kept a second
    yield
    cache.clear()


@pytest.fixture
def make_organization(db: None) -> Callable[..., Organization]:
    def make(**fields: Any) -> Organization:
        fields.setdefault("billing_email", "")
        return OrganizationFactory.create(**fields)

    return make


@pytest.fixture
def make_user(db: None, make_organization: Callable[..., Organization]) -> Callable[..., User]:
    """A user; with `role`, also a member of `organization` (a new one unless given)."""

    def make(
        *,
        email: str | None = None,
        role: str | None = None,
        organization: Organization | None = None,
        **fields: Any,
    ) -> User:
        user = UserFactory.create(**({"email": email} if email else {}), **fields)
        if role is not None:
            MembershipFactory.create(user=user, organization=organization or make_organization(), role=role)
        return user

    return make


@pytest.fixture
def organization(make_organization: Callable[..., Organization]) -> Organization:
    return make_organization(name="Acme Inc", billing_email="billing@acme.example.com")


@pytest.fixture
def owner(make_user: Callable[..., User], organization: Organization) -> User:
    return make_user(email="owner@acme.example.com", role="owner", organization=organization)


@pytest.fixture
def member(make_user: Callable[..., User], organization: Organization) -> User:
    return make_user(email="member@acme.example.com", role="member", organization=organization)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def access_token_for(user: User) -> str:
    return str(RefreshToken.for_user(user).access_token)


@pytest.fixture
def auth_client(api_client: APIClient) -> Callable[[User], APIClient]:
    """An API client that sends `Authorization: Bearer <access token of user>`."""

    def make(user: User) -> APIClient:
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
        return api_client

    return make


@pytest.fixture(autouse=True)
def _stripe_breaker_closed() -> Iterator[None]:
    """Each test starts with Stripe's circuit breaker closed (it is per process, like a worker's)."""
    from billing import stripe_gateway

    stripe_gateway.resilience_reset()
    yield
    stripe_gateway.resilience_reset()


@pytest.fixture
def populated(owner: User, member: User, organization: Organization) -> None:
    """One of everything the admin shows: Acme with a Stripe customer, its owner and member, a
    portal session, a subscription and a webhook event."""

    organization.stripe_customer_id = "cus_admin_smoke"
    organization.save()
    PortalSessionFactory.create(
        organization=organization, user=owner, stripe_session_id="bps_1", stripe_customer_id="cus_admin_smoke"
    )
    SubscriptionFactory.create(organization=organization, stripe_subscription_id="sub_admin_smoke")
    WebhookEventFactory.create(stripe_event_id="evt_admin_smoke", type="customer.subscription.created")
    CheckoutSessionFactory.create(
        organization=organization, user=owner, price_id="price_pro", stripe_session_id="cs_test_admin_smoke"
    )
    CapabilitySetFactory.create(organization=organization)
    StripeWriteFactory.create(organization=organization)
    SeatChangeFactory.create(organization=organization, stripe_subscription_id="sub_admin_smoke")
    InvitationFactory.create(organization=organization, invited_by=owner, email="new@acme.example.com")
    MemberAuditEntryFactory.create(
        organization=organization, actor=owner, subject_email="member@acme.example.com"
    )
