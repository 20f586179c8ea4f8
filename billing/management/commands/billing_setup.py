"""python manage.py billing_setup [FILE] [--apply] [--live]: make the Stripe account hold the plan
file's catalogue and portal configuration. Without --apply it only prints what it would change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing import stripe_gateway
from billing.services.setup import (
    DEFAULT_PLAN_FILE,
    Change,
    PlanFileInvalid,
    SetupFailed,
    plan_file_read,
    setup_apply,
    setup_plan,
)
from core.errors import ApplicationError

# The exit status of a refusal the operator must confirm (a live-mode key without --live), as
# for a command line used wrongly.
EXIT_USAGE = 2


class Command(BaseCommand):
    help = (
        "Create or update the Stripe products, prices, features and customer portal configuration "
        "that a plan file declares. Prints the plan of changes; --apply makes them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file",
            nargs="?",
            default=str(DEFAULT_PLAN_FILE),
            help="the plan file, TOML or .json (default: billing/plans.toml)",
        )
        parser.add_argument(
            "--apply", action="store_true", help="make the changes (default: only print them)"
        )
        parser.add_argument("--live", action="store_true", help="allow a live-mode key (sk_live_, rk_live_)")

    def handle(self, *args: Any, **options: Any) -> None:
        if not stripe_gateway.is_test_mode() and not options["live"]:
            raise CommandError(
                "STRIPE_SECRET_KEY is a live-mode key: this would change the products your customers "
                "buy. Run again with --live if that is what you mean.",
                returncode=EXIT_USAGE,
            )
        try:
            plan = plan_file_read(path=Path(options["file"]))
            setup = setup_plan(plan=plan)
        except SetupFailed as e:
            raise CommandError(str(e)) from e
        except PlanFileInvalid as e:
            raise CommandError(f"The plan file is not valid: {e}") from e
        except ApplicationError as e:
            raise CommandError(f"Stripe could not be read: {e.message}") from e
        mode = "test" if stripe_gateway.is_test_mode() else "LIVE"
        self.stdout.write(f"Stripe account ({mode} mode), plan file {options['file']}:")
        if not setup.changes:
            self.stdout.write("  no changes: Stripe already holds what the plan file declares")
        for change in setup.changes:
            self.stdout.write(change.line())
        portal_id = setup.portal_configuration_id
        if setup.changes and not options["apply"]:
            self.stdout.write(f"{len(setup.changes)} change(s) to make. Run again with --apply to make them.")
        elif setup.changes:

            def applied(change: Change) -> None:
                self.stdout.write(f"  done: {change.action} {change.kind} {change.name}".rstrip())

            try:
                portal_id = setup_apply(setup=setup, on_change=applied)
            except SetupFailed as e:
                raise CommandError(f"Stopped: {e}") from e
            self.stdout.write(f"{len(setup.changes)} change(s) made.")
        self.stdout.write("Set these in the app's environment:")
        self.stdout.write(f"BILLING_PRODUCTS={','.join(setup.product_ids)}")
        if portal_id:
            self.stdout.write(f"STRIPE_PORTAL_CONFIGURATION={portal_id}")
        else:
            self.stdout.write("# STRIPE_PORTAL_CONFIGURATION: printed once --apply has created it")
