"""`GET /subscriptions` answers the same bytes to everyone: a process builds the answer at most
once a second (billing/apis.py), never longer than the plan cache keeps the list, and a
catalogue change this process sees is in the very next answer."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from billing import apis
from billing.services.plans import PLANS_KEY, plans_invalidate

URL = "/subscriptions"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(apis.time, "monotonic", clock.monotonic)
    return clock


def _names() -> list[str]:
    response = APIClient().get(URL)
    assert response.status_code == 200, response.content
    return [plan["name"] for plan in response.json()["data"]]


def _renamed_in_the_shared_cache(old: str, new: str) -> None:
    """What another process's refresh of the list would leave in the shared cache."""
    plans = cache.get(PLANS_KEY)
    for plan in plans:
        if plan["name"] == old:
            plan["name"] = new
    cache.set(PLANS_KEY, plans, timeout=300)


def _stripe_reads(stripe_standin) -> int:
    return len(stripe_standin.requests_to("GET", "/v1/products"))


@pytest.mark.django_db
def test_a_list_refreshed_elsewhere_is_answered_within_a_second(stripe_standin, clock):
    stripe_standin.seed_demo_catalogue()
    assert "Pro" in _names()
    fetched = _stripe_reads(stripe_standin)
    _renamed_in_the_shared_cache("Pro", "Pro+")

    clock.now += 0.5
    assert "Pro" in _names()  # the answer built half a second ago
    clock.now += 0.6
    assert "Pro+" in _names()
    assert _stripe_reads(stripe_standin) == fetched  # from the shared cache, not from Stripe


@pytest.mark.django_db
def test_a_catalogue_change_seen_here_is_in_the_next_answer(stripe_standin, clock):
    stripe_standin.seed_demo_catalogue()
    _names()
    _renamed_in_the_shared_cache("Pro", "Pro+")
    clock.now += 1.1
    assert "Pro+" in _names()  # now the answer kept
    fetched = _stripe_reads(stripe_standin)

    plans_invalidate()  # a product.updated event applied in this process

    assert "Pro" in _names()  # fetched afresh from Stripe, not the answer kept
    assert _stripe_reads(stripe_standin) > fetched


@pytest.mark.django_db
def test_no_answer_is_kept_when_the_plan_cache_keeps_nothing(stripe_standin, clock, settings):
    settings.BILLING_PLANS_CACHE_SECONDS = 0
    stripe_standin.seed_demo_catalogue()
    _names()
    fetched = _stripe_reads(stripe_standin)
    _names()
    assert _stripe_reads(stripe_standin) > fetched
