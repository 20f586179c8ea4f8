"""Settings for the test suite: the real settings, with test-only environment defaults.

DATABASE_URL still chooses the database (SQLite by default, PostgreSQL in CI's second leg).
"""

import os
import tempfile

_tmp = tempfile.mkdtemp(prefix="billing-tests-")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("DJANGO_CACHE_DIR", os.path.join(_tmp, "cache"))
# Points at the Stripe stand-in the tests start (STRIPE_API_BASE is set by a fixture).
os.environ.setdefault("STRIPE_SECRET_KEY", "sk_test_suite_0000000000000000")
os.environ.setdefault("STRIPE_WEBHOOK_SECRET", "whsec_test_suite_secret")
os.environ.setdefault("STRIPE_MAX_NETWORK_RETRIES", "1")

from config.settings import *  # noqa: E402,F403
from config.settings import DATABASES, STORAGES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
WHITENOISE_USE_FINDERS = True  # serve static/ without collectstatic
WHITENOISE_AUTOREFRESH = True
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
if DATABASES["default"]["ENGINE"] == "core.backends.sqlite3":
    # A file, not the shared in-memory database, so that threads and processes in the
    # concurrency tests lock and wait the way production SQLite does.
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(_tmp, "test.sqlite3")}
# Tasks run at once, in the request that enqueues them; the tests of the queue itself run a
# real worker process (tests/reliability/test_task_queue.py).
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
