"""python manage.py sync_subscriptions: pull subscriptions and capabilities from Stripe (missed webhooks)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.services.capabilities import capabilities_refresh
from billing.services.checkout import checkout_sessions_settle
from billing.services.sync import customer_missing_settle, subscriptions_sync
from core.errors import ApplicationError
from organizations.models import Organization

# Past this share of customers missing at Stripe, the key is more likely wrong (another
# account's, or the other mode's) than that many customers deleted at once: nothing is cleared.
MISSING_SHARE_LIMIT = 0.1


class Command(BaseCommand):
    help = (
        "Pull the subscriptions of every active organization with a Stripe customer from Stripe "
        "and store them, then its capabilities (active entitlements) (repairs missed webhooks). "
        "Never rolls back state newer than its own "
        "fetch; safe to run twice or while webhooks arrive. Customers Stripe no longer knows are "
        "cleared only when they are few: when all of them, or more than a tenth, are missing, the "
        "key is taken to be wrong, nothing is cleared and the command fails (--clear-missing "
        "clears them all the same, once the key is known to be right). Exits non-zero if any "
        "organization failed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--clear-missing",
            action="store_true",
            help="Clear customers Stripe says are missing even when many are (the key is right).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # A list, not .iterator(): SQLite gives no isolation between a cursor and writes to the
        # same table on that connection, and a sync may clear a customer id.
        organizations = list(
            Organization.objects.filter(is_active=True, stripe_customer_id__isnull=False).order_by("pk")
        )
        total = len(organizations)
        synced = subscriptions = failed = 0
        missing: list[tuple[str, Organization, str]] = []
        for index, organization in enumerate(organizations, start=1):
            label = f"[{index}/{total}] {organization.name} (#{organization.pk})"
            customer_id = organization.stripe_customer_id or ""
            try:
                result = subscriptions_sync(organization=organization)
            except ApplicationError as e:
                failed += 1
                self.stderr.write(self.style.ERROR(f"{label}: failed: {e.error_code}: {e.message}"))
                continue
            synced += 1
            subscriptions += result.fetched
            line = f"{label}: {result.fetched} subscription(s), {result.written} updated"
            if not result.customer_missing:
                try:
                    settled = checkout_sessions_settle(organization=organization)
                except ApplicationError as e:
                    failed += 1
                    self.stderr.write(
                        self.style.ERROR(f"{label}: checkout sessions failed: {e.error_code}: {e.message}")
                    )
                else:
                    if settled:
                        line += f"; {settled} checkout session(s) settled"
                # After its subscriptions: the capabilities their plans grant now.
                try:
                    capabilities_refresh(organization=organization)
                except ApplicationError as e:
                    failed += 1
                    self.stderr.write(
                        self.style.ERROR(f"{label}: capabilities failed: {e.error_code}: {e.message}")
                    )
            if result.customer_missing:
                line += f"; Stripe knows no customer {customer_id}"
                missing.append((label, organization, customer_id))
            self.stdout.write(line)

        if (
            missing
            and not options["clear_missing"]
            and (len(missing) == synced or len(missing) > MISSING_SHARE_LIMIT * synced)
        ):
            raise CommandError(
                f"Stripe does not know {len(missing)} of the {synced} customers checked: "
                "nothing was cleared. "
                "Is STRIPE_SECRET_KEY the key of this account, in the right mode (test or live)? "
                "If those customers really were deleted, run again with --clear-missing."
            )
        for label, organization, customer_id in missing:
            try:
                customer_missing_settle(organization=organization, customer_id=customer_id)
            except ApplicationError as e:
                failed += 1
                self.stderr.write(self.style.ERROR(f"{label}: clearing failed: {e.error_code}: {e.message}"))
                continue
            self.stdout.write(f"{label}: the customer no longer exists in Stripe: cleared")
        summary = f"synced {synced} organizations, {subscriptions} subscriptions, {failed} failed"
        if failed:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
