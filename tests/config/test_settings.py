"""Settings from the environment, checked the way an operator starts the app: a new process."""

import os
import subprocess
import sys
from pathlib import Path

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
    assert engine == "django.db.backends.sqlite3" and name.endswith("db.sqlite3")
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
