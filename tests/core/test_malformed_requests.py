"""Malformed and hostile requests to the API paths: every answer is the JSON envelope with a
4xx, never an HTML page and never a 500 (the client's mistake is not our crash)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests import figures

MB = 1024 * 1024


def assert_json_4xx(response, status: int, error_code: str) -> None:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    body = json.loads(response.content)
    assert body["success"] is False and body["error_code"] == error_code and body["message"], body
    figures.count("malformed requests", "answered with the JSON envelope")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/auth/token/", "/auth/token/refresh/"])
def test_a_body_over_djangos_upload_limit_is_413_not_500(path):
    body = json.dumps({"email": "a" * (3 * MB), "password": "x", "refresh": "y"})
    response = Client().generic("POST", path, body, content_type="application/json")
    assert_json_4xx(response, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/subscriptions/portal", "/auth/token/", "/subscriptions/my", "/api/schema/"]
)
def test_a_host_we_do_not_serve_is_400(path):
    response = Client().generic("POST" if "schema" not in path else "GET", path, HTTP_HOST="evil.example.com")
    assert_json_4xx(response, 400, "BAD_REQUEST")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [
        ("application/json", "{not json", 400, "VALIDATION_ERROR"),
        ("application/json", "[" * 100_000 + "]" * 100_000, 400, "VALIDATION_ERROR"),
        ("application/json", "[1, 2]", 400, "VALIDATION_ERROR"),
        ("text/plain", "email=a&password=b", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("multipart/form-data; boundary=zz", "--zz--", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("application/json", '{"email": "\\ud800", "password": "x"}', 400, "VALIDATION_ERROR"),
    ],
)
def test_the_token_api_refuses_bodies_it_cannot_read(content_type, body, status, code):
    response = Client().generic("POST", "/auth/token/", body, content_type=content_type)
    assert_json_4xx(response, status, code)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/subscriptions/%ff%fe", "/subscriptions/portal/../../admin/", "/subscriptions/\x00"]
)
def test_odd_paths_under_the_api_are_json_404s(path):
    response = Client().post(path)
    assert_json_4xx(response, 404, "NOT_FOUND")


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["FOO", "TRACE", "PROPFIND"])
def test_odd_methods_are_json_405s(method):
    response = Client().generic(method, "/subscriptions/portal")
    assert_json_4xx(response, 405, "METHOD_NOT_ALLOWED")
