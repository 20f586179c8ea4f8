"""Assertions shared by the tests: the API error envelope, secrets kept out of log records."""

from __future__ import annotations

import logging
from typing import Any


def assert_error(response: Any, status: int, error_code: str) -> dict[str, Any]:
    """The response is the API's JSON error envelope with this status and code."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json", response.content
    body: dict[str, Any] = response.json()
    assert body["success"] is False, body
    assert body["error_code"] == error_code, body
    assert isinstance(body["message"], str) and body["message"], body
    return body


_STANDARD_RECORD_ATTRS = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 1, "x", None, None))) | {
    "message",
    "asctime",
}


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """What a handler could write out of a record: its message (raw and formatted), its args,
    its traceback text, and every `extra` attribute (whatever is not a standard LogRecord one)."""
    fields: dict[str, Any] = {"msg": record.msg, "message": record.getMessage(), "args": record.args}
    if record.exc_text:
        fields["exc_text"] = record.exc_text
    fields.update({k: v for k, v in vars(record).items() if k not in _STANDARD_RECORD_ATTRS})
    return fields


def assert_not_logged(records: list[logging.LogRecord], *secrets: str) -> None:
    """No record carries any of `secrets` anywhere a formatter could print it from."""
    assert records, "no log records to check"
    for secret in secrets:
        assert secret
        for record in records:
            for name, value in record_fields(record).items():
                assert secret not in str(value) and secret not in repr(value), (
                    f"{record.name} {record.getMessage()!r}: {name} carries a secret"
                )


def model_fields(obj: Any) -> dict[str, Any]:
    """A model instance's concrete field values, by attribute name: two loads of one row compare
    equal field for field."""
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}
