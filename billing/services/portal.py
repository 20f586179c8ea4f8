"""Billing portal sessions: the one code path behind `POST /subscriptions/portal` and the page's button."""

from __future__ import annotations

import logging

from django.conf import settings

from accounts.models import User
from billing import stripe_gateway
from billing.errors import BillingError, BillingUnavailable, CustomerMissing, RateLimited
from billing.models import PortalSession
from billing.services.access import billing_membership_get
from billing.services.customers import customer_ensure, customer_replacement_check
from core import ratelimit

logger = logging.getLogger(__name__)


def portal_session_create(*, user: User, source: str) -> str:
    """Create a Stripe billing portal session for the user's organization; return its URL.

    Checks run in the documented order (organization, role, rate, Stripe), so a refused
    request does not count toward the rate. The URL is returned, never stored or logged.
    """
    membership = billing_membership_get(user=user)
    organization = membership.organization
    rate_key = f"portal:user:{user.pk}"
    retry_after, stamp = ratelimit.hit_stamped(key=rate_key, rate=settings.BILLING_PORTAL_RATE)
    if retry_after is not None or stamp is None:
        logger.info("billing.portal_rate_limited", extra={"user_id": user.pk, "source": source})
        raise RateLimited(retry_after=retry_after)

    log_fields = {"user_id": user.pk, "organization_id": organization.pk, "source": source}
    try:
        with stripe_gateway.request_deadline():  # all of this request's Stripe work
            customer_id = organization.stripe_customer_id or customer_ensure(organization=organization)
            try:
                session = _portal_session_for(customer_id)
            except CustomerMissing:
                logger.warning("billing.customer_missing", extra={**log_fields, "customer_id": customer_id})
                customer_replacement_check(organization=organization)
                customer_id = customer_ensure(organization=organization, replacing=customer_id)
                session = _portal_session_for(customer_id)
    except CustomerMissing as e:  # the fresh customer is gone too: nothing sensible to retry
        logger.error("billing.portal_session_failed", extra={**log_fields, "error_code": e.error_code})
        raise BillingError() from e
    except BillingError as e:
        logger.warning("billing.portal_session_failed", extra={**log_fields, "error_code": e.error_code})
        if isinstance(e, BillingUnavailable):
            # Stripe's failure, not the caller's use: it does not count toward the rate, or a
            # client that waited out an outage as told would find itself limited after it.
            ratelimit.forget(key=rate_key, stamp=stamp, rate=settings.BILLING_PORTAL_RATE)
        raise

    PortalSession.objects.create(
        organization=organization,
        user=user,
        stripe_session_id=session.id,
        stripe_customer_id=customer_id,
        source=source,
    )
    logger.info("billing.portal_session_created", extra={**log_fields, "session_id": session.id})
    return session.url


def _portal_session_for(customer_id: str) -> stripe_gateway.PortalSession:
    return stripe_gateway.portal_session_create(
        customer_id=customer_id,
        return_url=settings.BILLING_PORTAL_RETURN_URL,
        configuration=settings.STRIPE_PORTAL_CONFIGURATION,
    )
