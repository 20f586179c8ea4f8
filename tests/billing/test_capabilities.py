"""Capabilities: access by subscription status, values from Stripe's active entitlements, kept in
sync by the summary webhook, subscription changes and the sync command; the API's gates."""

from __future__ import annotations

import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import F

from billing import capabilities
from billing.capabilities import (
    organization_access,
    organization_billing_access,
    organization_capabilities,
    organization_capability,
    user_billing_access,
)
from billing.models import CapabilitySet, Subscription, WebhookEvent
from billing.selectors import subscription_current_get
from organizations.selectors import membership_for_user
from tests.assertions import assert_error
from tests.billing.capability_fixtures import PRO, STARTER, SUMMARY, Deliveries, subscribe
from tests.billing.stripe_events import deliver, event, give_customer, outcome_of

pytestmark = pytest.mark.django_db

ALL_STATUSES = [s.value for s in Subscription.Status]
ACCESS = {"active", "trialing", "past_due"}
STORAGE_1TB = {
    "id": "feat_demo_storage_1tb",
    "object": "entitlements.feature",
    "active": True,
    "livemode": False,
    "lookup_key": "storage-1tb",
    "metadata": {"code": "STORAGE_TB", "type": "QUOTA", "value": "1"},
    "name": "1 TB of storage",
}


@pytest.fixture
def deliveries(client, stripe_standin) -> Deliveries:
    return Deliveries(client, stripe_standin)


def codes(organization) -> dict[str, int]:
    return {c.code: c.value for c in organization_capabilities(organization)}


def test_all_eight_statuses_are_covered():
    assert len(ALL_STATUSES) == 8


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_access_follows_the_status(status, organization, stripe_standin, deliveries):
    subscribe(organization, stripe_standin, STARTER, status=status)
    for response in deliveries.all():
        assert response.status_code == 200, response.content

    current = subscription_current_get(organization=organization)
    assert current is not None and current.status == status
    assert organization_access(organization) is (status in ACCESS)
    if status in ACCESS:
        assert organization_capability(organization, "STORAGE_TB") == 1
        assert organization_capability(organization, "PROJECTS") == 1
        assert codes(organization) == {"PROJECTS": 1, "STORAGE_TB": 1}
    else:
        assert organization_capability(organization, "STORAGE_TB") is None
        assert organization_capability(organization, "PROJECTS") is None
        assert codes(organization) == {}


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_access_statuses_are_configurable(status, settings, organization, stripe_standin, deliveries):
    settings.BILLING_ACCESS_STATUSES = ["active"]
    subscribe(organization, stripe_standin, STARTER, status=status)
    deliveries.all()
    assert organization_access(organization) is (status == "active")
    assert (organization_capability(organization, "PROJECTS") == 1) is (status == "active")


def test_no_subscription_no_access(organization):
    assert organization_access(organization) is False
    assert organization_capability(organization, "PROJECTS") is None
    access = organization_billing_access(organization)
    assert (access.status, access.has_access, access.capabilities) == (None, False, ())


def test_capabilities_survive_without_access_but_are_not_granted(organization, stripe_standin, deliveries):
    sub = subscribe(organization, stripe_standin, PRO)
    deliveries.all()
    assert organization_capability(organization, "EXTENDED_SUPPORT") == 1
    # The status alone takes access away, before any entitlements event arrives.
    stripe_standin.update_subscription(sub["id"], status="unpaid")
    deliveries.all(type="customer.subscription.updated")
    assert organization_access(organization) is False
    assert organization_capability(organization, "EXTENDED_SUPPORT") is None


def test_values_boolean_and_quota(organization, make_organization, stripe_standin, deliveries):
    subscribe(organization, stripe_standin, STARTER)
    pro_org = make_organization(name="Pro Org")
    subscribe(pro_org, stripe_standin, PRO)
    deliveries.all()

    assert codes(organization) == {"PROJECTS": 1, "STORAGE_TB": 1}
    assert organization_capability(organization, "EXTENDED_SUPPORT") is None
    assert codes(pro_org) == {"PROJECTS": 1, "STORAGE_TB": 5, "EXTENDED_SUPPORT": 1}
    stored = CapabilitySet.objects.get(organization=pro_org).items
    assert {i["lookup_key"] for i in stored} == {"projects", "storage-5tb", "extended-support"}
    by_code = {c.code: c for c in organization_capabilities(pro_org)}
    assert (by_code["STORAGE_TB"].type, by_code["STORAGE_TB"].description) == ("QUOTA", "5 TB of storage")
    assert (by_code["EXTENDED_SUPPORT"].type, by_code["EXTENDED_SUPPORT"].value) == ("BOOLEAN", 1)


