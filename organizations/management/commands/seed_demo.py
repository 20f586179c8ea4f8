from typing import Any

from django.core.management.base import BaseCommand

from organizations.services import demo_data_ensure

DEMO_PASSWORD = "demo-password-123"  # noqa: S105 (demo logins are printed on purpose)


class Command(BaseCommand):
    help = (
        "Create (or reset) the demo organization with an owner and a member, and a second organization "
        "of the owner (the page's switcher shows); print the logins."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        logins = demo_data_ensure(password=DEMO_PASSWORD)
        self.stdout.write(self.style.SUCCESS("Demo data ready. Log in at /accounts/login/ with:"))
        for email, role in logins:
            self.stdout.write(f"  {role:<7} {email} / {DEMO_PASSWORD}")
