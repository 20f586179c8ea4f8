"""Shift the clock that tokens are minted and checked by, without a dependency: simplejwt's
`aware_utcnow` and PyJWT's `datetime.now` (its `exp`/`iat`/`nbf` checks)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, tzinfo
from unittest import mock

import jwt.api_jwt
from rest_framework_simplejwt import tokens, utils


@contextmanager
def shifted(delta: timedelta) -> Iterator[None]:
    """Inside the block, "now" is `delta` from the real now for minting and checking tokens."""
    real = utils.aware_utcnow

    class _Datetime(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            return datetime.now(tz) + delta

    with (
        mock.patch.object(tokens, "aware_utcnow", lambda: real() + delta),
        mock.patch.object(jwt.api_jwt, "datetime", _Datetime),
    ):
        yield
