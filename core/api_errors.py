"""The JSON error envelope of the API: `{"success": false, "error_code": ..., "message": ...}`.

Every error of an API path takes this shape, whichever layer raised it: DRF and simplejwt
(through `exception_handler`), Django's routing and crashes (through the `handler*` views,
which answer JSON for API paths and HTML elsewhere).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core.errors import ApplicationError, retry_after_seconds

logger = logging.getLogger(__name__)

# A database that is down, restarting or out of pooled connections answers again soon.
DATABASE_RETRY_AFTER_SECONDS = 5

# Paths whose errors are answered in JSON even when Django itself raised them.
API_PATH_PREFIXES = ("/subscriptions/", "/subscriptions", "/auth/", "/api/")


def error_body(error_code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"success": False, "error_code": error_code, "message": message, **extra}


def retry_after_header(seconds: float | None) -> str:
    return str(retry_after_seconds(seconds))


def _auth_failure(exc: exceptions.APIException) -> tuple[int, str, str]:
    # simplejwt's exceptions carry {"detail": ..., "code": ...} as their detail.
    detail = exc.detail
    code = str(detail.get("code", "")) if isinstance(detail, dict) else str(exc.get_codes())
    if code == "user_not_found":
        return status.HTTP_404_NOT_FOUND, "USER_NOT_FOUND", "User not found"
    if code == "user_inactive":
        return status.HTTP_401_UNAUTHORIZED, "USER_INACTIVE", "User is inactive"
    if code == "no_active_account":
        return (
            status.HTTP_401_UNAUTHORIZED,
            "INVALID_CREDENTIALS",
            "No active account found with the given credentials",
        )
    return status.HTTP_401_UNAUTHORIZED, "INVALID_TOKEN", "Token is invalid or expired"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: map every exception to the envelope."""
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if isinstance(exc, ApplicationError):
        status_code, code, message = exc.status_code, exc.error_code, exc.message
        if exc.retry_after is not None:
            headers["Retry-After"] = retry_after_header(exc.retry_after)
        if code == "INTERNAL_ERROR":
            # A failure the app raised itself (and logged where it happened): the view's own
            # sentence for it, as for an unexpected exception.
            message = getattr(context.get("view"), "internal_error_message", message)
    elif isinstance(exc, exceptions.NotAuthenticated):
        status_code, code, message = 401, "UNAUTHORIZED", "Authentication credentials were not provided"
    elif isinstance(exc, exceptions.AuthenticationFailed):
        status_code, code, message = _auth_failure(exc)
    elif isinstance(exc, exceptions.MethodNotAllowed):
        status_code, code, message = 405, "METHOD_NOT_ALLOWED", str(exc.detail)
    elif isinstance(exc, exceptions.Throttled):
        status_code, code, message = 429, "RATE_LIMITED", "Too many requests; try again later"
        headers["Retry-After"] = retry_after_header(getattr(exc, "wait", None))
    elif isinstance(exc, exceptions.ParseError):
        # A body that is not JSON: as much the client's invalid input as a missing field.
        status_code, code, message = 400, "VALIDATION_ERROR", "Request body is not valid JSON"
    elif isinstance(exc, exceptions.ValidationError):
        status_code, code, message = 400, "VALIDATION_ERROR", "Invalid input"
        extra["errors"] = exc.detail
    elif isinstance(exc, Http404 | exceptions.NotFound):
        status_code, code, message = 404, "NOT_FOUND", "Not found"
    elif isinstance(exc, PermissionDenied | exceptions.PermissionDenied):
        status_code, code, message = 403, "FORBIDDEN", "Forbidden"
    elif isinstance(exc, exceptions.APIException):
        status_code = exc.status_code
        code = str(exc.default_code).upper()
        message = str(exc.detail)
    elif isinstance(exc, RequestDataTooBig):
        # Raised while DRF reads a body over DATA_UPLOAD_MAX_MEMORY_SIZE: the client's doing.
        status_code, code, message = 413, "PAYLOAD_TOO_LARGE", "Request body too large"
    elif isinstance(exc, SuspiciousOperation):
        status_code, code, message = 400, "BAD_REQUEST", "Bad request"  # as Django answers it
    elif isinstance(exc, OperationalError | InterfaceError):
        # The database is unreachable, restarting, or gave no pooled connection in time (or
        # SQLite's file stayed locked past its timeout): the same request may work shortly.
        logger.warning("api.database_unavailable", exc_info=True, extra={"path": context["request"].path})
        status_code, code = 503, "SERVICE_UNAVAILABLE"
        message = "The service is briefly unavailable; please try again in a few seconds"
        headers["Retry-After"] = retry_after_header(DATABASE_RETRY_AFTER_SECONDS)
    else:
        # An unexpected failure: logged with its traceback, answered without details.
        logger.exception("api.unhandled_error", extra={"path": context["request"].path})
        view = context.get("view")
        status_code, code = 500, "INTERNAL_ERROR"
        message = getattr(view, "internal_error_message", "Internal server error")
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        request = context.get("request")
        view = context.get("view")
        if request is not None and view is not None:
            www = view.get_authenticate_header(request)
            if www and status_code == 401:
                headers["WWW-Authenticate"] = www
    set_rollback()
    request = context.get("request")
    if request is not None:
        # The envelope is JSON whichever renderer the view negotiated (the docs page's is HTML).
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = "application/json"
    return Response(error_body(code, message, **extra), status=status_code, headers=headers)


def is_api_path(request: HttpRequest) -> bool:
    return request.path.startswith(API_PATH_PREFIXES)


def _json(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request):
        return _json(400, "BAD_REQUEST", "Bad request")
    return defaults.bad_request(request, exception)  # type: ignore[arg-type]


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request):
        return _json(403, "FORBIDDEN", "Forbidden")
    return defaults.permission_denied(request, exception)  # type: ignore[arg-type]


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request):
        return _json(404, "NOT_FOUND", "Not found")
    return defaults.page_not_found(request, exception)  # type: ignore[arg-type]


def handler500(request: HttpRequest) -> HttpResponse:
    if is_api_path(request):
        return _json(500, "INTERNAL_ERROR", "Internal server error")
    return defaults.server_error(request)
