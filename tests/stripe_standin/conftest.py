"""The stand-in on a port of its own for each test module, reset before each test, and an SDK
client pointed at it. A module overrides `standin` (or `_server`) where it needs more."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe

from stripe_standin import StripeStandIn
from tests.stripe_standin.support import client_for


@pytest.fixture(scope="module")
def _server() -> Iterator[StripeStandIn]:
    standin = StripeStandIn()
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
def standin(_server: StripeStandIn) -> StripeStandIn:
    _server.reset()
    return _server


@pytest.fixture
def client(standin: StripeStandIn) -> stripe.StripeClient:
    return client_for(standin)
