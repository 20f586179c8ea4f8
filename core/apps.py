from __future__ import annotations

import contextlib
import os
from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.db.backends.signals import connection_created


def _sqlite_owner_only(sender: Any, connection: Any, **kwargs: Any) -> None:
    """The SQLite database holds every account: readable by its owner only, whatever the
    umask of the process that created it (the journal files follow the database's mode)."""
    if connection.vendor != "sqlite":
        return
    name = str(connection.settings_dict.get("NAME") or "")
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    with contextlib.suppress(OSError):  # not ours to change: leave it
        if os.stat(name).st_mode & 0o077:
            os.chmod(name, 0o600)


class CoreConfig(AppConfig):
    """What every app shares: the error base and its JSON envelope, the API base class, the rate
    limiter, the cache backend, the log formatter and the health check. Imports nothing of the
    other apps."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "core"

    def ready(self) -> None:
        from core.checks import settings_check

        connection_created.connect(_sqlite_owner_only, dispatch_uid="core.sqlite_owner_only")
        # Every setting from the environment, checked by `check`, `migrate`, `runserver` and,
        # through config/wsgi.py and config/asgi.py, the server.
        checks.register(settings_check, "settings")
