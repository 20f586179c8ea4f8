from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Billing follows the organizations' members (seats, member caps) through the hooks the
        # organizations app offers: organizations never imports billing.
        from billing.services import member_limits
        from organizations import hooks

        hooks.on_members_changed(member_limits.seats_changed_hook)
        hooks.on_before_invite(member_limits.plans_warm)
        hooks.on_member_limit_check(member_limits.member_limit_check)
