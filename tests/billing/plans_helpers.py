"""The demo catalogue and buy helpers shared by the plans and buy tests."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from stripe_standin import StripeStandIn
from tests.conftest import access_token_for

STARTER_MONTHLY = "price_demo_starter_monthly"
STARTER_YEARLY = "price_demo_starter_yearly"
PRO_MONTHLY = "price_demo_pro_monthly"
PRO_YEARLY = "price_demo_pro_yearly"
FREE_MONTHLY = "price_demo_free_monthly"
BUY = "/subscriptions/buy"


def bearer(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
    return client


def buy(user: Any, price: str) -> Any:
    return bearer(user).post(BUY, {"subscriptionPeriodId": price}, format="json")


def subscribed(user: Any, stripe_standin: StripeStandIn, price: str) -> str:
    """Subscribe the user's organization to `price` the way a customer does: buy, pay on the
    Checkout page, come back (the status call records the subscription). Its id."""
    response = buy(user, price)
    assert response.status_code == 200, response.content
    session_id = response.json()["sessionId"]
    stripe_standin.complete_checkout_session(session_id)
    status = bearer(user).get(f"/subscriptions/checkout-session/{session_id}")
    assert status.status_code == 200, status.content
    subscription_id: str = status.json()["subscriptionId"]
    return subscription_id
