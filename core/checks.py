"""Every setting read from the environment, checked at start-up (Django's system checks).

A value that cannot work stops `manage.py check`, `migrate`, `runserver` and the WSGI/ASGI
server (config/wsgi.py runs these checks: gunicorn does not run Django's) with a message
naming the variable, instead of starting and then answering 500 (a rate such as `5/minute`)
or 503 (`STRIPE_MAX_CONCURRENT_CALLS=0`) to every request that reads it. A value that is not a
number where one is expected already stops settings themselves (config/settings.py).

To check a new setting, add it to the table of its kind below: a new `*_RATE` to
`RATE_SETTINGS` (a test fails while a rate setting is missing from it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.management.base import SystemCheckError

from core.ratelimit import parse_rate

# Settings holding an "N/period" rate (core/ratelimit.py).
RATE_SETTINGS = [
    "LOGIN_RATE",
    "LOGIN_EMAIL_RATE",
    "LOGIN_IP_RATE",
    "BILLING_PORTAL_RATE",
    "BILLING_READ_RATE",
    "MEMBERS_RATE",
]

# (setting, lowest value, whether the lowest value itself is refused): numbers with a floor.
NUMBER_SETTINGS: list[tuple[str, float, bool]] = [
    ("STRIPE_TIMEOUT_SECONDS", 0, True),
    ("STRIPE_DEADLINE_SECONDS", 0, True),
    ("STRIPE_MAX_NETWORK_RETRIES", 0, False),
    ("STRIPE_MAX_CONCURRENT_CALLS", 1, False),
    ("STRIPE_BREAKER_FAILURES", 1, False),
    ("STRIPE_BREAKER_SECONDS", 0, True),
    ("STRIPE_SYNC_RATE", 1, False),
    ("BILLING_TRIAL_DAYS", 0, False),
    ("BILLING_PLANS_CACHE_SECONDS", 0, False),
    ("BILLING_PAYMENTS_CACHE_SECONDS", 0, False),
]

# Settings holding an absolute http(s) URL; those in OPTIONAL_URL_SETTINGS may be empty.
URL_SETTINGS = [
    "SITE_URL",
    "BILLING_PORTAL_RETURN_URL",
    "BILLING_CHECKOUT_SUCCESS_URL",
    "BILLING_CHECKOUT_CANCEL_URL",
]
OPTIONAL_URL_SETTINGS = ["STRIPE_API_BASE"]

# (setting, prefixes): Stripe ids and secrets, checked when set.
PREFIX_SETTINGS: list[tuple[str, tuple[str, ...]]] = [
    ("STRIPE_SECRET_KEY", ("sk_", "rk_")),
    ("STRIPE_WEBHOOK_SECRET", ("whsec_",)),
    ("STRIPE_PORTAL_CONFIGURATION", ("bpc_",)),
]

# Every status a Stripe subscription can have.
STRIPE_SUBSCRIPTION_STATUSES = frozenset(
    {"incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused"}
)


def _error(name: str, value: Any, problem: str, hint: str | None = None) -> checks.Error:
    return checks.Error(f"{name}={value!r}: {problem}", hint=hint, id=f"config.{name}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _rates() -> Iterable[checks.Error]:
    for name in RATE_SETTINGS:
        if not hasattr(settings, name):
            continue
        value = getattr(settings, name)
        try:
            if not isinstance(value, str):
                raise ValueError("not a rate")
            parse_rate(value)
        except ValueError as e:
            yield _error(
                name, value, str(e), hint="A count per period: 10/min, 5/s, 100/hour, 3/10min, 2/day."
            )


def _numbers() -> Iterable[checks.Error]:
    for name, lowest, exclusive in NUMBER_SETTINGS:
        if not hasattr(settings, name):
            continue
        value = getattr(settings, name)
        if not _is_number(value) or value < lowest or (exclusive and value == lowest):
            yield _error(name, value, f"must be a number {'above' if exclusive else 'of at least'} {lowest}")


def _database_and_tokens() -> Iterable[checks.Error]:
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    if isinstance(pool, dict):
        low, high, wait = pool.get("min_size", 0), pool.get("max_size", 1), pool.get("timeout", 1)
        if not _is_number(low) or low < 0:
            yield _error("DATABASE_POOL_MIN_SIZE", low, "must be a number of at least 0")
        if not _is_number(high) or high < 1 or (_is_number(low) and high < low):
            yield _error(
                "DATABASE_POOL_MAX_SIZE", high, "must be at least 1 and at least DATABASE_POOL_MIN_SIZE"
            )
        if not _is_number(wait) or wait <= 0:
            yield _error("DATABASE_POOL_TIMEOUT", wait, "must be a number of seconds above 0")
    max_age = settings.DATABASES["default"].get("CONN_MAX_AGE")
    if max_age is not None and (not _is_number(max_age) or max_age < 0):
        yield _error("DATABASE_CONN_MAX_AGE", max_age, "must be a number of seconds of at least 0")
    jwt = getattr(settings, "SIMPLE_JWT", {})
    for name, key in (
        ("JWT_ACCESS_MINUTES", "ACCESS_TOKEN_LIFETIME"),
        ("JWT_REFRESH_MAX_DAYS", "REFRESH_TOKEN_LIFETIME"),
    ):
        lifetime = jwt.get(key)
        if isinstance(lifetime, timedelta) and lifetime <= timedelta(0):
            yield _error(name, lifetime, "must be above 0")
    hsts = getattr(settings, "SECURE_HSTS_SECONDS", 0)
    if not _is_number(hsts) or hsts < 0:
        yield _error("DJANGO_SECURE_HSTS_SECONDS", hsts, "must be a number of seconds of at least 0")


def _proxies() -> Iterable[checks.Error]:
    proxies = getattr(settings, "TRUSTED_PROXIES", [])
    for entry in proxies if isinstance(proxies, list | tuple) else [proxies]:
        try:
            ipaddress.ip_network(str(entry).strip(), strict=False)
        except ValueError:
            yield _error(
                "TRUSTED_PROXIES",
                ",".join(map(str, proxies)) if isinstance(proxies, list | tuple) else proxies,
                f"{entry!r} is not an IP address or network",
                hint="Comma-separated addresses or CIDR networks (127.0.0.1,10.0.0.0/8,::1); '' trusts none.",
            )


def _urls() -> Iterable[checks.Error]:
    for name in URL_SETTINGS + OPTIONAL_URL_SETTINGS:
        value = getattr(settings, name, "")
        if name in OPTIONAL_URL_SETTINGS and value == "":
            continue
        try:
            parts = urlsplit(value) if isinstance(value, str) else None
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            yield _error(name, value, "must be an absolute http:// or https:// URL")


def _prefixes() -> Iterable[checks.Error]:
    for name, prefixes in PREFIX_SETTINGS:
        value = getattr(settings, name, "")
        if value and (not isinstance(value, str) or not value.startswith(prefixes)):
            # The value may be a secret: named by its variable, never shown.
            yield checks.Error(f"{name} does not start with {' or '.join(prefixes)}", id=f"config.{name}")


def _statuses() -> Iterable[checks.Error]:
    statuses = getattr(settings, "BILLING_ACCESS_STATUSES", [])
    unknown = [s for s in statuses if s not in STRIPE_SUBSCRIPTION_STATUSES]
    if unknown:
        yield _error(
            "BILLING_ACCESS_STATUSES",
            ",".join(statuses),
            f"not a Stripe subscription status: {', '.join(unknown)}",
            hint=f"Any of {', '.join(sorted(STRIPE_SUBSCRIPTION_STATUSES))}.",
        )


def settings_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every setting read from the environment that has a shape or a range."""
    return [
        *_rates(),
        *_numbers(),
        *_database_and_tokens(),
        *_proxies(),
        *_urls(),
        *_prefixes(),
        *_statuses(),
    ]


def fail_on_errors() -> None:
    """Run every system check (as `runserver` does before serving), and raise SystemCheckError,
    naming each problem, if any is an error: for servers that do not run the checks."""
    errors = [m for m in checks.run_checks() if m.is_serious() and not m.is_silenced()]
    if errors:
        raise SystemCheckError("System check identified some issues:\n" + "\n".join(str(e) for e in errors))
