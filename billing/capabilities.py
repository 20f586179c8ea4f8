"""Capabilities: what an organization's plan lets it do, answered locally (never by Stripe).

An organization has access while its current subscription (as `selectors.subscription_current_get`
picks it) has a status in `BILLING_ACCESS_STATUSES`; its capabilities are then the features of
its plan, as last synced from Stripe's active entitlements (`services.capabilities`). Without
access it has none, whatever was synced.

Each selector here is one query (none when the caller already holds the answer):

    organization_access(organization) -> bool
    organization_capability(organization, "STORAGE_TB") -> 5 | None
    organization_capabilities(organization) -> [Capability, ...]
    organization_billing_access(organization) -> BillingAccess (access and capabilities at once)
    user_billing_access(user) -> (membership, BillingAccess) (for pages: membership included)
    subscription_current_with_capabilities(organization) -> (subscription, [Capability, ...])

`billing.permissions` (API) and `billing.decorators` (pages) gate views on them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Case, JSONField, OuterRef, Q, QuerySet, Subquery, Value, When

from accounts.models import User
from billing import stripe_gateway
from billing.errors import BillingError
from billing.features import BOOLEAN, capability_from_feature
from billing.models import CapabilitySet, Subscription
from billing.services.plans import plans_cached, plans_list
from core.queries import CompiledQuery
from organizations.models import Membership, Organization
from organizations.selectors import membership_for_user, memberships_remember, user_memberships_queryset

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Capability:
    code: str
    type: str
    value: int
    description: str

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "type": self.type, "value": self.value, "description": self.description}


@dataclass(frozen=True)
class BillingAccess:
    """An organization's standing: its current subscription's status, and what it may use."""

    status: str | None
    has_access: bool
    capabilities: tuple[Capability, ...]  # empty without access

    def capability(self, code: str) -> int | None:
        """The capability's value (1 for a boolean), or None when the plan lacks it (or no access)."""
        for capability in self.capabilities:
            if capability.code == code:
                return capability.value
        return None


def access_statuses() -> frozenset[str]:
    return frozenset(settings.BILLING_ACCESS_STATUSES)


def capabilities_from_items(items: Iterable[Mapping[str, Any]]) -> tuple[Capability, ...]:
    """One capability per code, in the stored order; where several features share a code (a quota
    granted twice), the highest value wins."""
    merged: dict[str, Capability] = {}
    for item in items:
        try:
            capability = Capability(
                code=str(item["code"]),
                type=str(item.get("type") or BOOLEAN),
                value=int(item.get("value", 1)),
                description=str(item.get("description") or ""),
            )
        except (KeyError, TypeError, ValueError):
            continue
        known = merged.get(capability.code)
        if known is None or capability.value > known.value:
            merged[capability.code] = capability
    return tuple(merged.values())


def billing_access_from(status: str | None, items: Any) -> BillingAccess:
    has_access = status is not None and status in access_statuses()
    capabilities = capabilities_from_items(items or []) if has_access else ()
    return BillingAccess(status=status, has_access=has_access, capabilities=capabilities)


# The current subscription's status, ordered exactly as `selectors.subscription_current_get`
# orders (the newest not ended, else the newest), as a subquery so that access and
# capabilities come in one query with what the caller needs anyway.
def _current_first(subscriptions: QuerySet[Subscription]) -> QuerySet[Subscription]:
    ended = Q(status__in=Subscription.ENDED_STATUSES)
    return subscriptions.annotate(_ended=Case(When(ended, then=Value(1)), default=Value(0))).order_by(
        "_ended", "-stripe_created", "-pk"
    )


def _current_status(organization_ref: Any) -> Subquery:
    return Subquery(
        _current_first(Subscription.objects.filter(organization=organization_ref)).values("status")[:1]
    )


def _items(organization_ref: Any) -> Subquery:
    return Subquery(
        CapabilitySet.objects.filter(organization=organization_ref).values("items")[:1],
        output_field=JSONField(),
    )


# `GET /subscriptions/my` on every page load: compiled once (core.queries).
_CURRENT_WITH_ITEMS: CompiledQuery[Subscription] = CompiledQuery(
    lambda organization_id: _current_first(
        Subscription.objects.filter(organization_id=organization_id)
    ).annotate(_items=_items(OuterRef("organization_id")))[:1]
)


def organization_billing_access(organization: Organization) -> BillingAccess:
    """Access and capabilities of the organization. One query."""
    row = (
        Organization.objects.filter(pk=organization.pk)
        .annotate(_status=_current_status(OuterRef("pk")), _items=_items(OuterRef("pk")))
        .values_list("_status", "_items")
        .first()
    )
    status, items = row if row is not None else (None, None)
    return billing_access_from(status, items)


