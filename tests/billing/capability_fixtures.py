"""Organizations on the demo plans, set up through the stand-in and its signed webhook deliveries."""

from __future__ import annotations

from typing import Any

from django.test import Client

from organizations.models import Organization
from stripe_standin import StripeStandIn
from tests.billing.stripe_events import deliver, give_customer

STARTER = "price_demo_starter_monthly"
PRO = "price_demo_pro_monthly"
FREE = "price_demo_free_monthly"
SUMMARY = "entitlements.active_entitlement_summary.updated"


class Deliveries:
    """Delivers the stand-in's events to the app, each once, in the order Stripe emitted them."""

    def __init__(self, client: Client, standin: StripeStandIn) -> None:
        self.client, self.standin, self.seen = client, standin, 0

    def new(self) -> list[dict[str, Any]]:
        events = self.standin.events()
        fresh, self.seen = events[self.seen :], len(events)
        return fresh

    def skip(self) -> list[dict[str, Any]]:
        """Forget the events so far (missed webhooks)."""
        return self.new()

    def all(self, type: str | None = None) -> list[Any]:
        """Deliver every new event (of `type` only, the others are dropped: missed)."""
        return [deliver(self.client, e) for e in self.new() if type is None or e["type"] == type]


def subscribe(
    organization: Organization, standin: StripeStandIn, price_id: str = STARTER, status: str = "active"
) -> dict[str, Any]:
    """The demo catalogue, a customer for the organization, and its subscription to `price_id`."""
    standin.seed_demo_catalogue()
    customer_id = organization.stripe_customer_id or give_customer(organization, standin)
    return standin.create_subscription(customer=customer_id, price_id=price_id, status=status)
