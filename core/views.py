from __future__ import annotations

import logging
import secrets

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

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


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers a query and the cache keeps a key, 503 saying which failed."""
    checks = {"database": _database(), "cache": _cache()}
    if all(checks.values()):
        return JsonResponse({"status": "ok"})
    return JsonResponse(
        {"status": "unavailable", "checks": {name: "ok" if ok else "failed" for name, ok in checks.items()}},
        status=503,
    )
