"""What every part of the stand-in shares: ids, the clock, the decoded request, list objects.

Also the subscription statuses and billing intervals that more than one resource checks.
"""

from __future__ import annotations

import random
import re
import string
import time
from dataclasses import dataclass
from typing import Any

_ALPHABET = string.ascii_letters + string.digits
_rng = random.Random()  # ids only need to be unique, not secret

API_KEY = re.compile(r"^(?:sk|rk)_(?:test|live)_[A-Za-z0-9_]+$")
DEFAULT_STRIPE_VERSION = "2026-10-28.endive"  # what stripe-python 16.1.0 pins
DAY = 86_400

SUBSCRIPTION_STATUSES = (
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "paused",
)
ENDED = ("canceled", "incomplete_expired")
# Statuses whose subscription provisions its product's features (Stripe keeps entitlements
# while a payment is being retried; they go when the subscription stops or is unpaid).
ENTITLED_STATUSES = ("trialing", "active", "past_due")
INTERVALS = ("day", "week", "month", "year")


def random_text(alphabet: str, length: int) -> str:
    return "".join(_rng.choices(alphabet, k=length))


def new_id(prefix: str, length: int = 14) -> str:
    return prefix + "_" + random_text(_ALPHABET, length)


def now() -> int:
    return int(time.time())


def list_object(data: list[dict[str, Any]], url: str, has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


@dataclass
class Call:
    """What an endpoint gets to see of a request."""

    method: str
    path: str
    query: dict[str, Any]
    params: dict[str, Any]  # decoded body
    api_key: str
    base_url: str  # how the client reached us, for URLs we hand out
    request_id: str
    args: tuple[str, ...] = ()  # path parameters, e.g. the customer id
    idempotency_key: str | None = None

    @property
    def livemode(self) -> bool:
        return "_live_" in self.api_key
