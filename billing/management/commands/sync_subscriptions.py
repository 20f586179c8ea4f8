"""python manage.py sync_subscriptions: pull subscription state from Stripe (missed webhooks)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from billing.services.sync import subscriptions_sync
from core.errors import ApplicationError
from organizations.models import Organization


class Command(BaseCommand):
    help = (
        "Pull the subscriptions of every active organization with a Stripe customer from Stripe "
        "and store them (repairs missed webhooks). Never rolls back state newer than its own "
        "fetch; safe to run twice or while webhooks arrive. Exits non-zero if any organization failed."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # A list, not .iterator(): SQLite gives no isolation between a cursor and writes to the
        # same table on that connection, and a sync may clear a customer id.
        organizations = list(
            Organization.objects.filter(is_active=True, stripe_customer_id__isnull=False).order_by("pk")
        )
        total = len(organizations)
        synced = subscriptions = failed = 0
        for index, organization in enumerate(organizations, start=1):
            label = f"[{index}/{total}] {organization.name} (#{organization.pk})"
            try:
                result = subscriptions_sync(organization=organization)
            except ApplicationError as e:
                failed += 1
                self.stderr.write(self.style.ERROR(f"{label}: failed: {e.error_code}: {e.message}"))
                continue
            synced += 1
            subscriptions += result.fetched
            line = f"{label}: {result.fetched} subscription(s), {result.written} updated"
            if result.customer_cleared:
                line += "; the customer no longer exists in Stripe: cleared"
            self.stdout.write(line)
        summary = f"synced {synced} organizations, {subscriptions} subscriptions, {failed} failed"
        if failed:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
