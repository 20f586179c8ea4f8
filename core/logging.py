"""Log records as one line of `event key=value ...`, from the record's `extra` fields.

Callers log events, not prose: `logger.info("billing.portal_session_created", extra={...})`.
The fields are theirs to choose, and they never pass secrets, tokens or portal URLs.
"""

from __future__ import annotations

import logging

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
