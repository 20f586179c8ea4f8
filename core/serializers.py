"""Serializer fields every app's bodies share."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from rest_framework import serializers


class UtcDateTimeField(serializers.DateTimeField):
    """ISO 8601 in UTC with `Z` (`2026-01-31T00:00:00Z`), whatever time zone is active."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("default_timezone", UTC)
        super().__init__(**kwargs)


class SuccessField(serializers.BooleanField):
    """An envelope's `success`: true on every body built with it."""

    def get_attribute(self, instance: Any) -> bool:
        return True
