"""The output serializers' own logic (billing/serializers.py), seen through the API where it can be:
times in UTC with `Z`, a pending payment whose price is no longer on offer, and the portal's body
built by a serializer bound once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.utils import timezone

from billing import serializers
from billing.models import CheckoutSession
from billing.services.payments import Payment
from tests.billing.plans_helpers import bearer
from tests.factories import CheckoutSessionFactory, SubscriptionFactory

PERIOD_END = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_times_are_utc_with_z_whatever_time_zone_is_active(owner, organization):
    SubscriptionFactory.create(
        organization=organization,
        current_period_start=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        current_period_end=PERIOD_END,
        cancel_at_period_end=True,
    )
    with timezone.override("Europe/Paris"):  # a project or a middleware may activate one
        response = bearer(owner).get("/subscriptions/my")
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert (data["current_period_end"], data["dateFrom"], data["dateTo"], data["cancelAt"]) == (
        "2026-03-31T12:00:00Z",
        "2026-03-01T12:00:00Z",
        "2026-03-31T12:00:00Z",
        "2026-03-31T12:00:00Z",
    )

    payment = Payment(
        id="in_1",
        amount=1900,
        currency="usd",
        status="COMPLETED",
        timestamp=datetime(2026, 11, 1, 0, 0, 30, 250000, tzinfo=UTC),
        invoice_url=None,
        invoice_pdf=None,
    )
    with timezone.override("America/New_York"):
        # Any: to the type checker, an envelope's `.data` is its `data` field.
        body: Any = serializers.PaymentsResponseSerializer({"payments": [payment], "has_more": False}).data
    assert body["data"][0]["timestamp"] == "2026-11-01T00:00:30.250000Z"


@pytest.mark.django_db
def test_a_pending_payment_whose_price_is_not_on_offer_names_what_the_session_holds(owner, organization):
    # No plan list cached (or the price was archived since): the session's own ids and amount.
    CheckoutSessionFactory.create(
        organization=organization,
        price_id="price_archived",
        product_id="prod_archived",
        amount=2500,
        url="https://checkout.stripe.com/c/pay/cs_test_archived",
    )
    response = bearer(owner).get("/subscriptions/pending-payment")
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["subscription"] == {"id": "prod_archived", "name": "prod_archived", "description": ""}
    assert data["subscriptionPeriod"] == {"id": "price_archived", "periodType": None, "price": 2500}
    assert (data["status"], data["sessionStatus"]) == ("PENDING", "open")
    assert list(data) == [
        "id",
        "stripePaymentId",
        "amount",
        "currency",
        "status",
        "createdAt",
        "subscription",
        "subscriptionPeriod",
        "checkoutUrl",
        "sessionStatus",
    ]
    assert CheckoutSession.objects.get().status == CheckoutSession.Status.OPEN


def test_the_portal_body_from_the_shared_serializer_is_the_serializers_own():
    for url in ("https://billing.stripe.com/p/session/test_a", "http://127.0.0.1:12111/p/session/b"):
        shared = serializers.portal_url_body(url)
        assert shared == serializers.PortalUrlResponseSerializer(url).data == {"success": True, "url": url}
        assert list(shared) == ["success", "url"]
