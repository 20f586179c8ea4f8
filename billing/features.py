"""How a Stripe Entitlements feature reads as a capability: the one mapping.

The plan list (`GET /subscriptions`), the stored capabilities behind the gates, the sync and
the admin all read a feature through `capability_from_feature`, so they name the same code
and type for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from billing import stripe_gateway

logger = logging.getLogger(__name__)

BOOLEAN = "BOOLEAN"
QUOTA = "QUOTA"
# The capability that caps an organization's members plus pending invitations (a QUOTA).
MEMBERS = "MEMBERS"


@dataclass(frozen=True)
class FeatureCapability:
    """A feature as a capability: metadata `code` (else the lookup key, else the feature id),
    `type` upper-cased (default `BOOLEAN`) and `value` as an integer (default 1)."""

    feature_id: str
    code: str
    type: str
    value: int
    lookup_key: str
    description: str

    def stored(self) -> dict[str, Any]:
        """As an organization's capability set keeps it."""
        return {
            "feature_id": self.feature_id,
            "code": self.code,
            "type": self.type,
            "value": self.value,
            "lookup_key": self.lookup_key,
            "description": self.description,
        }

    def offered(self) -> dict[str, Any]:
        """As the plan list shows it."""
        return {
            "id": self.feature_id,
            "code": self.code,
            "description": self.description,
            "type": self.type,
            "value": self.value,
        }


def capability_from_feature(feature: stripe_gateway.StripeFeature) -> FeatureCapability:
    metadata = feature.metadata
    raw_value = metadata.get("value")
    try:
        value = 1 if raw_value is None else int(str(raw_value).strip())
    except ValueError:
        logger.warning("billing.feature_value_invalid", extra={"feature_id": feature.id})
        value = 1
    return FeatureCapability(
        feature_id=feature.id,
        code=metadata.get("code") or feature.lookup_key or feature.id,
        type=(metadata.get("type") or BOOLEAN).upper(),
        value=value,
        lookup_key=feature.lookup_key,
        description=feature.name,
    )


def member_cap(capabilities: list[dict[str, Any]]) -> int | None:
    """A plan's member cap: the value of its `MEMBERS` capability of type `QUOTA` (the highest,
    if several), or None: no cap."""
    caps = [int(c["value"]) for c in capabilities if c.get("code") == MEMBERS and c.get("type") == QUOTA]
    return max(caps) if caps else None
