"""Settings from the environment, checked the way an operator starts the app: a new process."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "x" * 20 + "-production-like-secret-key-with-enough-entropy-9f8e7d6c5b4a",
    "DJANGO_ALLOWED_HOSTS": "billing.example.com",
    "SITE_URL": "https://billing.example.com",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "STRIPE_")) and k not in {"DATABASE_URL", "REDIS_URL"}
    }
    base["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_start_up_refuses_a_missing_secret_key_without_debug():
    result = run_manage("check", env={})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_debug_runs_with_the_dev_key():
    result = run_manage("check", env={"DJANGO_DEBUG": "1"})
    assert result.returncode == 0, result.stderr


def test_check_deploy_is_clean_with_production_variables():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_ssl_redirect_is_on_by_default_in_production():
    from django.conf import settings

    code = (
        "from django.conf import settings; "
        "print(settings.SECURE_SSL_REDIRECT, settings.SESSION_COOKIE_SECURE)"
    )
    result = run_manage("shell", "--no-imports", "-c", code, env=PRODUCTION_ENV)
    assert result.stdout.split() == ["True", "True"], result.stderr
    off = run_manage(
        "shell", "--no-imports", "-c", code, env={**PRODUCTION_ENV, "DJANGO_SECURE_SSL_REDIRECT": "0"}
    )
    assert off.stdout.split() == ["False", "False"], off.stderr
    assert settings.SECURE_SSL_REDIRECT is False  # the suite itself runs on plain HTTP


def test_database_and_cache_come_from_the_environment():
    code = (
        "from django.conf import settings; d=settings.DATABASES['default']; "
        "print(d['ENGINE'], d['NAME'], settings.CACHES['default']['BACKEND'])"
    )
    pg = run_manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        env={
            **PRODUCTION_ENV,
            "DATABASE_URL": "postgres://u:p@db.internal:5432/billing",
            "REDIS_URL": "redis://cache:6379/1",
        },
    )
    assert pg.stdout.split() == [
        "core.backends.postgresql",  # Django's, with the pool's check of core/pool.py
        "billing",
        "django_redis.cache.RedisCache",
    ], pg.stderr
    default = run_manage("shell", "--no-imports", "-c", code, env=PRODUCTION_ENV)
    engine, name, cache = default.stdout.split()
    assert engine == "core.backends.sqlite3" and name.endswith("db.sqlite3")  # Django's, writers in turn
    assert cache == "core.cache.FileBasedCache"  # Django's file cache, minus its random cull


def test_postgresql_statements_are_prepared_unless_turned_off():
    code = (
        "from django.conf import settings; o=settings.DATABASES['default']['OPTIONS']; "
        "print(o.get('server_side_binding'), o.get('prepare_threshold'))"
    )
    env = {**PRODUCTION_ENV, "DATABASE_URL": "postgres://u:p@db.internal:5432/billing"}
    assert run_manage("shell", "--no-imports", "-c", code, env=env).stdout.split() == ["True", "5"]
    two = run_manage("shell", "--no-imports", "-c", code, env={**env, "DATABASE_PREPARE_THRESHOLD": "2"})
    assert two.stdout.split() == ["True", "2"], two.stderr
    off = run_manage("shell", "--no-imports", "-c", code, env={**env, "DATABASE_PREPARE_THRESHOLD": "off"})
    assert off.stdout.split() == ["None", "None"], off.stderr
    bad = run_manage("shell", "--no-imports", "-c", code, env={**env, "DATABASE_PREPARE_THRESHOLD": "0"})
    assert bad.returncode != 0 and "DATABASE_PREPARE_THRESHOLD" in bad.stderr


# --- settings checked at start-up (core/checks.py) ------------------------------------------


def test_a_bad_rate_stops_check_and_migrate_naming_the_variable(tmp_path):
    env = {**PRODUCTION_ENV, "LOGIN_RATE": "5/minute", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    for command in ("check", "migrate"):
        result = run_manage(command, env=env)
        assert result.returncode != 0, (command, result.stdout)
        assert "LOGIN_RATE='5/minute'" in result.stderr, (command, result.stderr)
    # migrate stopped before migrating (its database checks may have opened the file).
    database = tmp_path / "db.sqlite3"
    if database.exists():
        with sqlite3.connect(database) as db:
            assert db.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_every_bad_value_stops_check_naming_each_variable():
    # One process: the checks report every problem at once.
    bad = {
        "BILLING_PORTAL_RATE": "ten/min",
        "TRUSTED_PROXIES": "10.0.0.0/8,nginx",
        "STRIPE_MAX_CONCURRENT_CALLS": "0",
    }
    result = run_manage("check", env={**PRODUCTION_ENV, **bad})
    assert result.returncode != 0, result.stdout
    for variable in bad:
        assert f"{variable}=" in result.stderr, (variable, result.stderr)


@pytest.mark.parametrize(
    ("variable", "value"), [("STRIPE_TIMEOUT_SECONDS", "abc"), ("JWT_ACCESS_MINUTES", "5m")]
)
def test_a_value_that_is_not_a_number_stops_the_settings_naming_it(variable, value):
    result = run_manage("check", env={**PRODUCTION_ENV, variable: value})
    assert result.returncode != 0, result.stdout
    assert f"{variable}=" in result.stderr, result.stderr


def test_a_bad_postgresql_pool_stops_check_naming_each_variable():
    bad = {"DATABASE_POOL_MAX_SIZE": "0", "DATABASE_POOL_TIMEOUT": "0", "DATABASE_POOL_MIN_SIZE": "-1"}
    env = {**PRODUCTION_ENV, "DATABASE_URL": "postgres://u:p@db.internal:5432/billing", **bad}
    result = run_manage("check", env=env)
    assert result.returncode != 0, result.stdout
    for variable in bad:
        assert f"{variable}=" in result.stderr, (variable, result.stderr)


def run_gunicorn(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """gunicorn as the README starts it, on a free port; a good configuration would serve
    until the timeout (a hang is a failure here, not a figure)."""
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            **PRODUCTION_ENV,
            "GUNICORN_BIND": "127.0.0.1:0",
            "GUNICORN_WORKERS": "1",
            "GUNICORN_THREADS": "2",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_gunicorn_refuses_to_start_with_bad_settings_naming_each():
    # The app's settings (checked as config/wsgi.py loads) and gunicorn's own variables.
    result = run_gunicorn({"LOGIN_RATE": "5/minute", "STRIPE_BREAKER_SECONDS": "0"})
    assert result.returncode != 0, result.stderr
    assert "LOGIN_RATE=" in result.stderr and "STRIPE_BREAKER_SECONDS=" in result.stderr, result.stderr
    result = run_gunicorn({"GUNICORN_THREADS": "lots"})
    assert result.returncode != 0, result.stderr
    assert "GUNICORN_THREADS=" in result.stderr, result.stderr


def test_one_port_setting_moves_the_site_url_and_gunicorn():
    code = (
        "from django.conf import settings; "
        "print(settings.PORT, settings.SITE_URL, settings.BILLING_PORTAL_RETURN_URL)"
    )
    env = {"DJANGO_DEBUG": "1", "PORT": "8001"}
    moved = run_manage("shell", "--no-imports", "-c", code, env=env)
    assert moved.stdout.split() == ["8001", "http://127.0.0.1:8001", "http://127.0.0.1:8001/billing/"], (
        moved.stderr
    )
    bind = subprocess.run(
        [sys.executable, "-c", "import config.gunicorn as g; print(g.bind)"],
        cwd=ROOT,
        env={**os.environ, "PORT": "8001"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bind.stdout.strip() == "127.0.0.1:8001", bind.stderr
    script = (ROOT / "scripts" / "run").read_text()
    assert '--webhook-url "http://127.0.0.1:$PORT/subscriptions/webhook"' in script
    assert 'echo "Serving on http://127.0.0.1:$PORT/' in script
