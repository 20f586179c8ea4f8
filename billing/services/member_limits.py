"""Plans that cap members: a plan's `MEMBERS` capability (type `QUOTA`) bounds the organization's
members plus its pending invitations.

An organization with access (its current subscription in `BILLING_ACCESS_STATUSES`) is capped
by its plan's capability (none: no cap); one without access by the first plan on offer that
has a cap, if any. Inviting past the cap is refused (`MEMBER_LIMIT_REACHED`, naming the first
plan that allows one more), and so is buying or changing to a plan whose cap is below today's
members (`TOO_MANY_MEMBERS`), before any Stripe write.
"""

from __future__ import annotations

import logging

from billing import stripe_gateway
from billing.capabilities import organization_billing_access
from billing.errors import BillingError, TooManyMembers
from billing.features import MEMBERS, QUOTA, member_cap
from billing.services.plans import Plan, plans_cached, plans_list
from organizations.errors import MemberLimitReached
from organizations.models import Organization
from organizations.selectors import member_count

logger = logging.getLogger(__name__)


# An invitation waits at most this long for the plan list (when no copy is cached).
_PLANS_DEADLINE_SECONDS = 3.0


def plans_warm(organization_id: int) -> None:
    """Before an invitation's checks, outside any transaction: make sure the plan list is in
    the cache (the checks run under the organization's lock and never call Stripe). Stripe
    being down does not hold the invitation up: it is then checked against what is known."""
    if plans_cached() is not None:
        return
    try:
        with stripe_gateway.request_deadline(_PLANS_DEADLINE_SECONDS):
            plans_list()
    except BillingError as e:
        logger.warning(
            "billing.member_limit_plans_unavailable",
            extra={"organization_id": organization_id, "error_code": e.error_code},
        )


def _plans() -> list[Plan]:
    """The plans on offer as last fetched (no Stripe call); none when never fetched."""
    return plans_cached() or []


def organization_member_cap(organization: Organization, *, plans: list[Plan] | None = None) -> int | None:
    """The organization's member cap, or None for no cap."""
    access = organization_billing_access(organization)
    if access.has_access:
        caps = [c.value for c in access.capabilities if c.code == MEMBERS and c.type == QUOTA]
        return max(caps) if caps else None
    for plan in _plans() if plans is None else plans:
        cap = member_cap(plan["capabilities"])
        if cap is not None:
            return cap
    return None


def member_limit_check(organization: Organization, seats: int) -> None:
    """Refuse an invitation that would bring members plus pending invitations to `seats` past
    the organization's cap. Registered with the organizations app (`organizations.hooks`)."""
    plans = _plans()
    cap = organization_member_cap(organization, plans=plans)
    if cap is None or seats <= cap:
        return
    allowing = next(
        (p["name"] for p in plans if (c := member_cap(p["capabilities"])) is None or c >= seats), None
    )
    logger.info(
        "billing.member_limit_reached",
        extra={"organization_id": organization.pk, "cap": cap, "seats": seats, "plan": allowing or ""},
    )
    message = f"Your plan allows {cap} members (pending invitations included)."
    if allowing:
        message += f" The {allowing} plan allows more."
    raise MemberLimitReached(message)


def plan_members_check(*, organization: Organization, plan: Plan) -> None:
    """Refuse a plan whose cap is below the organization's members (pending invitations not
    counted): before any Stripe write."""
    cap = member_cap(plan["capabilities"])
    if cap is None:
        return
    members = member_count(organization_id=organization.pk)
    if members > cap:
        raise TooManyMembers(
            f"The {plan['name']} plan allows {cap} members; the organization has {members}. "
            "Remove members first, or choose a larger plan."
        )


def seats_changed_hook(organization_id: int) -> None:
    from billing.services.seats import seats_changed

    seats_changed(organization_id=organization_id)
