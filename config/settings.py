"""Django settings: every value that differs between machines comes from the environment.

The environment is read here and nowhere else (see README "Configuration").
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

from core.resilience import bulkhead_size_default

BASE_DIR = Path(__file__).resolve().parent.parent


class _Env(environ.Env):  # type: ignore[misc]
    """django-environ, naming the variable whose value it cannot read (its own errors say only
    "could not convert string to float: ''"). Ranges and shapes are checked in core/checks.py."""

    def get_value(self, var: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().get_value(var, *args, **kwargs)
        except (ValueError, TypeError):
            cast = kwargs.get("cast", args[0] if args else None)
            kind = "a whole number" if cast is int else "a number" if cast is float else "valid"
            raise ImproperlyConfigured(f"{var}={self.ENVIRON.get(var, '')!r} is not {kind}") from None


env = _Env()

DEBUG: bool = env.bool("DJANGO_DEBUG", default=False)

# Production has no default secret: a missing key must stop start-up, not sign tokens
# with a value that is public in this repository.
_DEV_SECRET_KEY = "django-insecure-dev-only-key-never-use-in-production-0123456789"  # noqa: S105 (public on purpose: DEBUG only)
SECRET_KEY: str = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it to a long random value "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DJANGO_DEBUG=1 for local development."
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
# The port the app is served on locally (`make run PORT=8001`): gunicorn binds it, the offline
# stand-in sends its webhooks to it, and SITE_URL defaults to it.
PORT: int = env.int("PORT", default=8000)
SITE_URL: str = env.str("SITE_URL", default=f"http://127.0.0.1:{PORT}").rstrip("/")
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[SITE_URL])

INSTALLED_APPS = [
    # Django's admin, on a site whose login answers 429 when rate limited.
    "accounts.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "core",
    "accounts",
    "organizations",
    "billing",
    "workspace",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Sessions, the user and messages: Django's, skipped by the JSON API (core/middleware.py).
    "core.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "core.middleware.AuthenticationMiddleware",
    "organizations.middleware.OrganizationChoiceMiddleware",
    "core.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "organizations.context_processors.organization_switcher",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
# SQLite is the embedded default; PostgreSQL via DATABASE_URL=postgres://... in production.
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; the busy timeout makes concurrent
    # writers (several gunicorn workers) wait for the lock instead of failing at once.
    _db.setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Write transactions queue for the file in turn rather than sleep in SQLite's busy handler
    # (core/backends/sqlite3).
    _db["ENGINE"] = "core.backends.sqlite3"
if _db["ENGINE"] == "django.db.backends.postgresql":
    # A pool per process (psycopg's, through Django): an instance never holds more than
    # workers x DATABASE_POOL_MAX_SIZE connections, whatever its threads, and a request hands
    # its connection back before it waits on Stripe. Size it against max_connections (README).
    _db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=16),
        # A request waits this long for a free connection, then fails (503 on the API).
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
        # A connection the pool fails to open is retried after 1, 2, 4, 8... s (psycopg_pool's
        # backoff) for this long, then given up; the next request that has to wait starts
        # afresh. With the default (5 minutes) an outage of half a minute left a process's
        # retries 30 s apart, and requests timing out long after PostgreSQL was back.
        "reconnect_timeout": 5.0,
    }
    _db["CONN_MAX_AGE"] = 0  # the pool keeps the connections; Django must not
    # Statements run with server-side parameters, and one that a connection has run this many
    # times is prepared on it: PostgreSQL then stops parsing and planning the hot path's few
    # statements on every request. `off` for a pooler in front of PostgreSQL that cannot keep
    # prepared statements (PgBouncer before 1.21 in transaction mode).
    _prepare = env.str("DATABASE_PREPARE_THRESHOLD", default="5").strip().lower()
    if _prepare != "off":
        _threshold = int(_prepare) if _prepare.isdigit() else 0
        if _threshold < 1:
            raise ImproperlyConfigured("DATABASE_PREPARE_THRESHOLD: executions (1 or more), or off")
        _db["OPTIONS"]["server_side_binding"] = True
        _db["OPTIONS"]["prepare_threshold"] = _threshold
    # The pool checks a connection idle for over a second before handing it out: one broken by
    # a database restart is replaced, not given to a request (core/pool.py, through Django's
    # backend with that check swapped in: core/backends/postgresql).
    _db["ENGINE"] = "core.backends.postgresql"
    _db["CONN_HEALTH_CHECKS"] = True
else:
    # Persistent connections (one per gunicorn thread) with a health check: a request does not
    # pay for a new connection, and one broken by a database restart is replaced. Opening the
    # file and running the PRAGMAs above cost more than the portal request's own two queries
    # (bench/README.md; the health check is free there).
    _db["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    _db["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Cache and rate limits ----------------------------------------------------------------
# The rate limits (core/ratelimit.py) must be shared by every worker process and instance:
# with REDIS_URL their counters live in Redis (one Lua script per hit), otherwise in the
# database (one row per key, one statement per hit), never in per-process memory. The cache
# itself is Redis, or a file cache on this machine.
REDIS_URL: str = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        }
    }
else:
    CACHES = {
        "default": {
            # Django's file cache, except that it never culls live entries (rate counters).
            "BACKEND": "core.cache.FileBasedCache",
            "LOCATION": env.str("DJANGO_CACHE_DIR", default=str(BASE_DIR / ".cache" / "django")),
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }

# --- Auth ---------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "billing:page"
LOGOUT_REDIRECT_URL = "login"
# Failed password checks (login form, POST /auth/token/, admin login) count against three
# sliding-window limits in the shared cache (accounts/services.py): per email and client
# address together (LOGIN_RATE, the low one), per email from anywhere (LOGIN_EMAIL_RATE) and
# per client address for any email (LOGIN_IP_RATE). A successful login never counts.
AUTHENTICATION_BACKENDS = ["accounts.backends.RateLimitedModelBackend"]
LOGIN_RATE: str = env.str("LOGIN_RATE", default="5/min")
LOGIN_EMAIL_RATE: str = env.str("LOGIN_EMAIL_RATE", default="20/min")
LOGIN_IP_RATE: str = env.str("LOGIN_IP_RATE", default="30/min")
# Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For is believed: the client
# address is the right-most one in it that is not one of these (core/client_address.py).
# Loopback by default (a proxy on this host, as docs/deployment.md runs it); set to '' to
# trust none: X-Forwarded-For is then ignored and the client is REMOTE_ADDR.
TRUSTED_PROXIES: list[str] = env.list("TRUSTED_PROXIES", default=["127.0.0.0/8", "::1"])

# --- Internationalization -----------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files (served by whitenoise; no CDN anywhere) ---------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Under DEBUG, serve static/ straight from the source folders (no collectstatic needed).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
# Files served at the site's root, such as /favicon.ico (browsers ask for it on every page).
WHITENOISE_ROOT = BASE_DIR / "public"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security -----------------------------------------------------------------------------
SECURE_SSL_REDIRECT: bool = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = SECURE_SSL_REDIRECT
CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS: list[str] = []
if not SECURE_SSL_REDIRECT:
    # Plain HTTP was asked for explicitly (local run, or a proxy that redirects itself).
    SILENCED_SYSTEM_CHECKS += ["security.W008", "security.W012", "security.W016"]

# --- REST framework and JWT ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["organizations.authentication.OrganizationJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.negotiation.FastContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api_errors.exception_handler",
    # JSON only, whatever the query string says: `?format=xml` is ignored, not a 404.
    "URL_FORMAT_OVERRIDE": None,
    # OPTIONS is a method like any other an endpoint does not serve: 405, not a metadata page.
    "DEFAULT_METADATA_CLASS": None,
    "UNAUTHENTICATED_USER": None,
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=5)),
    # The absolute lifetime of a refresh token family, counted from the login that started it:
    # rotation hands out new tokens, never more time (accounts/tokens.py).
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.float("JWT_REFRESH_MAX_DAYS", default=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    # Tokens carry the user's token version (revoked by a password change or a deactivation)
    # and the time of the login that started their family.
    "TOKEN_OBTAIN_SERIALIZER": "accounts.serializers.TokenObtainPairSerializer",
    # A refresh rotation that lets one request per token through, and checks both claims.
    "TOKEN_REFRESH_SERIALIZER": "accounts.serializers.TokenRefreshSerializer",
    "TOKEN_BLACKLIST_SERIALIZER": "accounts.serializers.TokenBlacklistSerializer",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Billing service API",
    "DESCRIPTION": "Stripe billing portal sessions and subscription state for an organization.",
    "VERSION": "1.0.0",
    # 3.1: a nullable object is `oneOf` it or null, which validators read as meant (3.0's
    # `nullable` beside an `allOf` is not).
    "OAS_VERSION": "3.1.0",
    # Two enums would otherwise share the name `PaymentStatusEnum`, and the payment list's
    # statuses would be documented as the Checkout session's.
    "ENUM_NAME_OVERRIDES": {
        "PaymentStatusEnum": ["COMPLETED", "PENDING", "FAILED", "CANCELLED"],
        "CheckoutPaymentStatusEnum": ["unpaid", "paid", "no_payment_required"],
    },
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "organizations.openapi.organization_header_hook",
    ],
}

# --- Stripe and billing -------------------------------------------------------------------
STRIPE_SECRET_KEY: str = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_API_BASE: str = env.str("STRIPE_API_BASE", default="")
STRIPE_WEBHOOK_SECRET: str = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_PORTAL_CONFIGURATION: str = env.str("STRIPE_PORTAL_CONFIGURATION", default="")
# Test mode only: each new Stripe customer gets a test clock of its own, so the demo can move
# time on (renewals, the end of a cancelled subscription). Never with a live key.
STRIPE_TEST_CLOCKS: bool = env.bool("STRIPE_TEST_CLOCKS", default=False)
# Starts every Stripe idempotency key, so two deployments on one Stripe account (staging and
# production, a restored backup) never share a key. Default: derived from the secret key.
STRIPE_IDEMPOTENCY_PREFIX: str = env.str(
    "STRIPE_IDEMPOTENCY_PREFIX",
    default=hmac.new(SECRET_KEY.encode(), b"stripe-idempotency", "sha256").hexdigest()[:12],
)
STRIPE_TIMEOUT_SECONDS: float = env.float("STRIPE_TIMEOUT_SECONDS", default=10.0)
STRIPE_MAX_NETWORK_RETRIES: int = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
# Bounds on waiting for Stripe (billing/stripe_gateway/resilience.py): one deadline for a request's
# Stripe work (all tries and calls), at most this many calls in flight per process (at least
# 1; by default the worker's threads less an eighth, 56 of gunicorn's 64, the rest kept for
# the doors that never call Stripe; past it a call waits its turn while Stripe is answering,
# and answers 503 at once while it hangs), and a breaker that answers 503 without calling
# for a while after a run of timeouts and 5xx.
STRIPE_DEADLINE_SECONDS: float = env.float("STRIPE_DEADLINE_SECONDS", default=8.0)
_threads = env.int("GUNICORN_THREADS", default=64)
STRIPE_MAX_CONCURRENT_CALLS: int = env.int(
    "STRIPE_MAX_CONCURRENT_CALLS", default=bulkhead_size_default(_threads)
)
# While Stripe answers briskly, calls past the bulkhead go at once up to this many (each with a
# 2 s bound of its own): every thread, unless STRIPE_MAX_CONCURRENT_CALLS was set, which then
# caps them. Not a variable of its own.
STRIPE_BURST_CALLS: int = (
    STRIPE_MAX_CONCURRENT_CALLS
    if env.str("STRIPE_MAX_CONCURRENT_CALLS", default="")
    else max(_threads, STRIPE_MAX_CONCURRENT_CALLS)
)
STRIPE_BREAKER_FAILURES: int = env.int("STRIPE_BREAKER_FAILURES", default=5)
STRIPE_BREAKER_SECONDS: float = env.float("STRIPE_BREAKER_SECONDS", default=10.0)
# sync_subscriptions: at most this many Stripe requests in any one second (under Stripe's own
# limits: 25 a second in test mode, 100 in live mode).
STRIPE_SYNC_RATE: int = env.int("STRIPE_SYNC_RATE", default=20)
BILLING_PORTAL_RETURN_URL: str = env.str("BILLING_PORTAL_RETURN_URL", default=f"{SITE_URL}/billing/")
BILLING_PORTAL_RATE: str = env.str("BILLING_PORTAL_RATE", default="10/min")
BILLING_CANCEL_MODE: str = env.str("BILLING_CANCEL_MODE", default="at_period_end")
if BILLING_CANCEL_MODE not in ("at_period_end", "immediately"):
    raise ImproperlyConfigured(
        f"BILLING_CANCEL_MODE must be 'at_period_end' or 'immediately', not {BILLING_CANCEL_MODE!r}"
    )
# Subscription statuses that grant access to gated features (billing/capabilities.py).
BILLING_ACCESS_STATUSES: list[str] = env.list(
    "BILLING_ACCESS_STATUSES", default=["active", "trialing", "past_due"]
)
# Plans and buying: the Stripe products offered (display order; unset: every active product
# with an active recurring price), free trial days on a first subscription, where Checkout
# sends the customer back ({CHECKOUT_SESSION_ID} is filled in by Stripe), and how long the
# plan list fetched from Stripe is reused (product.*/price.* webhooks drop it sooner).
BILLING_PRODUCTS: list[str] = env.list("BILLING_PRODUCTS", default=[])
BILLING_TRIAL_DAYS: int = env.int("BILLING_TRIAL_DAYS", default=0)
# Seats (billing/services/seats.py): what a change of a per-seat subscription's quantity does to
# the current period, and the window within which member changes make one Stripe update.
BILLING_SEAT_PRORATION: str = env.str("BILLING_SEAT_PRORATION", default="create_prorations")
if BILLING_SEAT_PRORATION not in ("create_prorations", "always_invoice", "none"):
    raise ImproperlyConfigured(
        "BILLING_SEAT_PRORATION must be 'create_prorations', 'always_invoice' or 'none', "
        f"not {BILLING_SEAT_PRORATION!r}"
    )
BILLING_SEAT_SYNC_SECONDS: int = max(0, env.int("BILLING_SEAT_SYNC_SECONDS", default=60))
BILLING_CHECKOUT_SUCCESS_URL: str = env.str(
    "BILLING_CHECKOUT_SUCCESS_URL",
    default=f"{SITE_URL}/billing/?checkout=success&session_id={{CHECKOUT_SESSION_ID}}",
)
BILLING_CHECKOUT_CANCEL_URL: str = env.str(
    "BILLING_CHECKOUT_CANCEL_URL", default=f"{SITE_URL}/billing/?checkout=canceled"
)
BILLING_PLANS_CACHE_SECONDS: int = env.int("BILLING_PLANS_CACHE_SECONDS", default=300)
# Checkout options: a promotion code field, Stripe Tax, and collecting the buyer's tax id.
BILLING_ALLOW_PROMOTION_CODES: bool = env.bool("BILLING_ALLOW_PROMOTION_CODES", default=False)
BILLING_AUTOMATIC_TAX: bool = env.bool("BILLING_AUTOMATIC_TAX", default=False)
BILLING_TAX_ID_COLLECTION: bool = env.bool("BILLING_TAX_ID_COLLECTION", default=False)
# Reads that call Stripe: a per-user limit of their own on the payment history and the
# Checkout session status (apart from BILLING_PORTAL_RATE), and how long an organization's
# invoice list read from Stripe is reused (invoice webhooks drop it sooner; 0: never reused).
BILLING_READ_RATE: str = env.str("BILLING_READ_RATE", default="60/min")
BILLING_PAYMENTS_CACHE_SECONDS: int = env.int("BILLING_PAYMENTS_CACHE_SECONDS", default=60)

# --- Teams: members, invitations and their e-mail ------------------------------------------
# One per-user limit on inviting, accepting, role changes and removals (its own counter).
MEMBERS_RATE: str = env.str("MEMBERS_RATE", default="30/min")
# Invitation e-mails: the console (the terminal of `make run`) unless EMAIL_URL names a server
# (smtp://user:password@host:587, submission with STARTTLS; smtp+ssl:// for implicit TLS).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL: str = env.str("DEFAULT_FROM_EMAIL", default="billing@localhost")
EMAIL_TIMEOUT = 10  # seconds: a mail server that hangs must not hold the request

# --- Background work (docs/background.md) ---------------------------------------------------
# Django's tasks interface (the django-tasks backport of Django 6's django.tasks) on its
# database backend: the queue is a table of the app's own database, so SQLite and PostgreSQL
# need nothing more, and `manage.py worker` processes on any host share it.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# /healthz answers 503 once the oldest task due (or running) has waited longer: no worker, or
# too few for the load.
TASKS_STALE_SECONDS: int = env.int("TASKS_STALE_SECONDS", default=300)

# --- Logging: structured events on stderr; never secrets, tokens or portal URLs -----------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"event": {"()": "core.logging.EventFormatter"}},
    "filters": {"redact_link_tokens": {"()": "core.logging.RedactLinkTokens"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "event", "filters": ["redact_link_tokens"]}
    },
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django logs every 4xx/5xx with the request path; our own events say more.
        "django.request": {"level": "ERROR"},
        "stripe": {"level": "WARNING"},
    },
}
