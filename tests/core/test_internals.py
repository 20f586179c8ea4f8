"""Canaries for the libraries' private parts the project leans on (docs/internals.md).

Each test names the private attribute or signature one of our modules relies on and fails
with a message pointing at that module when an upgrade of the library moves it. The
behaviour each hook buys is tested where the hook lives; these only make a silent break loud.
"""

from __future__ import annotations

import inspect

import psycopg_pool
import pytest
from django.core.cache.backends import filebased
from django.db.backends.postgresql import base as postgresql_base
from django.db.models import query as django_query
from django.db.models.sql.compiler import SQLCompiler
from django.views import View
from gunicorn.workers import gthread
from rest_framework.request import Request
from rest_framework.response import Response
from stripe._http_client import HTTPClient

MOVED = "a library's private part changed: see docs/internals.md ({where})"


def _params(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_stripe_http_client_hooks():
    where = "billing/stripe_gateway/connection.py, _DeadlineHTTPClient"
    assert _params(HTTPClient._should_retry) == [
        "self",
        "response",
        "api_connection_error",
        "num_retries",
        "max_network_retries",
    ], MOVED.format(where=where)
    assert _params(HTTPClient._sleep_time_seconds)[:2] == ["self", "num_retries"], MOVED.format(where=where)
    # A custom client implements `request` (public) and is called through the retry loop that
    # consults the two hooks above.
    assert _params(HTTPClient.request)[:5] == ["self", "method", "url", "headers", "post_data"], MOVED.format(
        where=where
    )
    assert "_should_retry" in inspect.getsource(HTTPClient._request_with_retries_internal), MOVED.format(
        where=where
    )


def test_stripe_retry_delays_the_tests_set_to_zero():
    where = "tests/conftest.py, the retry-delay fixture"
    assert isinstance(HTTPClient.INITIAL_DELAY, int | float), MOVED.format(where=where)
    assert isinstance(HTTPClient.MAX_DELAY, int | float), MOVED.format(where=where)


def test_psycopg_pool_keeps_its_check_in_a_private_attribute():
    where = "core/backends/postgresql, the pool's check"
    pool = psycopg_pool.ConnectionPool("", open=False, check=psycopg_pool.ConnectionPool.check_connection)
    assert pool._check is psycopg_pool.ConnectionPool.check_connection, MOVED.format(where=where)
    pool_property = inspect.getattr_static(postgresql_base.DatabaseWrapper, "pool")
    assert isinstance(pool_property, property), MOVED.format(where=where)
    assert callable(getattr(postgresql_base.DatabaseWrapper, "_close", None)), MOVED.format(where=where)


def test_django_file_cache_cull_hooks(tmp_path):
    where = "core/cache.py, the cull"
    cache = filebased.FileBasedCache(str(tmp_path), {"OPTIONS": {"MAX_ENTRIES": 5}})
    for name in ("_cull", "_list_cache_files", "_is_expired", "cache_suffix"):
        assert hasattr(cache, name), MOVED.format(where=where)
    assert cache._dir == str(tmp_path), MOVED.format(where=where)  # type: ignore[attr-defined]
    assert cache._max_entries == 5, MOVED.format(where=where)  # type: ignore[attr-defined]
    assert "self._cull()" in inspect.getsource(filebased.FileBasedCache.set), MOVED.format(where=where)


def test_django_sql_compiler_parts_the_compiled_queries_use():
    where = "core/queries.py"
    assert callable(getattr(django_query, "get_related_populators", None)), MOVED.format(where=where)
    for name in ("as_sql", "get_converters", "apply_converters", "has_composite_fields"):
        assert callable(getattr(SQLCompiler, name, None)), MOVED.format(where=where)
    source = inspect.getsource(SQLCompiler)
    for attribute in ("self.klass_info", "self.select", "self.col_count", "self.annotation_col_map"):
        assert attribute in source, MOVED.format(where=where)


def test_gunicorn_threaded_worker_hooks():
    where = "config/gunicorn_worker.py"
    assert hasattr(gthread, "_DEFER"), MOVED.format(where=where)
    assert _params(gthread.ThreadWorker.finish_request) == ["self", "conn", "fs"], MOVED.format(where=where)
    source = inspect.getsource(gthread.ThreadWorker)
    assert "self.nr_conns" in source and "self.poller" in source, MOVED.format(where=where)


@pytest.mark.parametrize(
    ("owner", "attribute"),
    [(Request, "parser_context"), (Response, "renderer_context")],
)
def test_drf_contexts_that_tie_the_cycles(owner, attribute):
    where = "core/api.py, _break_cycles"
    assert attribute in inspect.getsource(owner), MOVED.format(where=where)


def test_django_view_setup_still_sets_head_on_each_instance():
    # core/api.py sets `head` on the class so that View.setup skips its per-instance bound
    # method (a reference cycle); if Django stops doing that, the class attribute is harmless
    # but no longer needed.
    assert "self.head = self.get" in inspect.getsource(View.setup), MOVED.format(where="core/api.py, BaseApi")


def test_django_tasks_db_worker_and_result_fields_the_worker_command_uses():
    from django_tasks_db.management.commands import db_worker
    from django_tasks_db.models import DBTaskResult

    where = "core/management/commands/worker.py, core/tasks.py"
    assert _params(db_worker.Worker.__init__) == [
        "self",
        "queue_names",
        "interval",
        "batch",
        "backend_name",
        "startup_delay",
        "max_tasks",
        "worker_id",
        "excluded_queue_names",
    ], MOVED.format(where=where)
    assert hasattr(db_worker.Worker, "configure_signals"), MOVED.format(where=where)
    fields = {f.name for f in DBTaskResult._meta.get_fields()}
    assert {
        "status",
        "worker_ids",
        "started_at",
        "enqueued_at",
        "run_after",
        "args_kwargs",
        "task_path",
    } <= fields, MOVED.format(where=where)
