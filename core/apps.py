from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares: the error base and its JSON envelope, the API base class, the rate
    limiter, the cache backend, the log formatter and the health check. Imports nothing of the
    other apps."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "core"
