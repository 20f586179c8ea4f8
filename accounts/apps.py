from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps  # a module: its AdminConfig is no candidate here


class AccountsConfig(AppConfig):
    name = "accounts"
    default = True  # not the admin's config below
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import schema  # noqa: F401  (registers the OpenAPI auth extension)


class AdminConfig(admin_apps.AdminConfig):
    """Django's admin on `accounts.admin_site.AdminSite`: the admin's login is a door to
    passwords too, with the same rate limit, message and 429."""

    default = False  # `accounts` alone means AccountsConfig
    default_site = "accounts.admin_site.AdminSite"
