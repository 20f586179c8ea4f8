from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib import admin

        from accounts import schema  # noqa: F401  (registers the OpenAPI auth extension)
        from accounts.forms import AdminLoginForm

        # The admin's login is a door to passwords too: same rate limit, same message.
        admin.site.login_form = AdminLoginForm
