"""The configured Stripe client: key, pinned API version, optional local base URL, timeouts,
retries and a kept-alive connection per thread, every try bounded by the request's deadline."""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

import requests
import stripe
from django.conf import settings

from billing.errors import (
    BillingNotConfigured,
)
from billing.stripe_gateway.resilience import _MIN_TRY_SECONDS, _DeadlineSpent, _state, _time_left

logger = logging.getLogger(__name__)


# The API version this SDK release is generated against: request and response shapes
# (subscription periods on items, for instance) follow it. Upgrade the SDK and this together.
STRIPE_API_VERSION = "2026-10-28.endive"


# Connect timeout is short (an unreachable Stripe should fail fast); the read timeout leaves
# room for Stripe's own slow answers while a person waits.
_CONNECT_TIMEOUT_SECONDS = 3.0


_STRIPE_API = "https://api.stripe.com"  # the SDK's own default address


class _DeadlineHTTPClient(stripe.RequestsClient):
    """Stripe's requests client, bounded by the calling thread's deadline (`request_deadline`).

    Each try's connect and read timeouts are cut to the time left, no retry starts once too
    little is left, and the back-off never sleeps past it: all the tries of one call, and all
    the calls of one request, end by the deadline.
    """

    def __init__(self, *, connect: float, read: float, proxies: dict[str, str] | None = None) -> None:
        self._base_timeout = (connect, read)
        super().__init__(timeout=(connect, read), proxy=proxies or None)  # type: ignore[arg-type]

    @property  # type: ignore[override]
    def _timeout(self) -> tuple[float, float]:
        connect, read = self._base_timeout
        left = _time_left()
        if left is None:
            return connect, read
        return min(connect, left), min(read, left)

    @_timeout.setter
    def _timeout(self, value: Any) -> None:  # the base class sets it once, in __init__
        pass

    def request(self, method: str, url: str, headers: Any, post_data: Any = None, **kwargs: Any) -> Any:
        left = _time_left()
        if left is not None and left <= 0:
            raise _DeadlineSpent("The request's time for Stripe ran out", should_retry=False)
        limiter = getattr(_state, "limiter", None)
        if limiter is not None:  # the sync's calls, every try included, keep to its rate
            limiter.acquire()
        bulkhead = getattr(_state, "unsent", None)
        if bulkhead is not None:  # the call's first try: the bulkhead sees its calls move
            _state.unsent = None
            bulkhead.sent()
        if getattr(self._thread_local, "session", None) is None:
            # The environment's proxy settings were read once, for the one Stripe address
            # (`_client_for`); requests would otherwise read and match them on every call (a
            # tenth of the portal request's own CPU).
            session = requests.Session()
            session.trust_env = False
            self._thread_local.session = session
        return super().request(method, url, headers, post_data, **kwargs)

    def _should_retry(
        self, response: Any, api_connection_error: Any, num_retries: int, max_network_retries: Any
    ) -> bool:
        left = _time_left()
        if getattr(_state, "single_try", False) or (left is not None and left < _MIN_TRY_SECONDS):
            return False
        return bool(super()._should_retry(response, api_connection_error, num_retries, max_network_retries))

    def _sleep_time_seconds(self, num_retries: int) -> float:
        left = _time_left()
        sleep = float(super()._sleep_time_seconds(num_retries))
        return sleep if left is None else max(0.0, min(sleep, left - _MIN_TRY_SECONDS))


@functools.lru_cache(maxsize=4)
def _client_for(api_key: str, api_base: str, read_timeout: float, max_retries: int) -> stripe.StripeClient:
    # One client per configuration, shared by every thread of the process: its requests
    # session is per thread, so each thread keeps its own connection to Stripe alive.
    return stripe.StripeClient(
        api_key,
        stripe_version=STRIPE_API_VERSION,
        base_addresses={"api": api_base} if api_base else None,  # type: ignore[typeddict-item]
        max_network_retries=max_retries,
        http_client=_DeadlineHTTPClient(
            connect=_CONNECT_TIMEOUT_SECONDS,
            read=read_timeout,
            # HTTPS_PROXY / NO_PROXY, as requests would apply them to this address
            proxies=requests.utils.get_environ_proxies(api_base or _STRIPE_API),
        ),
    )


# lru_cache holds no lock while it builds a value: the first requests of a fresh worker, on
# all its threads at once, would each build a client, and every thread would later open a
# second connection to Stripe through the one that stayed cached (bench/README.md). With the
# lock, one client per configuration, one connection a thread.
_client_lock = threading.Lock()


def client() -> stripe.StripeClient:
    """The configured client (calls go through `_call`, which bounds and maps them)."""
    if not settings.STRIPE_SECRET_KEY:
        raise BillingNotConfigured("Billing is not configured: no Stripe key is set")
    with _client_lock:
        return _client_for(
            settings.STRIPE_SECRET_KEY,
            settings.STRIPE_API_BASE,
            settings.STRIPE_TIMEOUT_SECONDS,
            settings.STRIPE_MAX_NETWORK_RETRIES,
        )


def is_test_mode() -> bool:
    return "_live_" not in settings.STRIPE_SECRET_KEY


def customer_dashboard_url(customer_id: str) -> str:
    mode = "test/" if is_test_mode() else ""
    return f"https://dashboard.stripe.com/{mode}customers/{customer_id}"
