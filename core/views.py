from __future__ import annotations

import logging
import secrets
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core import tasks

logger = logging.getLogger(__name__)


def _database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.warning("healthz.database_failed", exc_info=True)
        return False
    return True


def _cache() -> bool:
    """Write a key, read it back: the shared cache holds the rate limits."""
    key, value = f"healthz:{secrets.token_hex(8)}", secrets.token_hex(8)
    try:
        cache.set(key, value, timeout=10)
        ok = cache.get(key) == value
        cache.delete(key)
    except Exception:
        logger.warning("healthz.cache_failed", exc_info=True)
        return False
    if not ok:
        logger.warning("healthz.cache_failed")
    return ok


def _tasks() -> dict[str, Any] | None:
    """The background queue: tasks due or running, the oldest's wait, tasks given up."""
    try:
        return tasks.queue_report()
    except Exception:
        logger.warning("healthz.tasks_failed", exc_info=True)
        return None


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers a query, the cache keeps a key and the oldest task waiting
    for a worker is younger than `TASKS_STALE_SECONDS` (no worker, or too few, show here);
    503 saying which failed. Tasks given up are reported, and cause no 503."""
    checks = {"database": _database(), "cache": _cache()}
    report = _tasks() if checks["database"] else None
    oldest = report["oldest_seconds"] if report else None
    checks["tasks"] = report is not None and (oldest is None or oldest <= settings.TASKS_STALE_SECONDS)
    if report is not None and not checks["tasks"]:
        logger.warning("healthz.tasks_stale", extra=report)
    body: dict[str, Any] = {"status": "ok", "tasks": report}
    if all(checks.values()):
        return JsonResponse(body)
    body["status"] = "unavailable"
    body["checks"] = {name: "ok" if ok else "failed" for name, ok in checks.items()}
    return JsonResponse(body, status=503)
