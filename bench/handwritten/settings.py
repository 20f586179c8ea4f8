"""Settings of the hand-written server: a minimal Django project on the app's database.

Read from the same environment as the app (`DATABASE_URL`, `DJANGO_SECRET_KEY`,
`STRIPE_SECRET_KEY`, `STRIPE_API_BASE`), so it serves the same rows and verifies the same
JWTs. What the documentation suggests and nothing more: simplejwt's `JWTAuthentication` with
its default settings (HS256, signed with SECRET_KEY), persistent database connections
(`CONN_MAX_AGE`), Django's file cache, the Stripe SDK's global configuration.
"""

from pathlib import Path

import environ

env = environ.Env()

SECRET_KEY = env.str("DJANGO_SECRET_KEY")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    # The project's users, organizations and memberships (their apps load no billing code);
    # the billing tables are declared in bench.handwritten.models.
    "accounts",
    "organizations",
    "bench.handwritten",
]
# A JSON API: no sessions, no CSRF (no cookie authentication), no templates.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "bench.handwritten.urls"
WSGI_APPLICATION = "bench.handwritten.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

DATABASES = {"default": env.db_url("DATABASE_URL")}
# Persistent connections, as Django's documentation suggests for a busy site.
DATABASES["default"]["CONN_MAX_AGE"] = 60
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's advice for "database is locked" (its SQLite notes): a longer timeout, and
    # transactions that take the write lock when they begin (a transaction that reads, then
    # writes, fails at once when another writer got in between, whatever the timeout: two
    # webhooks in three of a storm were 500s without it).
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}

# Django's file cache, in a directory of its own (not the app's: each server fills its own).
_CACHE_DIR = env.str("DJANGO_CACHE_DIR", default="/tmp/billing-bench-cache")  # noqa: S108
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(Path(_CACHE_DIR).with_name(Path(_CACHE_DIR).name + "-handwritten")),
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}

STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
SITE_URL = env.str("SITE_URL", default=f"http://127.0.0.1:{env.int('PORT', default=8000)}").rstrip("/")
BILLING_PORTAL_RETURN_URL = env.str("BILLING_PORTAL_RETURN_URL", default=f"{SITE_URL}/billing/")
# As long as the app keeps its plan list by default.
BILLING_PLANS_CACHE_SECONDS = 300
# The statuses that grant a plan's capabilities (the app's default).
BILLING_ACCESS_STATUSES = ["active", "trialing", "past_due"]

# Errors (a 500's traceback) to the server's log.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
