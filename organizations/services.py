from __future__ import annotations

from django.db import transaction

from accounts.models import User
from organizations.models import Membership, Organization


@transaction.atomic
def demo_data_ensure(*, password: str) -> list[tuple[str, str]]:
    """Idempotent demo data: one organization with an owner and a member, and a staff login
    for the admin.

    Returns `(email, role)` of each demo login. Running it again resets the demo passwords
    and roles, and creates nothing twice.
    """
    organization, _ = Organization.objects.get_or_create(
        name="Demo Organization", defaults={"billing_email": "billing@demo.example.com"}
    )
    logins = [
        ("owner@demo.example.com", Membership.Role.OWNER),
        ("member@demo.example.com", Membership.Role.MEMBER),
    ]
    for email, role in logins:
        user = User.objects.filter(email=email).first() or User.objects.create_user(email=email)
        user.set_password(password)
        user.is_active = True
        user.save()
        Membership.objects.update_or_create(user=user, organization=organization, defaults={"role": role})
    staff = User.objects.filter(email="admin@demo.example.com").first() or User.objects.create_superuser(
        email="admin@demo.example.com"
    )
    staff.set_password(password)
    staff.is_active = staff.is_staff = staff.is_superuser = True
    staff.save()
    return [(email, str(role)) for email, role in logins] + [(staff.email, "staff")]
