"""Assertions shared by the API tests."""

from __future__ import annotations

from typing import Any


def assert_error(response: Any, status: int, error_code: str) -> dict[str, Any]:
    """The response is the contract's JSON error envelope with this status and code."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json", response.content
    body: dict[str, Any] = response.json()
    assert body["success"] is False, body
    assert body["error_code"] == error_code, body
    assert isinstance(body["message"], str) and body["message"], body
    return body
