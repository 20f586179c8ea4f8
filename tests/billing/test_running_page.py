"""The billing page of a subscribed organization: cancel (with a confirmation step), resume, the
payment history, and the past-due banner whose one button opens the portal on the card."""

from __future__ import annotations

import pytest
from django.test import Client
from pytest_django.asserts import assertContains, assertNotContains

from billing.models import Subscription
from tests.billing.stripe_events import deliver, event, subscribe_at_stripe

pytestmark = pytest.mark.django_db

PAGE = "/billing/"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def subscribed(client, organization, stripe_standin) -> dict:
    return subscribe_at_stripe(client, organization, stripe_standin)


def test_the_owner_can_cancel_after_a_confirmation_step(owner, subscribed):
    browser = logged_in(owner)
    page = browser.get(PAGE)

    assertContains(page, '<summary class="button">Cancel subscription</summary>', html=True)
    assertContains(page, 'id="confirm-cancel"')  # the form is behind the confirmation step
    assertNotContains(page, 'id="resume-subscription"')

    response = browser.post("/billing/cancel/")

    assert response.status_code == 303 and response["Location"] == PAGE
    row = Subscription.objects.get()
    assert row.cancel_at_period_end is True
    after = browser.get(PAGE)
    end = row.current_period_end
    assert end is not None
    ends = f"{end:%B} {end.day}, {end.year}"
    assertContains(after, f"Your subscription will end on {ends}.")
    assertContains(after, f"Cancels on {ends}")
    assertContains(after, 'id="resume-subscription"')


def test_a_scheduled_cancellation_can_be_undone(owner, subscribed, stripe_standin):
    browser = logged_in(owner)
    browser.post("/billing/cancel/")

    response = browser.post("/billing/resume/")

    assert response.status_code == 303
    assert Subscription.objects.get().cancel_at_period_end is False
    writes = [r.params for r in stripe_standin.requests_to("POST", f"/v1/subscriptions/{subscribed['id']}")]
    assert writes == [{"cancel_at_period_end": "true"}, {"cancel_at_period_end": "false"}]
    assertContains(browser.get(PAGE), "Your subscription will renew as usual.")


def test_the_payment_history_lists_each_invoice_with_its_links(owner, subscribed, stripe_standin):
    stripe_standin.simulate_renewal(subscribed["id"], succeed=False)
    (invoice,) = stripe_standin.invoices

    page = logged_in(owner).get(PAGE)

    assertContains(page, 'id="payments"')
    assertContains(
        page, f'<a href="{invoice["hosted_invoice_url"]}" rel="noopener noreferrer">View</a>', html=True
    )
    assertContains(page, '<span class="status status-pending">Due</span>', html=True)


def test_a_past_due_subscription_puts_one_button_at_the_top(
    owner, subscribed, stripe_standin, client, settings
):
    stripe_standin.simulate_renewal(subscribed["id"], succeed=False)
    (invoice,) = stripe_standin.invoices
    assert deliver(client, event("invoice.payment_failed", invoice)).status_code == 200
    assert Subscription.objects.get().status == "past_due"

    page = logged_in(owner).get(PAGE)

    assertContains(page, 'id="past-due-banner"')
    assertContains(page, 'id="update-payment-method"')
    response = logged_in(owner).post("/billing/payment-method/")
    assert response.status_code == 303
    assert "no-store" in response["Cache-Control"]
    (session,) = stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")
    assert session.params["flow_data"]["type"] == "payment_method_update"
    assert response["Location"].startswith(stripe_standin.url)


def test_a_member_sees_the_state_but_no_controls_and_why_no_history(member, subscribed, stripe_standin):
    page = logged_in(member).get(PAGE)

    assertContains(page, 'id="status"')
    assertNotContains(page, 'id="cancel-subscription"')
    assertNotContains(page, 'id="payments"')
    assertContains(
        page, "Payment history is shown to your organization's owner, admins and billing managers."
    )
    assert stripe_standin.requests_to("GET", "/v1/invoices") == []


def test_a_member_sees_the_past_due_banner_without_its_button(member, subscribed, stripe_standin, client):
    stripe_standin.simulate_renewal(subscribed["id"], succeed=False)
    (invoice,) = stripe_standin.invoices
    deliver(client, event("invoice.payment_failed", invoice))

    page = logged_in(member).get(PAGE)

    assertContains(page, 'id="past-due-banner"')
    assertNotContains(page, 'id="update-payment-method"')


def test_the_page_still_renders_when_the_history_cannot_be_read(owner, subscribed, stripe_standin):
    stripe_standin.add_fault("500", method="GET", path_prefix="/v1/invoices")

    page = logged_in(owner).get(PAGE)

    assert page.status_code == 200
    assertContains(page, 'id="payments-unavailable"')
    assert len(stripe_standin.requests_to("GET", "/v1/invoices")) == 1  # one short try, no retries


@pytest.mark.parametrize("path", ["/billing/cancel/", "/billing/resume/", "/billing/payment-method/"])
def test_the_buttons_urls_only_take_post(owner, subscribed, path):
    response = logged_in(owner).get(path)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