def organization_access(organization: Organization) -> bool:
    """Whether the organization's current subscription grants access. One query."""
    status = (
        Organization.objects.filter(pk=organization.pk)
        .annotate(_status=_current_status(OuterRef("pk")))
        .values_list("_status", flat=True)
        .first()
    )
    return status is not None and status in access_statuses()


def organization_capability(organization: Organization, code: str) -> int | None:
    """The capability's value (1 for a boolean), or None: not in the plan, or no access. One query."""
    return organization_billing_access(organization).capability(code)


def organization_capabilities(organization: Organization) -> list[Capability]:
    """The organization's capabilities (empty without access). One query."""
    return list(organization_billing_access(organization).capabilities)


def subscription_current_with_capabilities(
    organization: Organization,
) -> tuple[Subscription | None, list[Capability]]:
    """`selectors.subscription_current_get` and the capabilities it grants (empty when its
    status grants no access), in its one query."""
    subscription = _CURRENT_WITH_ITEMS.first(organization.pk)
    if subscription is None:
        return None, []
    access = billing_access_from(subscription.status, subscription._items)  # type: ignore[attr-defined]
    return subscription, list(access.capabilities)


def user_billing_access(user: User) -> tuple[Membership | None, BillingAccess | None]:
    """The membership this request acts through (organization loaded) and its organization's
    billing access, in one query; `(None, None)` outside any organization. The user's
    memberships are read with their access and kept on the user, so `organizations.selectors`
    chooses among them without a query. An inactive organization's access is None: it is
    treated as gone."""
    memberships = list(
        user_memberships_queryset(user=user).annotate(
            _status=_current_status(OuterRef("organization_id")),
            _items=_items(OuterRef("organization_id")),
        )
    )
    memberships_remember(user=user, memberships=memberships)
    membership = membership_for_user(user=user)
    if membership is None:
        return None, None
    if not membership.organization.is_active:
        return membership, None
    return membership, billing_access_from(membership._status, membership._items)  # type: ignore[attr-defined]


# --- Which plan would unlock it -----------------------------------------------------------
#
# Read from Stripe's catalogue (products and their features) and kept in the cache: a
# denied page names the plans that carry the capability. A request that passes its gate
# never calls Stripe for this (`fetch=False` reads the cache only).

# The plans that unlock a capability come from the plan list (billing.services.plans); after
# a failed read of it, Stripe is not asked again this soon by a refused page.
PLAN_CATALOGUE_UNAVAILABLE_KEY = "billing:capabilities:plan-catalogue-unavailable"
_PLAN_CATALOGUE_RETRY_SECONDS = 30
_PLAN_CATALOGUE_DEADLINE_SECONDS = 2.0


def feature_item(feature: stripe_gateway.StripeFeature) -> dict[str, Any]:
    """A Stripe feature as an organization's capability set stores it (`billing.features`)."""
    return capability_from_feature(feature).stored()


def plan_catalogue(*, fetch: bool = True) -> list[dict[str, Any]] | None:
    """`[{"name", "codes": [...], "descriptions": {code: name}}]` per plan on offer, in the
    plans' order: from the plan list's cache, else (with `fetch`) from Stripe with a short
    deadline. None when unknown; after a failed read Stripe is not asked again for a while."""
    plans = plans_cached()
    if plans is None and fetch and cache.get(PLAN_CATALOGUE_UNAVAILABLE_KEY) is None:
        try:
            with stripe_gateway.request_deadline(_PLAN_CATALOGUE_DEADLINE_SECONDS):
                plans = plans_list()
        except BillingError as e:
            logger.warning("billing.plan_catalogue_unavailable", extra={"error_code": e.error_code})
            cache.set(PLAN_CATALOGUE_UNAVAILABLE_KEY, True, _PLAN_CATALOGUE_RETRY_SECONDS)
    if plans is None:
        return None
    return [
        {
            "name": plan["name"],
            "codes": [c["code"] for c in plan["capabilities"]],
            "descriptions": {c["code"]: c["description"] for c in plan["capabilities"]},
        }
        for plan in plans
    ]


def plan_names_with_capability(code: str | None, *, fetch: bool = True) -> list[str]:
    """The names of the plans whose product carries the capability `code` (None: every plan),
    oldest product first; empty when the catalogue is unknown (see `plan_catalogue`)."""
    catalogue = plan_catalogue(fetch=fetch) or []
    return [plan["name"] for plan in catalogue if code is None or code in plan["codes"]]


def capability_description(code: str, *, fetch: bool = True) -> str:
    """The feature's name for a capability code (the code itself when unknown)."""
    for plan in plan_catalogue(fetch=fetch) or []:
        if plan["descriptions"].get(code):
            return str(plan["descriptions"][code])
    return code


def names_sentence(names: list[str]) -> str:
    """'Pro', 'Starter or Pro', 'Free, Starter or Pro'."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} or {names[-1]}"