def test_feature_defaults_code_from_lookup_key_boolean_one(organization, stripe_standin, deliveries):
    stripe_standin.create_product("Plain", id="prod_plain")
    stripe_standin.create_price(product="prod_plain", unit_amount=500, interval="month", id="price_plain")
    feature = stripe_standin.create_feature("Audit log", "audit-log")
    stripe_standin.attach_feature("prod_plain", feature["id"])
    customer_id = give_customer(organization, stripe_standin)
    stripe_standin.create_subscription(customer=customer_id, price_id="price_plain")
    deliveries.all()
    (capability,) = organization_capabilities(organization)
    assert capability.as_dict() == {
        "code": "audit-log",
        "type": "BOOLEAN",
        "value": 1,
        "description": "Audit log",
    }


# --- staying in sync -------------------------------------------------------------------------


def test_plan_change_moves_capabilities_after_the_summary_webhook(organization, stripe_standin, deliveries):
    sub = subscribe(organization, stripe_standin, STARTER)
    deliveries.all()
    assert codes(organization) == {"PROJECTS": 1, "STORAGE_TB": 1}

    stripe_standin.update_subscription(sub["id"], price_id=PRO)
    assert codes(organization) == {"PROJECTS": 1, "STORAGE_TB": 1}  # nothing known yet
    (response,) = deliveries.all(type=SUMMARY)  # the subscription event is missed

    assert outcome_of(response) == "processed"
    assert codes(organization) == {"PROJECTS": 1, "STORAGE_TB": 5, "EXTENDED_SUPPORT": 1}
    # Stripe's summary names the features by id: their codes were read from Stripe.
    assert stripe_standin.requests_to("GET", "/v1/entitlements/active_entitlements")


def test_plan_change_moves_capabilities_after_the_subscription_webhook(
    organization, stripe_standin, deliveries
):
    sub = subscribe(organization, stripe_standin, STARTER)
    deliveries.all()
    before = len(stripe_standin.requests_to("GET", "/v1/entitlements/active_entitlements"))

    stripe_standin.update_subscription(sub["id"], price_id=PRO)
    (response,) = deliveries.all(type="customer.subscription.updated")  # the summary is missed

    assert outcome_of(response) == "processed"
    assert codes(organization)["STORAGE_TB"] == 5
    assert organization_capability(organization, "EXTENDED_SUPPORT") == 1
    assert len(stripe_standin.requests_to("GET", "/v1/entitlements/active_entitlements")) == before + 1


def test_a_change_of_quantity_only_does_not_ask_stripe(organization, stripe_standin, deliveries):
    sub = subscribe(organization, stripe_standin, STARTER)
    deliveries.all()
    before = len(stripe_standin.requests_to("GET", "/v1/entitlements"))
    stripe_standin.update_subscription(sub["id"], quantity=4)
    (response,) = deliveries.all(type="customer.subscription.updated")
    assert outcome_of(response) == "processed"
    assert Subscription.objects.get().quantity == 4
    assert len(stripe_standin.requests_to("GET", "/v1/entitlements")) == before


def webhooks_a_minute_ago() -> None:
    """What was delivered happened a minute ago (a sync's fetch is ordered after it)."""
    Subscription.objects.update(state_at=F("state_at") - timedelta(minutes=1))
    CapabilitySet.objects.update(state_at=F("state_at") - timedelta(minutes=1))


def test_sync_repairs_missed_webhooks(organization, stripe_standin, deliveries):
    sub = subscribe(organization, stripe_standin, STARTER)
    deliveries.all()
    webhooks_a_minute_ago()
    stripe_standin.update_subscription(sub["id"], price_id=PRO)
    deliveries.skip()  # every webhook of the change is missed

    out, err = StringIO(), StringIO()
    call_command("sync_subscriptions", stdout=out, stderr=err, no_color=True)

    assert err.getvalue() == ""
    assert Subscription.objects.get().price_id == PRO
    assert codes(organization) == {"PROJECTS": 1, "STORAGE_TB": 5, "EXTENDED_SUPPORT": 1}


