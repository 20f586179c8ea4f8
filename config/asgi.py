"""
ASGI config for config project.

It exposes the ASGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/asgi/
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_asgi_application()

# A server loading this module (gunicorn, uvicorn) does not run Django's system checks, as
# `runserver`, `check` and `migrate` do: a bad setting would start and fail every request
# that reads it. Refuse to start instead, naming the variable (core/checks.py).
from core.checks import fail_on_errors  # noqa: E402 (needs the app loaded above)

fail_on_errors()
