"""Billing services: the one code path behind the API and the billing page.

Be extremely careful changing `customer_ensure`: it is what keeps an organization at exactly
one Stripe customer when first requests race (row lock + deterministic idempotency key).
Be as careful with `subscription_state_apply`: webhooks, the sync command and the refresh
after the portal all write subscription state through it, and its ordering rule is what
keeps a late or replayed state from overwriting a newer one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from billing import ratelimit, stripe_gateway
from billing.errors import (
    BillingError,
    BillingPermissionDenied,
    CustomerMissing,
    NoOrganization,
    OrganizationNotFound,
    RateLimited,
    SubscriptionMissing,
)
from billing.models import PortalSession, Subscription
from billing.selectors import membership_for_user
from organizations.models import Membership, Organization

logger = logging.getLogger(__name__)


def organization_membership_get(*, user: User) -> Membership:
    """The user's membership of an active organization, or the billing error why not."""
    membership = membership_for_user(user=user)
    if membership is None:
        raise NoOrganization()
    if not membership.organization.is_active:
        raise OrganizationNotFound()
    return membership


def billing_membership_get(*, user: User) -> Membership:
    """The membership through which `user` may manage billing, or the billing error why not."""
    membership = organization_membership_get(user=user)
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


# --- Subscription state -------------------------------------------------------------------
#
# Every write of subscription state carries the Stripe time of that state (`state_at`): an
# event's `created`, or for a fetch the moment the request left (minus a margin, below).
# The ordering rule (`_verdict`) compares it with the row's under a row lock:
#   - a canceled/incomplete_expired subscription never comes back (Stripe never revives
#     one), so a non-ended state never overwrites an ended one;
#   - a newer state is applied, an older one ignored;
#   - a tie (Stripe's times are whole seconds, and e.g. `created` and `updated` often share
#     one) is settled by Stripe itself: an ended state is applied as is (it is final),
#     otherwise the webhook re-fetches the subscription and stores what Stripe says now;
#     a fetch applies (it is Stripe's state of that moment).

# A fetch reflects Stripe at some moment after the request left. Its state time is taken a
# margin *before* that, on our clock: if our clock runs ahead of Stripe's, a state time that
# is too late would make the event of a change that happened after the fetch look older and
# be ignored for good; a state time that is too early only lets an event already reflected
# in the fetch be applied again, and the events after it then put the row right.
FETCH_STATE_MARGIN = timedelta(seconds=2)


class _Verdict(StrEnum):
    APPLY = "apply"
    STALE = "stale"
    REFETCH = "refetch"


def _fetch_state_at(started: datetime) -> datetime:
    return started.replace(microsecond=0) - FETCH_STATE_MARGIN


def _verdict(row: Subscription, *, status: str, state_at: datetime, on_tie: _Verdict) -> _Verdict:
    incoming_ended = status in Subscription.ENDED_STATUSES
    if row.status in Subscription.ENDED_STATUSES and not incoming_ended:
        return _Verdict.STALE
    if state_at > row.state_at:
        return _Verdict.APPLY
    if state_at < row.state_at:
        return _Verdict.STALE
    return _Verdict.APPLY if incoming_ended else on_tie


def _subscription_fields(data: stripe_gateway.StripeSubscription) -> dict[str, Any]:
    return {
        "status": data.status,
        "price_id": data.price_id,
        "product": data.product,
        "quantity": data.quantity,
        "current_period_end": data.current_period_end,
        "cancel_at_period_end": data.cancel_at_period_end,
        "canceled_at": data.canceled_at,
        "trial_end": data.trial_end,
        "stripe_created": data.created,
    }


def subscription_state_apply(
    *,
    organization: Organization | None,
    data: stripe_gateway.StripeSubscription,
    state_at: datetime,
    refetch_on_tie: bool,
) -> bool:
    """Store `data` as the subscription's state at `state_at`, unless the row holds newer state.

    An existing row keeps its organization (events keep reaching it after the organization's
    customer id was cleared); a new one is created for `organization`, or not at all when
    that is None (a customer we do not know). Returns whether anything was written.
    Raises billing errors only when `refetch_on_tie` and Stripe cannot be reached.
    """
    with transaction.atomic():
        row = Subscription.objects.select_for_update().filter(stripe_subscription_id=data.id).first()
        if row is None:
            if organization is None:
                return False
            # A new row only while the organization still holds this customer, checked under
            # the organization's row lock: `customer_forget` takes it too, so a concurrent
            # deletion either ran first (no row: the customer is no longer ours) or waits for
            # this row and then cancels it. Unlocked, the deletion could commit in between and
            # miss the uncommitted row, leaving a live subscription without a customer.
            holds_customer = (
                Organization.objects.select_for_update()
                .filter(pk=organization.pk, stripe_customer_id=data.customer_id)
                .values_list("pk", flat=True)
                .first()
            )
            if holds_customer is None:
                return False
            try:
                with transaction.atomic():
                    Subscription.objects.create(
                        organization=organization,
                        stripe_subscription_id=data.id,
                        state_at=state_at,
                        synced_at=timezone.now(),
                        **_subscription_fields(data),
                    )
            except IntegrityError:  # created concurrently: it is ordered against that one
                row = Subscription.objects.select_for_update().get(stripe_subscription_id=data.id)
            else:
                logger.info(
                    "billing.subscription_created",
                    extra={
                        "organization_id": organization.pk,
                        "subscription_id": data.id,
                        "status": data.status,
                    },
                )
                return True

        on_tie = _Verdict.REFETCH if refetch_on_tie else _Verdict.APPLY
        verdict = _verdict(row, status=data.status, state_at=state_at, on_tie=on_tie)
        if verdict is _Verdict.REFETCH:
            # Holding the row lock across a Stripe call: rare (ties only), and it is what
            # stops a concurrent older write from slipping in between.
            started = timezone.now()
            try:
                data = stripe_gateway.subscription_retrieve(subscription_id=data.id)
                state_at = max(state_at, _fetch_state_at(started))
            except SubscriptionMissing:
                pass  # gone from Stripe: the event's own state is the best there is
            verdict = _verdict(row, status=data.status, state_at=state_at, on_tie=_Verdict.APPLY)
        log_fields = {
            "organization_id": row.organization_id,
            "subscription_id": data.id,
            "status": data.status,
            "state_at": state_at.isoformat(),
            "row_state_at": row.state_at.isoformat(),
        }
        if verdict is _Verdict.STALE:
            logger.info("billing.subscription_stale_state_ignored", extra=log_fields)
            return False
        for name, value in _subscription_fields(data).items():
            setattr(row, name, value)
        row.state_at = state_at
        row.synced_at = timezone.now()
        row.save()
    logger.info("billing.subscription_updated", extra=log_fields)
    return True