def test_sync_clears_capabilities_stripe_no_longer_grants(organization, stripe_standin, deliveries):
    sub = subscribe(organization, stripe_standin, PRO)
    deliveries.all()
    webhooks_a_minute_ago()
    stripe_standin.update_subscription(sub["id"], status="canceled")
    deliveries.skip()
    call_command("sync_subscriptions", stdout=StringIO(), stderr=StringIO())
    assert CapabilitySet.objects.get(organization=organization).items == []
    assert organization_access(organization) is False


def test_an_older_summary_does_not_overwrite_a_newer_one(client, organization, stripe_standin, deliveries):
    sub = subscribe(organization, stripe_standin, STARTER)
    deliveries.all()
    stripe_standin.update_subscription(sub["id"], price_id=PRO)
    deliveries.all()
    assert codes(organization)["STORAGE_TB"] == 5
    stored_at = CapabilitySet.objects.get(organization=organization).state_at

    # A summary of the Starter days, carrying its features, delivered late.
    old = event(
        SUMMARY,
        {
            "object": "entitlements.active_entitlement_summary",
            "customer": organization.stripe_customer_id,
            "entitlements": {
                "object": "list",
                "data": [
                    {"id": "ent_old", "object": "entitlements.active_entitlement", "feature": STORAGE_1TB}
                ],
                "has_more": False,
            },
            "livemode": False,
        },
        created=int(stored_at.timestamp()) - 60,
    )
    before = len(stripe_standin.requests)
    response = deliver(client, old)

    assert outcome_of(response) == "unchanged"
    assert codes(organization) == {"PROJECTS": 1, "STORAGE_TB": 5, "EXTENDED_SUPPORT": 1}
    assert len(stripe_standin.requests) == before  # an older summary costs no Stripe call


def test_a_newer_summary_carrying_its_features_is_applied_as_sent(
    client, organization, stripe_standin, deliveries
):
    subscribe(organization, stripe_standin, PRO)
    deliveries.all()
    stored_at = CapabilitySet.objects.get(organization=organization).state_at
    summary = {
        "object": "entitlements.active_entitlement_summary",
        "customer": organization.stripe_customer_id,
        "entitlements": {
            "object": "list",
            "data": [{"id": "ent_1", "object": "entitlements.active_entitlement", "feature": STORAGE_1TB}],
            "has_more": False,
        },
        "livemode": False,
    }
    response = deliver(client, event(SUMMARY, summary, created=int(stored_at.timestamp()) + 60))
    assert outcome_of(response) == "processed"
    assert codes(organization) == {"STORAGE_TB": 1}


def test_a_summary_for_an_unknown_customer(client, stripe_standin):
    summary = {
        "object": "entitlements.active_entitlement_summary",
        "customer": "cus_nobody",
        "entitlements": {},
    }
    response = deliver(client, event(SUMMARY, summary))
    assert outcome_of(response) == "unknown_customer"
    assert stripe_standin.requests == []


def test_a_summary_without_customer_is_kept_as_failed(client):
    response = deliver(client, event(SUMMARY, {"object": "entitlements.active_entitlement_summary"}))
    assert response.status_code == 200, response.content
    assert outcome_of(response) == "failed"
    assert WebhookEvent.objects.get().last_error.startswith("WebhookPayloadInvalid")


def test_a_summary_while_stripe_is_down_is_retried(client, organization, stripe_standin, deliveries):
    subscribe(organization, stripe_standin, STARTER)
    summaries = [e for e in deliveries.new() if e["type"] == SUMMARY]
    stripe_standin.add_fault("500", method="GET", path_prefix="/v1/entitlements/active_entitlements")
    response = deliver(client, summaries[-1])
    assert response.status_code == 200, response.content  # answered at once...
    assert outcome_of(response) == "failed"  # ...kept to retry (given up at once by the tests' queue)
    assert not CapabilitySet.objects.exists()
    stripe_standin.clear_faults()
    assert outcome_of(deliver(client, summaries[-1])) == "processed"  # Stripe's retry
    assert codes(organization) == {}  # the subscription event itself was missed: no access yet


