"""GET /subscriptions/my: the current subscription, with the API's error codes for the caller's errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from billing.models import Subscription
from organizations.models import Organization
from tests.assertions import assert_error
from tests.conftest import access_token_for
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

URL = "/subscriptions/my"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_subscription(
    organization: Organization, sub_id: str, *, status: str = "active", created=T0, **fields
) -> Subscription:
    """A team-plan subscription created (and last synced) at `created`."""
    fields = {"price_id": "price_team_monthly", "product": "prod_team", **fields}
    return SubscriptionFactory.create(
        organization=organization,
        stripe_subscription_id=sub_id,
        status=status,
        stripe_created=created,
        state_at=created,
        **fields,
    )


def get(user) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
    return client.get(URL)


# --- success -------------------------------------------------------------------------------


def test_no_subscription(owner):
    response = get(owner)

    assert response.status_code == 200, response.content
    assert response.json() == {"success": True, "data": None, "message": "No subscription found"}
    assert response["Cache-Control"] == "no-store"


def test_one_subscription_with_times_in_utc(owner, organization, make_organization):
    make_subscription(
        organization,
        "sub_one",
        status="trialing",
        quantity=5,
        cancel_at_period_end=True,
        canceled_at=datetime(2026, 3, 20, 8, 30, 15, tzinfo=UTC),
        trial_end=datetime(2026, 3, 15, tzinfo=UTC),
    )
    make_subscription(make_organization(), "sub_of_another_org", created=T0 + timedelta(days=1))

    response = get(owner)

    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {
        "success": True,
        "data": {
            "stripe_subscription_id": "sub_one",
            "status": "trialing",
            "price_id": "price_team_monthly",
            "product": "prod_team",
            "quantity": 5,
            "current_period_end": "2026-03-31T12:00:00Z",
            "cancel_at_period_end": True,
            "canceled_at": "2026-03-20T08:30:15Z",
            "trial_end": "2026-03-15T00:00:00Z",
            # The plan as the plans name it: unknown here (not among the plans on offer).
            "name": None,
            "description": None,
            "periodId": "price_team_monthly",
            "periodType": None,
            "price": None,
            "currency": None,
            "dateFrom": "2026-03-01T12:00:00Z",
            "dateTo": "2026-03-31T12:00:00Z",
            "autoRenew": False,  # a cancellation is scheduled
            "cancelAt": "2026-03-31T12:00:00Z",
            "capabilities": [],  # none synced from Stripe
        },
    }


def test_the_plan_is_named_from_the_cached_plan_list_without_calling_stripe(
    owner, organization, stripe_standin
):
    from billing.services.plans import plans_list

    stripe_standin.seed_demo_catalogue()
    plans_list()  # the plan list, as GET /subscriptions or the page fetched it
    make_subscription(
        organization, "sub_starter", price_id="price_demo_starter_yearly", product="prod_demo_starter"
    )
    calls = len(stripe_standin.requests)

    data = get(owner).json()["data"]

    assert {k: data[k] for k in ("name", "periodId", "periodType", "price", "currency", "autoRenew")} == {
        "name": "Starter",
        "periodId": "price_demo_starter_yearly",
        "periodType": "YEARLY",
        "price": 19000,
        "currency": "usd",
        "autoRenew": True,
    }
    assert data["description"]
    assert data["cancelAt"] is None
    assert len(stripe_standin.requests) == calls  # no Stripe call on the read


@pytest.mark.parametrize(
    ("subscriptions", "expected"),
    [
        # (id, status, days after T0 it was created)
        ([("sub_old", "active", 0), ("sub_new", "trialing", 1)], "sub_new"),
        ([("sub_live", "active", 0), ("sub_ended", "canceled", 1)], "sub_live"),
        ([("sub_live", "past_due", 0), ("sub_expired", "incomplete_expired", 2)], "sub_live"),
        ([("sub_a", "canceled", 0), ("sub_b", "incomplete_expired", 1)], "sub_b"),
        ([("sub_a", "canceled", 1), ("sub_b", "canceled", 0)], "sub_a"),
        ([("sub_a", "unpaid", 0), ("sub_b", "incomplete", 1), ("sub_c", "canceled", 2)], "sub_b"),
    ],
    ids=[
        "newest",
        "not a canceled newer one",
        "not an expired newer one",
        "all ended: newest",
        "all canceled: newest",
        "newest not ended",
    ],
)
def test_several_subscriptions_shows_the_current_one(owner, organization, subscriptions, expected):
    for sub_id, status, days in subscriptions:
        make_subscription(organization, sub_id, status=status, created=T0 + timedelta(days=days))

    response = get(owner)

    assert response.status_code == 200, response.content
    assert response.json()["data"]["stripe_subscription_id"] == expected


@pytest.mark.parametrize("role", ["owner", "admin", "billing", "member"])
def test_every_member_may_read_it(make_user, organization, role):
    make_subscription(organization, "sub_one")
    user = make_user(role=role, organization=organization)

    response = get(user)

    assert response.status_code == 200, response.content
    assert response.json()["data"]["stripe_subscription_id"] == "sub_one"


def test_a_known_small_number_of_queries(owner, organization, django_assert_num_queries):
    make_subscription(organization, "sub_one")
    make_subscription(organization, "sub_two", status="canceled", created=T0 + timedelta(days=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(owner)}")

    with django_assert_num_queries(2):  # the user with membership and organization; the subscription
        response = client.get(URL)

    assert response.status_code == 200, response.content


def test_the_trailing_slash_form(owner, organization):
    make_subscription(organization, "sub_one")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(owner)}")

    response = client.get(URL + "/")

    assert response.status_code == 200, response.content
    assert response.json()["data"]["stripe_subscription_id"] == "sub_one"


def test_stripe_is_not_asked(owner, organization, stripe_standin):
    make_subscription(organization, "sub_one")

    assert get(owner).status_code == 200
    assert stripe_standin.requests == []  # "as last synced"


# --- errors --------------------------------------------------------------------------------


def test_no_authorization_header():
    assert_error(APIClient().get(URL), 401, "UNAUTHORIZED")


def test_another_scheme_counts_as_absent(owner):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {access_token_for(owner)}")
    assert_error(client.get(URL), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("token", ["garbage", "a.b.c", ""], ids=["garbage", "three parts", "empty"])
def test_a_bad_token(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error(client.get(URL), 401, "INVALID_TOKEN")


def test_an_expired_token(owner):
    token = AccessToken.for_user(owner)
    token.set_exp(lifetime=-timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error(client.get(URL), 401, "INVALID_TOKEN")


def test_a_deleted_user(owner):
    token = access_token_for(owner)
    owner.delete()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error(client.get(URL), 404, "USER_NOT_FOUND")


def test_an_inactive_user(owner):
    owner.is_active = False
    owner.save()
    assert_error(get(owner), 401, "USER_INACTIVE")


def test_no_organization(make_user):
    body = assert_error(get(make_user()), 400, "NO_ORGANIZATION")
    assert body["message"] == "User must belong to an organization"


def test_an_inactive_organization(owner, organization):
    make_subscription(organization, "sub_one")
    organization.is_active = False
    organization.save()
    assert_error(get(owner), 404, "ORG_NOT_FOUND")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_other_methods(owner, method):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(owner)}")
    assert_error(getattr(client, method)(URL), 405, "METHOD_NOT_ALLOWED")


def test_method_is_checked_before_authentication():
    assert_error(APIClient().post(URL), 405, "METHOD_NOT_ALLOWED")