def customer_forget(*, customer_id: str, at: datetime) -> Organization | None:
    """Stripe deleted the customer: clear it from its organization, and end its subscriptions.

    Stripe cancels a deleted customer's subscriptions at once and sends their own events,
    which still reach the rows (they are found by subscription id); marking them canceled
    here as well means a lost event cannot leave a subscription looking active with no
    customer left to sync it from. Returns the organization, or None for a customer we do
    not know (or no longer hold: a newer customer replaced it).
    """
    with transaction.atomic():
        organization = Organization.objects.select_for_update().filter(stripe_customer_id=customer_id).first()
        if organization is None:
            return None
        organization.stripe_customer_id = None
        organization.save(update_fields=["stripe_customer_id"])
        live = (
            Subscription.objects.select_for_update()
            .filter(organization=organization, state_at__lte=at)
            .exclude(status__in=Subscription.ENDED_STATUSES)
        )
        now = timezone.now()
        for row in live:
            row.status = Subscription.Status.CANCELED
            row.canceled_at = row.canceled_at or at
            row.state_at = at
            row.synced_at = now
            row.save()
    logger.warning(
        "billing.customer_forgotten",
        extra={"organization_id": organization.pk, "customer_id": customer_id},
    )
    return organization


@dataclass(frozen=True)
class SubscriptionSyncResult:
    fetched: int  # subscriptions Stripe returned
    written: int  # of which were newer than what we had (or new)
    customer_cleared: bool


def subscriptions_sync(
    *, organization: Organization, check_customer: bool = True, quick: bool = False
) -> SubscriptionSyncResult:
    """Pull the organization's subscriptions from Stripe and store them (missed webhooks).

    A fetch is Stripe's state of the moment, so it wins over anything older, but not over a
    webhook state newer than the fetch itself (see `FETCH_STATE_MARGIN`): running it while
    events arrive, or twice, never rolls a row back. A customer Stripe says is gone is
    cleared (`customer_forget`). With `check_customer`, that costs a second call (Stripe
    lists a deleted customer's subscriptions without complaint). Raises billing errors.
    """
    customer_id = organization.stripe_customer_id
    if not customer_id:
        return SubscriptionSyncResult(fetched=0, written=0, customer_cleared=False)
    started = timezone.now()
    state_at = _fetch_state_at(started)
    try:
        fetched = stripe_gateway.subscription_list(customer_id=customer_id, quick=quick)
    except CustomerMissing:
        fetched, gone = [], True
    else:
        gone = check_customer and stripe_gateway.customer_is_gone(customer_id=customer_id)
    written = 0
    for data in fetched:
        if subscription_state_apply(
            organization=organization, data=data, state_at=state_at, refetch_on_tie=False
        ):
            written += 1
    if gone:
        customer_forget(customer_id=customer_id, at=state_at)
        organization.stripe_customer_id = None
    # The portal sessions this fetch covers no longer call for a refresh.
    PortalSession.objects.filter(
        organization=organization, subscriptions_synced_at__isnull=True, created_at__lte=started
    ).update(subscriptions_synced_at=timezone.now())
    logger.info(
        "billing.subscriptions_synced",
        extra={
            "organization_id": organization.pk,
            "fetched": len(fetched),
            "written": written,
            "customer_cleared": gone,
        },
    )
    return SubscriptionSyncResult(fetched=len(fetched), written=written, customer_cleared=gone)


def subscription_refresh_after_portal(*, organization: Organization) -> None:
    """Re-fetch the organization's subscriptions once after it used the billing portal.

    The customer may just have changed plan or canceled there; the page is then right even
    before the webhook arrives. One query when nothing is due. Stripe failures are logged
    and swallowed: the page still renders, with the state last synced, and the next view
    tries again.
    """
    if not organization.stripe_customer_id:
        return
    if not PortalSession.objects.filter(
        organization=organization, subscriptions_synced_at__isnull=True
    ).exists():
        return
    try:
        subscriptions_sync(organization=organization, check_customer=False, quick=True)
    except BillingError as e:
        logger.warning(
            "billing.subscription_refresh_failed",
            extra={"organization_id": organization.pk, "error_code": e.error_code},
        )