# --- the selectors' cost -----------------------------------------------------------------------


def test_each_selector_is_one_query(
    organization, owner, stripe_standin, deliveries, django_assert_num_queries
):
    subscribe(organization, stripe_standin, PRO)
    deliveries.all()
    with django_assert_num_queries(1):
        assert organization_access(organization) is True
    with django_assert_num_queries(1):
        assert organization_capability(organization, "STORAGE_TB") == 5
    with django_assert_num_queries(1):
        assert len(organization_capabilities(organization)) == 3
    with django_assert_num_queries(1):
        membership, access = user_billing_access(owner)
    assert access is not None and access.capability("EXTENDED_SUPPORT") == 1
    with django_assert_num_queries(0):
        assert membership is not None and membership.organization == organization
        assert membership_for_user(user=owner) is membership


def test_selector_current_subscription_agrees_with_subscription_current_get(
    organization, stripe_standin, deliveries
):
    # A canceled newer one and an older live one: the live one is current (access).
    customer_id = give_customer(organization, stripe_standin)
    stripe_standin.seed_demo_catalogue()
    now = int(time.time())
    stripe_standin.create_subscription(
        customer=customer_id, price_id=STARTER, status="past_due", created=now - 100
    )
    stripe_standin.create_subscription(
        customer=customer_id, price_id=PRO, status="canceled", created=now - 10
    )
    deliveries.all()
    current = subscription_current_get(organization=organization)
    assert current is not None and current.status == "past_due"
    assert organization_billing_access(organization).status == "past_due"
    assert codes(organization) == {"PROJECTS": 1, "STORAGE_TB": 1}


def test_user_outside_an_organization(make_user):
    user = make_user()
    assert user_billing_access(user) == (None, None)


# --- API: GET /subscriptions/my, and views gated by the permissions ----------------------------


def test_my_subscription_lists_capabilities(auth_client, member, organization, stripe_standin, deliveries):
    subscribe(organization, stripe_standin, PRO)
    deliveries.all()
    response = auth_client(member).get("/subscriptions/my")
    assert response.status_code == 200
    assert response.json()["data"]["capabilities"] == [
        {"code": "PROJECTS", "type": "BOOLEAN", "value": 1, "description": "Projects"},
        {"code": "STORAGE_TB", "type": "QUOTA", "value": 5, "description": "5 TB of storage"},
        {"code": "EXTENDED_SUPPORT", "type": "BOOLEAN", "value": 1, "description": "Extended support"},
    ]


def test_my_subscription_without_access_lists_none(
    auth_client, member, organization, stripe_standin, deliveries
):
    sub = subscribe(organization, stripe_standin, PRO)
    deliveries.all()
    stripe_standin.update_subscription(sub["id"], status="unpaid")
    deliveries.all(type="customer.subscription.updated")
    body = auth_client(member).get("/subscriptions/my").json()
    assert body["data"]["status"] == "unpaid"
    assert body["data"]["capabilities"] == []


def test_my_subscription_queries(
    auth_client, member, organization, stripe_standin, deliveries, django_assert_num_queries
):
    subscribe(organization, stripe_standin, PRO)
    deliveries.all()
    client = auth_client(member)
    with django_assert_num_queries(2):  # authentication; the subscription with its capabilities
        assert client.get("/subscriptions/my").status_code == 200


GATED = pytest.mark.urls("tests.billing.capability_views")


@GATED
def test_api_without_access_is_402(auth_client, member):
    body = assert_error(auth_client(member).get("/subscriptions/test-reports"), 402, "SUBSCRIPTION_REQUIRED")
    assert body == {
        "success": False,
        "error_code": "SUBSCRIPTION_REQUIRED",
        "message": "An active subscription is required",
    }
    assert_error(auth_client(member).get("/subscriptions/test-support"), 402, "SUBSCRIPTION_REQUIRED")


@GATED
def test_api_without_the_capability_is_403(auth_client, member, organization, stripe_standin, deliveries):
    subscribe(organization, stripe_standin, STARTER)
    deliveries.all()
    client = auth_client(member)
    assert client.get("/subscriptions/test-reports").json() == {"success": True, "status": "active"}
    body = assert_error(client.get("/subscriptions/test-support"), 403, "CAPABILITY_REQUIRED")
    assert body == {
        "success": False,
        "error_code": "CAPABILITY_REQUIRED",
        "message": "Your plan does not include this feature (EXTENDED_SUPPORT)",
    }


