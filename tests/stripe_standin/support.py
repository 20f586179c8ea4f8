"""What the stand-in's tests share besides fixtures: the key they use and an SDK client for it."""

from __future__ import annotations

import stripe

from stripe_standin import StripeStandIn

KEY = "sk_test_123"


def client_for(standin: StripeStandIn, key: str = KEY, retries: int = 0) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": standin.url}, max_network_retries=retries)
