"""A fresh database for one bench run: `python -m bench.prepare --tokens FILE --customer cus_... --users N`.

Run by the bench in its own process, with the environment the server will have (the same
`DATABASE_URL`, `DJANGO_SECRET_KEY`, cache directory and Stripe): migrates, creates one
organization whose Stripe customer already exists (warm: no `customers.create` on the measured
path), an owner and N - 1 billing managers, and writes one JWT access token per user, a line
each, to FILE. Users have no usable password (hashing thousands of passwords would take
minutes; tokens need none). The users and their memberships are inserted a batch at a time
(`bulk_create`, not one factory call and its queries per user); the organization
and what the reads show come from the test suite's factories (tests/factories.py; factory_boy
is a dev requirement).

For the reads, the organization also gets what they show, on prices of the stand-in's demo
catalogue (the bench seeds it first): an active subscription with its plan's capabilities
(`GET /subscriptions/my`) and an open Checkout session (`GET /subscriptions/pending-payment`,
which answers 404 without one). The app would not leave both at once (a live subscription
changes through the portal, not Checkout), but neither read looks at the other's row. The plan
list is read through the app's own `plans_list`, so it is in the shared cache before any
server starts, as after the app's first `GET /subscriptions`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import timedelta
from pathlib import Path

# Prices of the stand-in's demo catalogue (`stripe_standin --seed-demo-catalogue`: fixed ids).
SUBSCRIPTION_PRICE = "price_demo_pro_monthly"
CHECKOUT_PRICE = "price_demo_starter_yearly"
# Checkout sessions live 24 hours at most: this one stays open for the whole run.
CHECKOUT_OPEN_FOR = timedelta(hours=23)
# Rows per INSERT of the users and memberships (SQLite's bound parameters stay well below its
# limit of 32,766).
BATCH = 500


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.prepare")
    parser.add_argument("--tokens", type=Path, required=True)
    parser.add_argument("--customer", required=True, help="the organization's existing Stripe customer")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument(
        "--settings-out", type=Path, help="write the shipped settings the bench sizes itself by (JSON)"
    )
    args = parser.parse_args(argv)

    # Tokens outlive the whole run (the server checks their `exp`, not this setting).
    os.environ["JWT_ACCESS_MINUTES"] = "720"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User
    from billing import stripe_gateway
    from billing.models import CheckoutSession
    from billing.services.capabilities import capabilities_store, capability_items
    from billing.services.plans import plan_period_find, plans_list
    from organizations.models import Membership
    from tests.factories import OrganizationFactory, SubscriptionFactory

    call_command("migrate", verbosity=0, interactive=False)
    plans = plans_list()  # from the stand-in; the shared cache keeps it for the servers
    subscribed = plan_period_find(plans, price_id=SUBSCRIPTION_PRICE)
    pending = plan_period_find(plans, price_id=CHECKOUT_PRICE)
    if subscribed is None or pending is None:
        parser.error(f"{SUBSCRIPTION_PRICE} and {CHECKOUT_PRICE} must be prices of the catalogue's plans")
    (plan, period), (pending_plan, pending_period) = subscribed, pending
    # The capabilities of the plan, in the plan list's order (Stripe lists features newest first).
    features = list(reversed(stripe_gateway.product_feature_list(product_id=plan["id"])))
    with transaction.atomic():
        organization = OrganizationFactory.create(
            name="Bench Inc", billing_email="billing@bench.example.com", stripe_customer_id=args.customer
        )
        # Each user's only membership, hence their default one (Membership.save's rule).
        users = User.objects.bulk_create(
            [
                User(email=f"bench{index}@bench.example.com", password=make_password(None))
                for index in range(args.users)
            ],
            batch_size=BATCH,
        )
        Membership.objects.bulk_create(
            [
                Membership(
                    organization=organization,
                    user=user,
                    role=Membership.Role.OWNER if index == 0 else Membership.Role.BILLING,
                    is_default=True,
                )
                for index, user in enumerate(users)
            ],
            batch_size=BATCH,
        )
        tokens = [str(AccessToken.for_user(user)) for user in users]
        now = timezone.now()
        SubscriptionFactory.create(
            organization=organization,
            stripe_subscription_id="sub_bench",
            price_id=period["id"],
            product=plan["id"],
            now=now,
        )
        capabilities_store(organization=organization, items=capability_items(features), state_at=now)
        CheckoutSession.objects.create(
            organization=organization,
            price_id=pending_period["id"],
            product_id=pending_plan["id"],
            stripe_session_id="cs_bench_pending",
            url="https://checkout.stripe.com/c/pay/cs_bench_pending",
            status=CheckoutSession.Status.OPEN,
            amount=pending_period["price"],
            currency=pending_period["currency"],
            expires_at=now + CHECKOUT_OPEN_FOR,
        )
    args.tokens.write_text("\n".join(tokens) + "\n")
    if args.settings_out:
        from django.conf import settings

        # As the servers will read them (the same environment): the bench measures these.
        args.settings_out.write_text(
            json.dumps(
                {
                    "BILLING_PORTAL_RATE": settings.BILLING_PORTAL_RATE,
                    "BILLING_PLANS_CACHE_SECONDS": settings.BILLING_PLANS_CACHE_SECONDS,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
