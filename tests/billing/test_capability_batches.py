"""capabilities_store_many: a batch of organizations' capabilities stored at once, newer ones kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import CapabilitySet
from billing.services.capabilities import capabilities_store_many
from tests.factories import CapabilitySetFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

PRO = [
    {
        "feature_id": "feat_1",
        "code": "PRO",
        "type": "BOOLEAN",
        "value": None,
        "lookup_key": "pro",
        "description": "",
    }
]


def test_missing_rows_are_created_older_ones_replaced_newer_ones_kept():
    fresh, stale, same, newer = (OrganizationFactory.create() for _ in range(4))
    now = timezone.now()
    CapabilitySetFactory.create(organization=stale, items=[], state_at=now - timedelta(days=1))
    CapabilitySetFactory.create(organization=same, items=PRO, state_at=now - timedelta(days=1))
    CapabilitySetFactory.create(organization=newer, items=[], state_at=now + timedelta(seconds=5))

    changed = capabilities_store_many(items={fresh: PRO, stale: PRO, same: PRO, newer: PRO}, state_at=now)

    assert changed == {fresh.pk, stale.pk}
    stored = {r.organization_id: r for r in CapabilitySet.objects.all()}
    assert stored[fresh.pk].items == PRO
    assert stored[stale.pk].items == PRO
    assert stored[same.pk].state_at == now  # unchanged items, but now known as of this time
    assert stored[newer.pk].items == []  # a newer summary wins
