"""GET /subscriptions/checkout-session/{id}, the same-session rule, and a session paid while
another period was being bought."""

from __future__ import annotations

import pytest

from billing.models import CheckoutSession, Subscription
from tests.assertions import assert_error
from tests.billing.plans_helpers import PRO_YEARLY, STARTER_MONTHLY, bearer, buy

CHECKOUT = "/v1/checkout/sessions"


@pytest.fixture(autouse=True)
def _catalogue(stripe_standin):
    stripe_standin.seed_demo_catalogue()


def status_of(user, session_id):
    return bearer(user).get(f"/subscriptions/checkout-session/{session_id}")


@pytest.mark.django_db
def test_an_open_session_read_from_stripe(owner, member, stripe_standin):
    session_id = buy(owner, STARTER_MONTHLY).json()["sessionId"]
    response = status_of(member, session_id)  # any member may ask
    assert response.status_code == 200, response.content
    assert response.json() == {
        "success": True,
        "id": session_id,
        "status": "open",
        "payment_status": "unpaid",
        "subscriptionId": None,
    }
    assert stripe_standin.requests_to("GET", f"{CHECKOUT}/{session_id}")


@pytest.mark.django_db
def test_trailing_slash(owner):
    session_id = buy(owner, STARTER_MONTHLY).json()["sessionId"]
    assert bearer(owner).get(f"/subscriptions/checkout-session/{session_id}/").status_code == 200


@pytest.mark.django_db
def test_a_complete_session_records_the_subscription_at_once(owner, organization, stripe_standin):
    session_id = buy(owner, STARTER_MONTHLY).json()["sessionId"]
    stripe_standin.complete_checkout_session(session_id)
    body = status_of(owner, session_id).json()
    (sub,) = stripe_standin.subscriptions
    assert (body["status"], body["payment_status"], body["subscriptionId"]) == ("complete", "paid", sub["id"])
    row = Subscription.objects.get()  # no webhook was delivered
    assert (row.organization, row.stripe_subscription_id, row.status, row.price_id) == (
        organization,
        sub["id"],
        "active",
        STARTER_MONTHLY,
    )
    session = CheckoutSession.objects.get()
    assert (session.status, session.stripe_subscription_id, session.url) == ("complete", sub["id"], "")


@pytest.mark.django_db
def test_an_expired_session(owner, stripe_standin):
    session_id = buy(owner, STARTER_MONTHLY).json()["sessionId"]
    stripe_standin.expire_checkout_session(session_id)
    assert status_of(owner, session_id).json()["status"] == "expired"
    assert CheckoutSession.objects.get().status == "expired"


@pytest.mark.django_db
def test_another_organizations_session_is_invalid_without_asking_stripe(owner, make_user, stripe_standin):
    other = make_user(role="owner")
    session_id = buy(other, STARTER_MONTHLY).json()["sessionId"]
    calls = len(stripe_standin.requests)
    body = assert_error(status_of(owner, session_id), 400, "INVALID_SESSION")
    assert body["message"] == "Invalid Checkout Session ID"
    assert_error(status_of(owner, "cs_test_made_up"), 400, "INVALID_SESSION")
    assert len(stripe_standin.requests) == calls


@pytest.mark.django_db
def test_caller_errors(make_user, api_client):
    assert_error(api_client.get("/subscriptions/checkout-session/cs_x"), 401, "UNAUTHORIZED")
    assert_error(status_of(make_user(), "cs_x"), 400, "NO_ORGANIZATION")
    assert_error(
        bearer(make_user(role="member")).post("/subscriptions/checkout-session/cs_x"),
        405,
        "METHOD_NOT_ALLOWED",
    )


@pytest.mark.django_db
def test_the_same_period_while_open_answers_the_same_session_without_stripe(owner, stripe_standin):
    first = buy(owner, STARTER_MONTHLY).json()
    calls = len(stripe_standin.requests)
    second = buy(owner, STARTER_MONTHLY).json()
    assert (second["sessionId"], second["checkoutUrl"]) == (first["sessionId"], first["checkoutUrl"])
    assert len(stripe_standin.requests) == calls  # no new Stripe call at all


@pytest.mark.django_db
def test_another_period_expires_the_open_session_first(owner, stripe_standin):
    first = buy(owner, STARTER_MONTHLY).json()["sessionId"]
    second = buy(owner, PRO_YEARLY).json()["sessionId"]
    assert second != first
    expire = stripe_standin.requests_to("POST", f"{CHECKOUT}/{first}/expire")
    assert len(expire) == 1
    creates = [r for r in stripe_standin.requests_to("POST", CHECKOUT) if r.path == CHECKOUT]
    assert creates[-1].time > expire[0].time  # expired before the new one was created
    states = {s["id"]: s["status"] for s in stripe_standin.checkout_sessions}
    assert states == {first: "expired", second: "open"}


@pytest.mark.django_db
def test_a_session_paid_before_its_expiry_is_recorded_and_409(owner, organization, stripe_standin):
    first = buy(owner, STARTER_MONTHLY).json()["sessionId"]
    stripe_standin.complete_checkout_session(first)  # paid in another tab, no webhook yet
    assert_error(buy(owner, PRO_YEARLY), 409, "ALREADY_SUBSCRIBED")
    (sub,) = stripe_standin.subscriptions
    assert Subscription.objects.get().stripe_subscription_id == sub["id"]
    assert CheckoutSession.objects.get().status == "complete"
    assert [s["status"] for s in stripe_standin.checkout_sessions] == ["complete"]  # no new session


@pytest.mark.django_db
def test_a_completed_session_recorded_by_its_status_brings_the_plans_capabilities(owner, stripe_standin):
    """No webhook at all: the status call records the subscription and, as any subscription
    change does, refreshes the capabilities from Stripe's active entitlements."""
    session_id = buy(owner, STARTER_MONTHLY).json()["sessionId"]
    stripe_standin.complete_checkout_session(session_id)
    (sub,) = stripe_standin.subscriptions
    assert stripe_standin.active_entitlements(sub["customer"])  # the Starter plan has features

    assert status_of(owner, session_id).status_code == 200

    my = bearer(owner).get("/subscriptions/my").json()["data"]
    assert my["status"] == "active"
    assert my["capabilities"], my
    assert stripe_standin.requests_to("GET", "/v1/entitlements/active_entitlements")


@pytest.mark.django_db
def test_the_checkout_completed_webhook_brings_the_plans_capabilities(
    owner, organization, client, stripe_standin
):
    from tests.billing.stripe_events import deliver, event

    session_id = buy(owner, STARTER_MONTHLY).json()["sessionId"]
    session = stripe_standin.complete_checkout_session(session_id)

    assert deliver(client, event("checkout.session.completed", session)).status_code == 200

    my = bearer(owner).get("/subscriptions/my").json()["data"]
    assert my["status"] == "active" and my["capabilities"], my