@GATED
def test_api_with_the_capability(
    auth_client, member, organization, stripe_standin, deliveries, django_assert_num_queries
):
    subscribe(organization, stripe_standin, PRO)
    deliveries.all()
    client = auth_client(member)
    before = len(stripe_standin.requests)
    with django_assert_num_queries(2):  # authentication (user, membership, organization), billing access
        response = client.get("/subscriptions/test-support")
    assert response.json() == {"success": True, "support": 1}
    with django_assert_num_queries(2):
        assert client.get("/subscriptions/test-reports").status_code == 200
    assert len(stripe_standin.requests) == before  # a gated request never asks Stripe


@GATED
def test_api_gates_after_the_caller_errors(auth_client, api_client, make_user, make_organization):
    assert_error(api_client.get("/subscriptions/test-support"), 401, "UNAUTHORIZED")
    assert_error(auth_client(make_user()).get("/subscriptions/test-support"), 400, "NO_ORGANIZATION")
    inactive = make_user(role="owner", organization=make_organization(is_active=False))
    assert_error(auth_client(inactive).get("/subscriptions/test-reports"), 404, "ORG_NOT_FOUND")


# --- which plan unlocks it -------------------------------------------------------------------


def test_plan_names_with_capability_reads_the_catalogue_once(stripe_standin):
    stripe_standin.seed_demo_catalogue()
    assert capabilities.plan_names_with_capability("EXTENDED_SUPPORT") == ["Pro"]
    assert capabilities.plan_names_with_capability("STORAGE_TB") == ["Starter", "Pro"]
    assert capabilities.plan_names_with_capability(None) == ["Free", "Starter", "Pro"]
    assert capabilities.capability_description("EXTENDED_SUPPORT") == "Extended support"
    calls = len(stripe_standin.requests)
    assert capabilities.plan_names_with_capability("PROJECTS") == ["Free", "Starter", "Pro"]
    assert len(stripe_standin.requests) == calls  # cached


def test_plan_names_unknown_while_stripe_is_down(stripe_standin):
    stripe_standin.add_fault("500", method="GET", path_prefix="/v1/products")
    assert capabilities.plan_names_with_capability("EXTENDED_SUPPORT") == []
    assert capabilities.plan_names_with_capability("EXTENDED_SUPPORT", fetch=False) == []


def test_plan_names_without_fetch_never_call_stripe(stripe_standin):
    stripe_standin.seed_demo_catalogue()
    assert capabilities.plan_names_with_capability("EXTENDED_SUPPORT", fetch=False) == []
    assert stripe_standin.requests == []


def test_the_plan_list_and_the_gates_read_a_feature_alike(
    auth_client, member, organization, stripe_standin, deliveries
):
    """One mapping: a feature's code and type are the same in `GET /subscriptions` and in what
    the organization is granted (`/subscriptions/my`), whatever case its metadata uses."""
    stripe_standin.create_product("Plain", id="prod_plain")
    stripe_standin.create_price(product="prod_plain", unit_amount=500, interval="month", id="price_plain")
    quota = stripe_standin.create_feature("Seats", "seats-5", metadata={"type": "quota", "value": " 5"})
    nameless = stripe_standin.create_feature("Audit log", "")
    stripe_standin.attach_feature("prod_plain", quota["id"])
    stripe_standin.attach_feature("prod_plain", nameless["id"])
    offered = {
        c["code"]: (c["type"], c["value"])
        for c in auth_client(member).get("/subscriptions").json()["data"][0]["capabilities"]
    }
    customer_id = give_customer(organization, stripe_standin)
    stripe_standin.create_subscription(customer=customer_id, price_id="price_plain")
    deliveries.all()
    granted = {
        c["code"]: (c["type"], c["value"])
        for c in auth_client(member).get("/subscriptions/my").json()["data"]["capabilities"]
    }
    assert offered == granted == {"seats-5": ("QUOTA", 5), nameless["id"]: ("BOOLEAN", 1)}
