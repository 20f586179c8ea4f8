"""A fresh database for one bench run: `python -m bench.prepare --tokens FILE --customer cus_... --users N`.

Run by the bench in its own process, with the environment the server will have (the same
`DATABASE_URL`, `DJANGO_SECRET_KEY`, cache directory and Stripe): migrates, creates one
organization whose Stripe customer already exists (warm: no `customers.create` on the measured
path), an owner and N - 1 billing managers, and writes one JWT access token per user, a line
each, to FILE. Users have no usable password (hashing 200 passwords would take minutes; tokens
need none). Seeded with the test suite's factories (tests/factories.py; factory_boy is a dev
requirement).

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
import os
import sys
from datetime import timedelta
from pathlib import Path

# Prices of the stand-in's demo catalogue (`stripe_standin --seed-demo-catalogue`: fixed ids).
SUBSCRIPTION_PRICE = "price_demo_pro_monthly"
CHECKOUT_PRICE = "price_demo_starter_yearly"
# Checkout sessions live 24 hours at most: this one stays open for the whole run.
CHECKOUT_OPEN_FOR = timedelta(hours=23)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.prepare")
    parser.add_argument("--tokens", type=Path, required=True)
    parser.add_argument("--customer", required=True, help="the organization's existing Stripe customer")
    parser.add_argument("--users", type=int, default=200)
    args = parser.parse_args(argv)

    # Tokens outlive the whole run (the server checks their `exp`, not this setting).
    os.environ["JWT_ACCESS_MINUTES"] = "720"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import AccessToken

    from billing import stripe_gateway
    from billing.models import CheckoutSession
    from billing.services.capabilities import capabilities_store, capability_items
    from billing.services.plans import plan_period_find, plans_list
    from organizations.models import Membership
    from tests.factories import MembershipFactory, OrganizationFactory, SubscriptionFactory

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
        tokens = []
        for index in range(args.users):
            membership = MembershipFactory.create(
                organization=organization,
                user__email=f"bench{index}@bench.example.com",
                user__password=None,
                role=Membership.Role.OWNER if index == 0 else Membership.Role.BILLING,
            )
            tokens.append(str(AccessToken.for_user(membership.user)))
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
