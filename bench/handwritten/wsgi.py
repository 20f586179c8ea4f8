"""The hand-written server's WSGI application (Django's `startproject` file)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.handwritten.settings"

application = get_wsgi_application()
