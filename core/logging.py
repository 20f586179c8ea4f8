"""Log records as one line of `event key=value ...`, from the record's `extra` fields.

Callers log events, not prose: `logger.info("billing.portal_session_created", extra={...})`.
The fields are theirs to choose, and they never pass secrets, tokens or portal URLs.
"""

from __future__ import annotations

import logging
import re

# Attributes every LogRecord has; anything else came in through `extra=`.
_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class EventFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(fmt="%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(
            # str() first: a TextChoices member logs as 'api', not PortalSession.Source.API.
            f"{key}={(str(value) if isinstance(value, str) else value)!r}"
            for key, value in record.__dict__.items()
            if key not in _STANDARD and not key.startswith("_")
        )
        return f"{line} {fields}" if fields else line


# An invitation link's token is a credential: a path that carries one (`/invitations/<token>/`,
# `/invitations/<token>/accept`) is written with the token replaced, whoever logs it (Django's
# request errors print the path and the request).
_INVITATION_PATH = re.compile(r"(/invitations/)[^/\s'\"?#>]+")


def _redact(value: object) -> object:
    if isinstance(value, str):
        return _INVITATION_PATH.sub(r"\1[redacted]", value)
    return value


class RedactLinkTokens(logging.Filter):
    """Replace invitation tokens in a record's message, arguments and `extra` fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(a) for a in record.args)
        for key, value in list(record.__dict__.items()):
            if key in _STANDARD or key.startswith("_"):
                continue
            text = value if isinstance(value, str) else repr(value)
            if "/invitations/" in text:
                setattr(record, key, _redact(text))
        return True
