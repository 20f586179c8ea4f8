"""Every path of the API, every method, and some hostile variations: every error answer is the
JSON envelope with a sane status, never an HTML page and never a 500."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework_simplejwt.tokens import RefreshToken

API_PREFIXES = ("subscriptions", "auth/", "api/")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DEEP = "[" * 100_000 + "]" * 100_000


def _paths(patterns, prefix: str = "") -> list[str]:
    found: list[str] = []
    for p in patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            found += _paths(p.url_patterns, route)
        elif isinstance(p, URLPattern):
            found.append("/" + re.sub(r"<[^>]+>", "x1", route.lstrip("^").rstrip("$")))
    return found


API_PATHS = sorted({p for p in _paths(get_resolver().url_patterns) if p.lstrip("/").startswith(API_PREFIXES)})


def test_the_sweep_sees_the_api():
    assert {"/auth/token/", "/auth/token/blacklist/", "/subscriptions/portal", "/api/docs/"} <= set(API_PATHS)


def assert_sane(response, method: str) -> None:
    where = (method, response.status_code, response.content[:200])
    assert response.status_code < 500, where
    if method == "HEAD":
        assert response.content == b"", where
    if response.status_code < 400:
        return
    assert response["Content-Type"] == "application/json", where
    if method == "HEAD":
        return
    body = json.loads(response.content)
    assert body["success"] is False, where
    assert isinstance(body["error_code"], str) and body["error_code"], where
    assert isinstance(body["message"], str) and body["message"], where


@pytest.fixture
def bearer(owner) -> str:
    return str(RefreshToken.for_user(owner).access_token)


@pytest.mark.django_db
@pytest.mark.parametrize("path", API_PATHS)
@pytest.mark.parametrize("method", METHODS)
def test_every_method_of_every_api_path_answers_the_envelope(path, method, bearer):
    for client, body in (
        (Client(), None),
        (Client(), DEEP),
        (Client(HTTP_AUTHORIZATION=f"bearer {bearer}"), "{not json"),
        (Client(HTTP_AUTHORIZATION="Token abc"), None),
    ):
        for query in ("", "?format=xml"):
            response = client.generic(method, path + query, body or "", content_type="application/json")
            assert_sane(response, method)
            if method == "HEAD":  # served wherever GET is, as GET is
                get = client.generic("GET", path + query, body or "", content_type="application/json")
                assert response.status_code == get.status_code, (path, query, get.content[:200])


NUL_BODY = json.dumps(
    {k: "\x00" for k in ("email", "password", "refresh", "subscriptionPeriodId", "name", "role")}
)


@pytest.mark.django_db
@pytest.mark.parametrize("path", API_PATHS)
@pytest.mark.parametrize("method", ("GET", "POST", "DELETE"))
def test_nul_bytes_anywhere_the_client_writes_are_never_a_500(path, method, bearer):
    # PostgreSQL refuses a NUL byte in any string it is sent: every id, date, field or header
    # from the client is checked before a query (run the suite on PostgreSQL to see it).
    query = "?" + "&".join(f"{k}=%00" for k in ("startDate", "endDate", "session_id", "checkout"))
    for client in (Client(HTTP_AUTHORIZATION=f"Bearer {bearer}"), Client()):
        for where in (path.replace("x1", "%00"), path.replace("x1", "cs_1%00") + query):
            response = client.generic(
                method, where, NUL_BODY, content_type="application/json", HTTP_X_FORWARDED_FOR="\x00"
            )
            assert_sane(response, method)


@pytest.mark.django_db
@pytest.mark.parametrize("path", API_PATHS)
def test_format_xml_is_ignored(path):
    plain = Client().get(path)
    assert Client().get(path + "?format=xml").status_code == plain.status_code


@pytest.mark.django_db
def test_a_deep_json_body_is_a_validation_error():
    response = Client().post("/auth/token/", DEEP, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error_code"] == "VALIDATION_ERROR"


@pytest.mark.django_db
def test_post_to_the_docs_is_a_json_405():
    for path in ("/api/docs/", "/api/schema/"):
        response = Client().post(path)
        assert response.status_code == 405, response.content
        assert response.json()["error_code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.django_db
def test_head_is_get_without_a_body(bearer):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {bearer}")
    get, head = client.get("/subscriptions/my"), client.head("/subscriptions/my")
    assert get.status_code == head.status_code == 200
    assert head.content == b""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Token abc", "UNAUTHORIZED"),
        ("Basic dXNlcjpwdw==", "UNAUTHORIZED"),
        ("bearer", "INVALID_TOKEN"),
        ("Bearer a b", "INVALID_TOKEN"),
    ],
)
def test_other_schemes_are_no_credentials_and_bare_bearer_is_invalid(header, code):
    response = Client(HTTP_AUTHORIZATION=header).post("/subscriptions/portal")
    assert response.status_code == 401
    assert response.json()["error_code"] == code


def test_http404_and_permission_denied_from_a_view_are_the_envelope(rf):
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    from core.api_errors import exception_handler

    request = rf.get("/subscriptions/my")
    for exc, status, code in ((Http404(), 404, "NOT_FOUND"), (PermissionDenied(), 403, "FORBIDDEN")):
        response = exception_handler(exc, {"request": request, "view": None})
        assert response is not None
        assert response.status_code == status and response.data["error_code"] == code


@pytest.mark.parametrize("exc_type", ["OperationalError", "InterfaceError"])
def test_a_database_that_does_not_answer_is_a_503_to_retry(rf, exc_type):
    from django import db

    from core.api_errors import exception_handler

    request = rf.post("/subscriptions/portal")
    exc = getattr(db, exc_type)("couldn't get a connection after 10.00 sec")
    response = exception_handler(exc, {"request": request, "view": None})
    assert response is not None
    assert response.status_code == 503
    assert response.data["error_code"] == "SERVICE_UNAVAILABLE"
    assert response["Retry-After"] == "5"
    assert "10.00" not in response.data["message"]  # the driver's words are logged, not answered
