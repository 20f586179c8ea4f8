"""A key for another Stripe account (or the other mode) cannot erase or split billing.

Another account is another stand-in: the same API, none of our customers. Switching the app's
`STRIPE_API_BASE` to it is what pointing `STRIPE_SECRET_KEY` at another account does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe

from billing.errors import BillingNotConfigured
from billing.stripe_gateway import calls as stripe_calls
from billing.stripe_gateway.errors import _stripe_errors
from organizations.models import Organization
from stripe_standin import StripeStandIn
from tests.assertions import assert_error
from tests.factories import SubscriptionFactory

PORTAL = "/subscriptions/portal"


@pytest.fixture
def other_account(settings) -> Iterator[StripeStandIn]:
    standin = StripeStandIn()
    standin.start()
    yield standin
    standin.stop()


@pytest.mark.django_db
def test_the_first_customer_remembers_its_account(
    owner, organization, make_user, make_organization, auth_client, stripe_standin
):
    stripe_calls._account_of.cache_clear()  # as in a fresh process
    assert auth_client(owner).post(PORTAL).status_code == 200
    organization.refresh_from_db()
    assert organization.stripe_account_id == stripe_standin.account_id

    second = make_user(role="owner", organization=make_organization())
    assert auth_client(second).post(PORTAL).status_code == 200
    # Asked once per process, not once per customer.
    assert [r.path for r in stripe_standin.requests_to("GET", "/v1/account")] == ["/v1/account"]


@pytest.mark.django_db
def test_a_key_for_another_account_creates_no_customer_and_answers_not_configured(
    owner, organization, auth_client, stripe_standin, other_account, settings
):
    client = auth_client(owner)
    assert client.post(PORTAL).status_code == 200
    organization.refresh_from_db()
    before = (organization.stripe_customer_id, organization.stripe_account_id)
    SubscriptionFactory.create(organization=organization, status="active")

    settings.STRIPE_API_BASE = other_account.url  # the key of another account
    assert_error(client.post(PORTAL), 500, "BILLING_NOT_CONFIGURED")

    assert other_account.customers == []  # nothing created in the wrong account
    organization.refresh_from_db()
    assert (organization.stripe_customer_id, organization.stripe_account_id) == before
    assert organization.subscriptions.get().status == "active"

    settings.STRIPE_API_BASE = stripe_standin.url  # the right key again: as before
    assert client.post(PORTAL).status_code == 200
    assert len(stripe_standin.customers) == 1
    sessions = stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")
    assert {s.params["customer"] for s in sessions} == {before[0]}


@pytest.mark.django_db
def test_a_customer_whose_account_is_unknown_is_not_replaced(
    owner, organization, auth_client, stripe_standin
):
    """Stored before accounts were remembered: a miss cannot be told from a wrong key."""
    Organization.objects.filter(pk=organization.pk).update(stripe_customer_id="cus_from_before")
    assert_error(auth_client(owner).post(PORTAL), 500, "BILLING_NOT_CONFIGURED")
    assert stripe_standin.customers == []


@pytest.mark.django_db
def test_a_key_of_the_other_mode_is_not_configured(organization):
    """Stripe's answer when the customer exists in the other mode: the key is wrong, not the customer."""
    organization.stripe_customer_id = "cus_live_one"

    error = stripe.InvalidRequestError(
        f"No such customer: '{organization.stripe_customer_id}'; a similar object exists in live mode, "
        "but a test mode key was used to make this request.",
        param="customer",
        code="resource_missing",
    )
    with pytest.raises(BillingNotConfigured), _stripe_errors("customers.retrieve"):
        raise error
