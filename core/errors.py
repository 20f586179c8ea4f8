"""The one application error base: every app's errors subclass it, and the API maps it once.

An error carries what both faces need: the HTTP status and `error_code` of the JSON envelope,
a message fit for a person, and, when the same request may work later, `retry_after` seconds.
Views never catch these to re-raise them: `core.api_errors.exception_handler` answers them in
the envelope, and the HTML views turn them into a message on the page.
"""

from __future__ import annotations

import math


class ApplicationError(Exception):
    error_code = "INTERNAL_ERROR"
    status_code = 500
    message = "Internal server error"
    retry_after: float | None = None

    def __init__(self, message: str | None = None, *, retry_after: float | None = None) -> None:
        if message is not None:
            self.message = message
        if retry_after is not None:
            self.retry_after = retry_after
        super().__init__(self.message)


class RateLimited(ApplicationError):
    """Too many requests of one kind by one caller; `retry_after` says when one is allowed again."""

    error_code = "RATE_LIMITED"
    status_code = 429
    message = "Too many requests; try again later"


def retry_after_seconds(seconds: float | None) -> int:
    """`Retry-After` in whole seconds, at least 1 (rounded up: a client that waits that long
    is let through)."""
    return max(1, math.ceil(seconds or 1))
