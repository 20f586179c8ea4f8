"""Billing portal sessions: the one code path behind `POST /subscriptions/portal` and the page's button."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from accounts.models import User
from billing import stripe_gateway
from billing.errors import BillingError, CustomerMissing
from billing.models import PortalSession
from billing.services.access import billing_membership_get, billing_rate_counted
from billing.services.customers import customer_ensure, customer_replacement_check
from core.queries import CompiledInsert

logger = logging.getLogger(__name__)

# The audit row of every session handed out: `PortalSession.objects.create`, compiled once.
_AUDIT_INSERT = CompiledInsert(PortalSession)


def portal_session_create(*, user: User, source: str, flow: str | None = None) -> str:
    """Create a Stripe billing portal session for the user's organization; return its URL.

    `flow`: None for the portal's home, or `PAYMENT_METHOD_UPDATE` to open it on "update
    payment method". Checks run in the documented order (organization, role, rate, Stripe),
    so a refused request does not count toward the rate. The URL is returned, never stored or
    logged.
    """
    membership = billing_membership_get(user=user)
    organization = membership.organization
    log_fields = {"user_id": user.pk, "organization_id": organization.pk, "source": source, "flow": flow}
    flow_data = _flow_data(flow)
    try:
        with billing_rate_counted(user=user, action="portal"), stripe_gateway.request_deadline():
            customer_id = organization.stripe_customer_id or customer_ensure(organization=organization)
            try:
                session = _portal_session_for(customer_id, flow_data)
            except CustomerMissing:
                logger.warning("billing.customer_missing", extra={**log_fields, "customer_id": customer_id})
                customer_replacement_check(organization=organization)
                customer_id = customer_ensure(organization=organization, replacing=customer_id)
                session = _portal_session_for(customer_id, flow_data)
    except CustomerMissing as e:  # the fresh customer is gone too: nothing sensible to retry
        logger.error("billing.portal_session_failed", extra={**log_fields, "error_code": e.error_code})
        raise BillingError() from e
    except BillingError as e:
        logger.warning("billing.portal_session_failed", extra={**log_fields, "error_code": e.error_code})
        raise

    _AUDIT_INSERT.insert(
        organization=organization,
        user=user,
        stripe_session_id=session.id,
        stripe_customer_id=customer_id,
        source=source,
    )
    logger.info("billing.portal_session_created", extra={**log_fields, "session_id": session.id})
    return session.url


PAYMENT_METHOD_UPDATE = "payment_method_update"
# What the page says on return from each portal flow: `?portal=<flag>` on the return URL.
RETURN_FLAGS = {PAYMENT_METHOD_UPDATE: "card", "subscription_update_confirm": "plan"}


def portal_flow_return_url(flow: str) -> str:
    """Where Stripe sends the customer once a portal flow is done: the return URL, flagged
    with the flow, so the page can say what happened."""
    base = settings.BILLING_PORTAL_RETURN_URL
    return f"{base}{'&' if '?' in base else '?'}portal={RETURN_FLAGS[flow]}"


def _flow_data(flow: str | None) -> dict[str, Any] | None:
    if flow is None:
        return None
    # After the customer saves a card, Stripe sends them straight back to the app.
    return {
        "type": flow,
        "after_completion": {
            "type": "redirect",
            "redirect": {"return_url": portal_flow_return_url(flow)},
        },
    }


def _portal_session_for(
    customer_id: str, flow_data: dict[str, Any] | None
) -> stripe_gateway.StripePortalSession:
    return stripe_gateway.portal_session_create(
        customer_id=customer_id,
        return_url=settings.BILLING_PORTAL_RETURN_URL,
        configuration=settings.STRIPE_PORTAL_CONFIGURATION,
        flow_data=flow_data,
    )
