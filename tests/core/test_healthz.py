import pytest
from django.core.cache import cache
from django.db import connection
from django.db.utils import OperationalError


@pytest.mark.django_db
def test_healthz_ok_and_head(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "tasks": {"waiting": 0, "oldest_seconds": None, "failed": 0}}
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    head = client.head("/healthz")
    assert head.status_code == 200 and head.content == b""


@pytest.mark.django_db
def test_healthz_names_a_failed_database(client, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "tasks": None,  # not known without the database
        "checks": {"database": "failed", "cache": "ok", "tasks": "failed"},
    }


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["raises", "forgets"])
def test_healthz_names_a_failed_cache(client, monkeypatch, how):
    if how == "raises":

        def broken(*args, **kwargs):
            raise ConnectionError("cache down")

        monkeypatch.setattr(cache, "set", broken)
    else:
        monkeypatch.setattr(cache, "get", lambda *a, **k: None)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "tasks": {"waiting": 0, "oldest_seconds": None, "failed": 0},
        "checks": {"database": "ok", "cache": "failed", "tasks": "ok"},
    }


@pytest.mark.django_db
def test_cache_files_and_directory_are_owner_only(settings, tmp_path):
    import os
    import stat

    cache.set("k", "v")
    directory = settings.CACHES["default"]["LOCATION"]
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    for name in os.listdir(directory):
        assert stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode) & 0o077 == 0, name
