"""A fresh database for one bench run: `python -m bench.prepare --tokens FILE --customer cus_... --users N`.

Run by the bench in its own process, with the environment the server will have (the same
`DATABASE_URL` and `DJANGO_SECRET_KEY`): migrates, creates one organization whose Stripe
customer already exists (warm: no `customers.create` on the measured path), an owner and
N - 1 billing managers, and writes one JWT access token per user, a line each, to FILE.
Users have no usable password (hashing 200 passwords would take minutes; tokens need none).
Seeded with the test suite's factories (tests/factories.py; factory_boy is a dev requirement).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


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
    from rest_framework_simplejwt.tokens import AccessToken

    from organizations.models import Membership
    from tests.factories import MembershipFactory, OrganizationFactory

    call_command("migrate", verbosity=0, interactive=False)
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
    args.tokens.write_text("\n".join(tokens) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
