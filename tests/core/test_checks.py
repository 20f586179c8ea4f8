"""core.checks: every setting from the environment is checked at start-up, each bad value
reported with its variable's name."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core import checks
from django.core.management.base import SystemCheckError

from core.checks import RATE_SETTINGS, fail_on_errors, settings_check


def problems() -> dict[str, str]:
    return {str(m.id): m.msg for m in settings_check()}


def test_the_suites_settings_pass():
    assert problems() == {}


def test_the_check_is_registered(settings):
    settings.LOGIN_RATE = "5/minute"
    assert "config.LOGIN_RATE" in {m.id for m in checks.run_checks(tags=["settings"])}


def test_every_rate_setting_is_checked():
    # A new "N/period" setting must be added to RATE_SETTINGS.
    rates = {
        name
        for name in dir(django_settings)
        if name.endswith("_RATE")
        and isinstance(getattr(django_settings, name), str)
        and "/" in getattr(django_settings, name)
    }
    assert rates <= set(RATE_SETTINGS), rates - set(RATE_SETTINGS)


@pytest.mark.parametrize("name", RATE_SETTINGS)
@pytest.mark.parametrize("value", ["5/minute", "5", "", "5/0s", None])
def test_bad_rates(settings, name, value):
    setattr(settings, name, value)
    assert list(problems()) == [f"config.{name}"]
    assert problems()[f"config.{name}"].startswith(f"{name}={value!r}")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STRIPE_MAX_CONCURRENT_CALLS", 0),
        ("STRIPE_TIMEOUT_SECONDS", 0.0),
        ("STRIPE_DEADLINE_SECONDS", -1.0),
        ("STRIPE_MAX_NETWORK_RETRIES", -1),
        ("STRIPE_BREAKER_FAILURES", 0),
        ("STRIPE_BREAKER_SECONDS", 0.0),
        ("BILLING_TRIAL_DAYS", -1),
        ("BILLING_PLANS_CACHE_SECONDS", -5),
        ("STRIPE_MAX_CONCURRENT_CALLS", "32"),
        ("SITE_URL", "billing.example.com"),
        ("SITE_URL", "ftp://billing.example.com"),
        ("BILLING_PORTAL_RETURN_URL", "/billing/"),
        ("BILLING_CHECKOUT_SUCCESS_URL", "https://"),
        ("BILLING_CHECKOUT_CANCEL_URL", "http://[::1"),
        ("STRIPE_API_BASE", "localhost:12111"),
        ("BILLING_ACCESS_STATUSES", ["active", "paid"]),
        ("DJANGO_SECURE_HSTS_SECONDS", -1),
    ],
)
def test_bad_values(settings, name, value):
    setting = "SECURE_HSTS_SECONDS" if name == "DJANGO_SECURE_HSTS_SECONDS" else name
    setattr(settings, setting, value)
    assert list(problems()) == [f"config.{name}"], problems()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STRIPE_MAX_NETWORK_RETRIES", 0),
        ("BILLING_TRIAL_DAYS", 0),
        ("BILLING_PLANS_CACHE_SECONDS", 0),
        ("STRIPE_MAX_CONCURRENT_CALLS", 1),
        ("STRIPE_API_BASE", ""),
        ("STRIPE_SECRET_KEY", ""),
        ("STRIPE_SECRET_KEY", "rk_live_abc"),
        ("STRIPE_WEBHOOK_SECRET", ""),
        ("STRIPE_PORTAL_CONFIGURATION", "bpc_123"),
        ("TRUSTED_PROXIES", []),
        ("TRUSTED_PROXIES", ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7", " ::1 "]),
        ("BILLING_ACCESS_STATUSES", []),
        ("SITE_URL", "https://billing.example.com:8443/prefix"),
    ],
)
def test_good_edge_values(settings, name, value):
    setattr(settings, name, value)
    assert problems() == {}


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("STRIPE_SECRET_KEY", "pk_live_publishable", "sk_ or rk_"),
        ("STRIPE_WEBHOOK_SECRET", "sk_test_wrong_variable", "whsec_"),
        ("STRIPE_PORTAL_CONFIGURATION", "portal", "bpc_"),
    ],
)
def test_stripe_ids_and_secrets_are_checked_without_showing_them(settings, name, value, shown):
    setattr(settings, name, value)
    message = problems()[f"config.{name}"]
    assert name in message and shown in message
    assert value not in message  # possibly a secret: never printed


def test_trusted_proxies_names_each_bad_entry(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/33", "127.0.0.1", "nginx"]
    messages = [m.msg for m in settings_check()]
    assert len(messages) == 2 and all(m.startswith("TRUSTED_PROXIES=") for m in messages)
    assert "'10.0.0.0/33'" in messages[0] and "'nginx'" in messages[1]


def test_token_lifetimes(settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ACCESS_TOKEN_LIFETIME": timedelta(0)}
    assert set(problems()) == {"config.JWT_ACCESS_MINUTES"}
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "REFRESH_TOKEN_LIFETIME": timedelta(days=-1)}
    assert set(problems()) == {"config.JWT_ACCESS_MINUTES", "config.JWT_REFRESH_MAX_DAYS"}


def test_fail_on_errors_raises_naming_every_problem(settings):
    fail_on_errors()  # the suite's settings: nothing to say
    settings.LOGIN_RATE = "5/minute"
    settings.STRIPE_MAX_CONCURRENT_CALLS = 0
    with pytest.raises(SystemCheckError) as raised:
        fail_on_errors()
    assert "LOGIN_RATE='5/minute'" in str(raised.value)
    assert "STRIPE_MAX_CONCURRENT_CALLS=0" in str(raised.value)
