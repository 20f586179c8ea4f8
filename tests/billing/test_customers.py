"""customer_ensure: the organization's Stripe customer, created once, with a key derived from the row."""

from __future__ import annotations

import pytest

from billing.models import StripeWrite
from billing.services.customers import customer_ensure
from tests.billing.keys import sent

pytestmark = pytest.mark.django_db

CREATES = ("POST", "/v1/customers")


def test_the_first_call_creates_the_customer_with_the_organizations_key(organization, owner, stripe_standin):
    customer_id = customer_ensure(organization=organization)

    (request,) = stripe_standin.requests_to(*CREATES)
    (write,) = StripeWrite.objects.filter(organization=organization, subject="customer")
    assert request.headers["idempotency-key"] == sent(write.idempotency_key)
    assert request.params == {
        "name": "Acme Inc",
        "email": "billing@acme.example.com",
        "metadata": {"organization_id": str(organization.pk)},
    }
    (customer,) = stripe_standin.customers
    assert customer["id"] == customer_id
    assert customer["metadata"] == {"organization_id": str(organization.pk)}
    organization.refresh_from_db()
    assert organization.stripe_customer_id == customer_id


def test_without_a_billing_email_the_owners_address_is_used(make_organization, make_user, stripe_standin):
    organization = make_organization(name="No Billing Email")
    make_user(email="boss@nobilling.example.com", role="owner", organization=organization)
    customer_ensure(organization=organization)
    (request,) = stripe_standin.requests_to(*CREATES)
    assert request.params["email"] == "boss@nobilling.example.com"


def test_an_existing_customer_is_returned_without_calling_stripe(organization, stripe_standin):
    organization.stripe_customer_id = "cus_existing"
    organization.save()
    assert customer_ensure(organization=organization) == "cus_existing"
    assert stripe_standin.requests == []


def test_a_stale_copy_of_the_organization_gets_the_stored_customer(organization, stripe_standin):
    stale = type(organization).objects.get(pk=organization.pk)
    first = customer_ensure(organization=organization)
    assert customer_ensure(organization=stale) == first
    assert stale.stripe_customer_id == first
    assert len(stripe_standin.requests_to(*CREATES)) == 1


def test_replacing_a_gone_customer_creates_one_with_the_after_key(organization, stripe_standin):
    organization.stripe_customer_id = "cus_gone"
    organization.save()

    new_id = customer_ensure(organization=organization, replacing="cus_gone")
    again = customer_ensure(organization=organization, replacing="cus_gone")  # a second request noticing

    assert again == new_id != "cus_gone"
    (request,) = stripe_standin.requests_to(*CREATES)
    (write,) = StripeWrite.objects.filter(organization=organization, subject="customer")
    assert write.action == "replace-cus_gone"
    assert request.headers["idempotency-key"] == sent(write.idempotency_key)
    organization.refresh_from_db()
    assert organization.stripe_customer_id == new_id
