"""POST /subscriptions/buy: every row of its table, through the real SDK against the stand-in."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from billing.models import CheckoutSession, PortalSession, StripeWrite, Subscription
from tests.assertions import assert_error
from tests.billing.keys import sent
from tests.billing.plans_helpers import (
    BUY,
    FREE_MONTHLY,
    PRO_MONTHLY,
    STARTER_MONTHLY,
    STARTER_YEARLY,
    bearer,
    buy,
    subscribed,
)

CHECKOUT = "/v1/checkout/sessions"


@pytest.fixture(autouse=True)
def _catalogue(stripe_standin):
    stripe_standin.seed_demo_catalogue()


def checkout_creates(stripe_standin):
    return [r for r in stripe_standin.requests_to("POST", CHECKOUT) if r.path == CHECKOUT]


@pytest.mark.django_db
def test_paid_period_without_subscription_answers_a_checkout_session(owner, organization, stripe_standin):
    response = buy(owner, STARTER_MONTHLY)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    session_id = body["sessionId"]
    assert body == {
        "success": True,
        "checkoutUrl": f"{stripe_standin.url}/c/pay/{session_id}",
        "sessionId": session_id,
        "isSubscriptionChange": False,
        "previousSubscription": None,
        "isFreeSubscription": False,
    }
    organization.refresh_from_db()
    (request,) = checkout_creates(stripe_standin)
    row = CheckoutSession.objects.get()
    assert request.headers["idempotency-key"] == sent(row.idempotency_key)
    assert request.params == {
        "mode": "subscription",
        "customer": organization.stripe_customer_id,
        "line_items": [{"price": STARTER_MONTHLY, "quantity": "1"}],
        "client_reference_id": str(organization.pk),
        "metadata": {"organization_id": str(organization.pk)},
        "subscription_data": {"metadata": {"organization_id": str(organization.pk)}},
        "success_url": "http://127.0.0.1:8000/billing/?checkout=success&session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://127.0.0.1:8000/billing/?checkout=canceled",
    }
    assert (row.organization, row.user, row.status) == (organization, owner, "open")
    assert (row.stripe_session_id, row.price_id, row.product_id) == (
        session_id,
        STARTER_MONTHLY,
        "prod_demo_starter",
    )
    assert (row.amount, row.currency) == (1900, "usd")
    assert row.expires_at is not None
    # The customer was created on first use, as for the portal.
    assert len(stripe_standin.customers) == 1


@pytest.mark.django_db
def test_trial_days_on_the_first_subscription_only(owner, organization, stripe_standin, settings):
    settings.BILLING_TRIAL_DAYS = 14
    buy(owner, STARTER_MONTHLY)
    assert checkout_creates(stripe_standin)[0].params["subscription_data"]["trial_period_days"] == "14"
    CheckoutSession.objects.all().delete()
    Subscription.objects.create(
        organization=organization,
        stripe_subscription_id="sub_old",
        status="canceled",
        stripe_created="2025-01-01T00:00:00Z",
        state_at="2025-01-01T00:00:00Z",
        synced_at="2025-01-01T00:00:00Z",
    )
    response = buy(owner, STARTER_YEARLY)
    assert response.status_code == 200, response.content
    assert "trial_period_days" not in checkout_creates(stripe_standin)[-1].params["subscription_data"]


@pytest.mark.django_db
def test_free_period_subscribes_at_once_without_checkout(owner, organization, stripe_standin):
    response = buy(owner, FREE_MONTHLY)
    assert response.status_code == 200, response.content
    body = response.json()
    (sub,) = stripe_standin.subscriptions
    assert body == {
        "success": True,
        "checkoutUrl": None,
        "sessionId": None,
        "subscriptionId": sub["id"],
        "isSubscriptionChange": False,
        "previousSubscription": None,
        "isFreeSubscription": True,
    }
    assert checkout_creates(stripe_standin) == []
    (create,) = stripe_standin.requests_to("POST", "/v1/subscriptions")
    assert create.params["items"] == [{"price": FREE_MONTHLY, "quantity": "1"}]
    organization.refresh_from_db()
    (write,) = StripeWrite.objects.filter(subject="free-subscription")
    assert create.headers["idempotency-key"] == sent(write.idempotency_key)
    assert write.finished_at is not None
    row = Subscription.objects.get()
    assert (row.stripe_subscription_id, row.status, row.price_id) == (sub["id"], "active", FREE_MONTHLY)


@pytest.mark.django_db
def test_a_live_subscription_on_another_period_is_a_change_through_the_portal(
    owner, organization, stripe_standin
):
    subscription_id = subscribed(owner, stripe_standin, STARTER_MONTHLY)
    response = buy(owner, PRO_MONTHLY)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["isSubscriptionChange"] is True
    assert body["previousSubscription"] == {"id": subscription_id, "name": "Starter"}
    assert body["isFreeSubscription"] is False
    assert body["sessionId"].startswith("bps_")
    assert body["checkoutUrl"].startswith(f"{stripe_standin.url}/p/session/")
    (portal,) = stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")
    item_id = stripe_standin.subscriptions[0]["items"]["data"][0]["id"]
    assert portal.params["flow_data"]["type"] == "subscription_update_confirm"
    assert portal.params["flow_data"]["subscription_update_confirm"] == {
        "subscription": subscription_id,
        "items": [{"id": item_id, "price": PRO_MONTHLY}],
    }
    assert len(stripe_standin.subscriptions) == 1  # never a second subscription
    assert len(checkout_creates(stripe_standin)) == 1  # the first purchase's only
    assert PortalSession.objects.get().stripe_session_id == body["sessionId"]


@pytest.mark.django_db
def test_the_same_period_again_is_409(owner, stripe_standin):
    subscribed(owner, stripe_standin, STARTER_MONTHLY)
    calls = len(stripe_standin.requests)
    assert_error(buy(owner, STARTER_MONTHLY), 409, "ALREADY_SUBSCRIBED")
    assert len(stripe_standin.requests) == calls  # decided without Stripe


@pytest.mark.django_db
def test_a_free_plan_when_subscribed_to_a_paid_one_is_a_change(owner, stripe_standin):
    subscribed(owner, stripe_standin, STARTER_MONTHLY)
    body = buy(owner, FREE_MONTHLY).json()
    assert body["isSubscriptionChange"] is True and body["isFreeSubscription"] is False
    assert len(stripe_standin.subscriptions) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"subscriptionPeriodId": ""},
        {"subscriptionPeriodId": 5},
        {"price": STARTER_MONTHLY},
        [STARTER_MONTHLY],
    ],
)
def test_a_missing_period_is_400(owner, stripe_standin, payload):
    client = bearer(owner)
    response = client.post(BUY) if payload is None else client.post(BUY, payload, format="json")
    assert_error(response, 400, "VALIDATION_ERROR")
    assert stripe_standin.requests == []


@pytest.mark.django_db
def test_a_body_that_is_not_json_is_400(owner, stripe_standin):
    response = bearer(owner).generic("POST", BUY, "{not json", content_type="application/json")
    assert_error(response, 400, "VALIDATION_ERROR")
    response = bearer(owner).generic("POST", BUY, "price=x", content_type="application/x-www-form-urlencoded")
    assert_error(response, 400, "VALIDATION_ERROR")
    assert stripe_standin.requests == []


@pytest.mark.django_db
@pytest.mark.parametrize("price", ["price_nope", "price_one_time", "price_inactive", "price_not_offered"])
def test_a_period_not_on_offer_is_404(owner, stripe_standin, settings, price):
    product = stripe_standin.create_product("Hidden", id="prod_hidden")
    stripe_standin.create_price(product["id"], 100, id="price_not_offered")
    stripe_standin.create_price("prod_demo_pro", 100, interval=None, id="price_one_time")
    stripe_standin.create_price("prod_demo_pro", 100, active=False, id="price_inactive")
    settings.BILLING_PRODUCTS = ["prod_demo_free", "prod_demo_starter", "prod_demo_pro"]
    body = assert_error(buy(owner, price), 404, "SUBSCRIPTION_PERIOD_NOT_FOUND")
    assert body["message"] == "Subscription period not found"
    assert checkout_creates(stripe_standin) == []


@pytest.mark.django_db
def test_caller_errors_come_in_the_documented_order(make_user, member, organization, stripe_standin):
    assert_error(
        APIClient().post(BUY, {"subscriptionPeriodId": STARTER_MONTHLY}, format="json"), 401, "UNAUTHORIZED"
    )
    assert_error(
        bearer(make_user()).post(BUY, "{bad", content_type="application/json"), 400, "NO_ORGANIZATION"
    )
    # The role comes before the body: a member with a broken body is told about the role.
    assert_error(
        bearer(member).post(BUY, "{bad", content_type="application/json"), 403, "BILLING_PERMISSION_DENIED"
    )
    organization.is_active = False
    organization.save()
    assert_error(buy(member, STARTER_MONTHLY), 404, "ORG_NOT_FOUND")
    assert_error(bearer(member).get(BUY), 405, "METHOD_NOT_ALLOWED")
    assert stripe_standin.requests == []


@pytest.mark.django_db
def test_trailing_slash_is_served(owner):
    response = bearer(owner).post(BUY + "/", {"subscriptionPeriodId": STARTER_MONTHLY}, format="json")
    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_the_rate_is_shared_with_the_portal_and_counts_refusals_after_it(owner, settings, stripe_standin):
    settings.BILLING_PORTAL_RATE = "3/min"
    assert bearer(owner).post("/subscriptions/portal").status_code == 200
    assert buy(owner, "price_nope").status_code == 404  # passed the checks before the rate: counts
    assert buy(owner, STARTER_MONTHLY).status_code == 200
    response = buy(owner, STARTER_MONTHLY)
    assert_error(response, 429, "RATE_LIMITED")
    assert int(response["Retry-After"]) >= 1
    assert_error(bearer(owner).post("/subscriptions/portal"), 429, "RATE_LIMITED")


@pytest.mark.django_db
def test_refusals_before_the_rate_do_not_count(owner, settings):
    settings.BILLING_PORTAL_RATE = "1/min"
    for _ in range(3):
        assert_error(bearer(owner).post(BUY), 400, "VALIDATION_ERROR")
    assert buy(owner, STARTER_MONTHLY).status_code == 200


@pytest.mark.django_db
def test_stripe_down_is_503_and_does_not_count_toward_the_rate(owner, settings, stripe_standin):
    settings.BILLING_PORTAL_RATE = "1/min"
    buy(owner, STARTER_YEARLY)  # the plan list is cached now; this one counted
    from core import ratelimit

    ratelimit.reset(key=f"portal:user:{owner.pk}")
    stripe_standin.add_fault("500", method="POST", path_prefix=CHECKOUT)
    CheckoutSession.objects.all().delete()
    response = buy(owner, STARTER_MONTHLY)
    assert_error(response, 503, "BILLING_UNAVAILABLE")
    assert int(response["Retry-After"]) >= 1
    stripe_standin.clear_faults()
    response = buy(owner, STARTER_MONTHLY)
    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_a_timed_out_create_is_replayed_with_the_same_key(owner, stripe_standin):
    """Stripe created the session but the answer was lost: the next buy replays the key and
    gets that same session back, never a second one."""
    stripe_standin.add_fault("500", method="POST", path_prefix=CHECKOUT, times=10)
    assert_error(buy(owner, STARTER_MONTHLY), 503, "BILLING_UNAVAILABLE")
    row = CheckoutSession.objects.get()
    assert row.status == "creating"
    stripe_standin.clear_faults()
    response = buy(owner, STARTER_MONTHLY)
    assert response.status_code == 200, response.content
    keys = {r.headers["idempotency-key"] for r in checkout_creates(stripe_standin)}
    assert keys == {sent(row.idempotency_key)}
    row.refresh_from_db()
    assert (row.status, row.stripe_session_id) == ("open", response.json()["sessionId"])
    assert len(stripe_standin.checkout_sessions) == 1


@pytest.mark.django_db
def test_no_stripe_key_is_500_not_configured(owner, settings):
    settings.STRIPE_SECRET_KEY = ""
    assert_error(buy(owner, STARTER_MONTHLY), 500, "BILLING_NOT_CONFIGURED")


@pytest.mark.django_db
def test_a_customer_deleted_at_stripe_is_recreated_once(owner, organization, stripe_standin):
    buy(owner, STARTER_MONTHLY)
    organization.refresh_from_db()
    old = organization.stripe_customer_id
    stripe_standin.delete_customer(old)
    CheckoutSession.objects.all().delete()
    response = buy(owner, STARTER_YEARLY)
    assert response.status_code == 200, response.content
    organization.refresh_from_db()
    assert organization.stripe_customer_id not in (None, old)
    assert CheckoutSession.objects.get(status="open").stripe_session_id == response.json()["sessionId"]
