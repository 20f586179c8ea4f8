"""The idempotency keys the app sends Stripe: a row's key behind this deployment's prefix."""

from __future__ import annotations

from django.conf import settings


def sent(key: str) -> str:
    return f"{settings.STRIPE_IDEMPOTENCY_PREFIX}-{key}"
