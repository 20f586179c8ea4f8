"""Seed and inspect an app server's database from outside the test process.

    python -m tests.reliability.appdb migrate
    python -m tests.reliability.appdb seed < spec.json   # prints what it created, as JSON
    python -m tests.reliability.appdb report             # organizations and portal audit rows

Run with the app's own environment (DJANGO_SETTINGS_MODULE=config.settings, DATABASE_URL, ...),
so it sees exactly the database the gunicorn servers use.

A seed spec: {"password": "...", "organizations": [{"name": ..., "billing_email": ...,
"stripe_customer_id": ..., "users": [{"email": ..., "role": "owner"}]}], "loners": [{"email": ...}]}.
Every user gets the same password hash (hashing once keeps seeding fast).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any


def _setup() -> None:
    import django

    django.setup()


def seed(spec: dict[str, Any]) -> dict[str, Any]:
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from accounts.models import User
    from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

    def user_with_hash(email: str) -> User:
        user = UserFactory.create(email=email, password=None)  # no hashing per user...
        user.password = password_hash  # ...the one hash, shared
        user.save(update_fields=["password"])
        return user

    password_hash = make_password(spec.get("password") or None)
    created: dict[str, Any] = {"organizations": [], "loners": []}
    with transaction.atomic():
        for org_spec in spec.get("organizations", []):
            org = OrganizationFactory.create(
                name=org_spec["name"],
                billing_email=org_spec.get("billing_email", ""),
                stripe_customer_id=org_spec.get("stripe_customer_id"),
            )
            users = []
            for user_spec in org_spec.get("users", []):
                user = user_with_hash(user_spec["email"])
                MembershipFactory.create(user=user, organization=org, role=user_spec["role"])
                users.append({"id": user.pk, "email": user.email, "role": user_spec["role"]})
            created["organizations"].append({"id": org.pk, "name": org.name, "users": users})
        for user_spec in spec.get("loners", []):
            user = user_with_hash(user_spec["email"])
            created["loners"].append({"id": user.pk, "email": user.email})
    return created


def report() -> dict[str, Any]:
    from billing.models import PortalSession, Subscription, WebhookEvent
    from organizations.models import Organization

    return {
        "subscriptions": [
            {
                "id": sub.stripe_subscription_id,
                "organization_id": sub.organization_id,
                "status": sub.status,
                "quantity": sub.quantity,
                "state_at": int(sub.state_at.timestamp()),
            }
            for sub in Subscription.objects.order_by("pk")
        ],
        "webhook_events": list(WebhookEvent.objects.order_by("pk").values_list("stripe_event_id", flat=True)),
        "webhook_statuses": dict(Counter(WebhookEvent.objects.values_list("status", flat=True))),
        "organizations": {
            str(pk): customer for pk, customer in Organization.objects.values_list("pk", "stripe_customer_id")
        },
        "portal_sessions": [
            {
                "user_id": row[0],
                "organization_id": row[1],
                "stripe_customer_id": row[2],
                "stripe_session_id": row[3],
                "source": row[4],
            }
            for row in PortalSession.objects.order_by("pk").values_list(
                "user_id", "organization_id", "stripe_customer_id", "stripe_session_id", "source"
            )
        ],
    }


def main(argv: list[str]) -> int:
    _setup()
    command = argv[0] if argv else ""
    if command == "migrate":
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        return 0
    if command == "seed":
        print(json.dumps(seed(json.load(sys.stdin))))
        return 0
    if command == "report":
        print(json.dumps(report()))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
