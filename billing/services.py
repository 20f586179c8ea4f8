"""Billing services: the one code path behind the API and the billing page.

Be extremely careful changing `customer_ensure`: it is what keeps an organization at exactly
one Stripe customer when first requests race (row lock + deterministic idempotency key).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from accounts.models import User
from billing import ratelimit, stripe_gateway
from billing.errors import (
    BillingError,
    BillingPermissionDenied,
    CustomerMissing,
    NoOrganization,
    OrganizationNotFound,
    RateLimited,
)
from billing.models import PortalSession
from billing.selectors import membership_for_user
from organizations.models import Membership, Organization

logger = logging.getLogger(__name__)


def billing_membership_get(*, user: User) -> Membership:
    """The membership through which `user` may manage billing, or the billing error why not."""
    membership = membership_for_user(user=user)
    if membership is None:
        raise NoOrganization()
    if not membership.organization.is_active:
        raise OrganizationNotFound()
    if not membership.can_manage_billing:
        raise BillingPermissionDenied()
    return membership


def _customer_email(organization: Organization) -> str:
    if organization.billing_email:
        return organization.billing_email
    owner = (
        organization.memberships.filter(role=Membership.Role.OWNER, user__is_active=True)
        .select_related("user")
        .order_by("created_at")
        .first()
    )
    return owner.user.email if owner else ""


def customer_ensure(*, organization: Organization, replacing: str | None = None) -> str:
    """The organization's Stripe customer id, creating the customer on first use.

    Concurrent first requests serialize on the organization's row: the first creates the
    customer, the others find its id once they get the lock. The idempotency key is derived
    from the row (and from the customer being replaced), so a request retried after a crash
    between Stripe's answer and our commit gets the same customer back, not a second one.
    `replacing` is the id Stripe said no longer exists: it is replaced once, however many
    requests noticed it.
    """
    with transaction.atomic():
        locked = Organization.objects.select_for_update().get(pk=organization.pk)
        current = locked.stripe_customer_id
        if current and current != replacing:
            organization.stripe_customer_id = current
            return current
        key = f"org-{locked.pk}-customer" + (f"-after-{replacing}" if replacing else "")
        customer_id = stripe_gateway.customer_create(
            name=locked.name,
            email=_customer_email(locked),
            organization_id=locked.pk,
            idempotency_key=key,
        )
        locked.stripe_customer_id = customer_id
        locked.save(update_fields=["stripe_customer_id"])
    organization.stripe_customer_id = customer_id
    logger.info(
        "billing.customer_created",
        extra={"organization_id": organization.pk, "customer_id": customer_id, "replacing": replacing},
    )
    return customer_id


def portal_session_create(*, user: User, source: str) -> str:
    """Create a Stripe billing portal session for the user's organization; return its URL.

    Checks run in the contract's order (organization, role, rate, Stripe), so a refused
    request does not count toward the rate. The URL is returned, never stored or logged.
    """
    membership = billing_membership_get(user=user)
    organization = membership.organization
    retry_after = ratelimit.hit(key=f"portal:user:{user.pk}", rate=settings.BILLING_PORTAL_RATE)
    if retry_after is not None:
        logger.info("billing.portal_rate_limited", extra={"user_id": user.pk, "source": source})
        raise RateLimited(retry_after=retry_after)

    log_fields = {"user_id": user.pk, "organization_id": organization.pk, "source": source}
    try:
        customer_id = organization.stripe_customer_id or customer_ensure(organization=organization)
        try:
            session = _portal_session_for(customer_id)
        except CustomerMissing:
            logger.warning("billing.customer_missing", extra={**log_fields, "customer_id": customer_id})
            customer_id = customer_ensure(organization=organization, replacing=customer_id)
            session = _portal_session_for(customer_id)
    except CustomerMissing as e:  # the fresh customer is gone too: nothing sensible to retry
        logger.error("billing.portal_session_failed", extra={**log_fields, "error_code": e.error_code})
        raise BillingError() from e
    except BillingError as e:
        logger.warning("billing.portal_session_failed", extra={**log_fields, "error_code": e.error_code})
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
