"""An invitation link's token never reaches a log line, whoever logs the path."""

from __future__ import annotations

import logging

from django.test import RequestFactory

from core.logging import EventFormatter, RedactLinkTokens

TOKEN = "Zx9-secret_token_value_1234567890abcdefghijk"


def _line(*args: object, **extra: object) -> str:
    record = logging.makeLogRecord(
        {
            "name": "django.request",
            "levelno": logging.ERROR,
            "levelname": "ERROR",
            "msg": args[0],
            "args": args[1:],
        }
    )
    record.__dict__.update(extra)
    assert RedactLinkTokens().filter(record)
    return EventFormatter().format(record)


def test_django_request_errors_on_invitation_paths_are_written_without_the_token():
    request = RequestFactory().post(f"/invitations/{TOKEN}/accept")
    line = _line(
        "Internal Server Error: %s", f"/invitations/{TOKEN}/accept", request=request, status_code=500
    )
    assert TOKEN not in line, line
    assert "/invitations/[redacted]/accept" in line and "status_code=500" in line


def test_other_lines_are_untouched():
    assert _line("billing.portal_session_created", user_id=1).endswith(
        "billing.portal_session_created user_id=1"
    )


def test_the_console_handler_of_the_settings_redacts():
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    assert any(any(isinstance(f, RedactLinkTokens) for f in h.filters) for h in handlers), handlers
