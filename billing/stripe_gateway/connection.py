"""The configured Stripe client: key, pinned API version, optional local base URL, timeouts,
retries and a pool of kept-alive connections, every try bounded by the request's deadline."""

from __future__ import annotations

import functools
import logging
import threading
import urllib.parse
from typing import Any

import requests
import stripe
import urllib3
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


class _DeadlineHTTPClient(stripe.HTTPClient):
    """Stripe's HTTP client on urllib3 (the transport under requests), bounded by the calling
    thread's deadline (`request_deadline`).

    A custom client on the SDK's documented base class. The SDK's own `RequestsClient` goes
    through requests' session, which merges settings, hooks and cookies for every call: 1.44 ms
    of CPU per portal session against 0.98 ms on urllib3 alone (1,500 calls in a row to the
    stand-in, measured in the calling process). Connections are kept alive in one pool per
    process, as many as the threads that may call at once.

    Each try's connect and read timeouts are cut to the time left, no retry starts once too
    little is left, and the back-off never sleeps past it: all the tries of one call, and all
    the calls of one request, end by the deadline.
    """

    name = "urllib3"

    def __init__(
        self, *, connect: float, read: float, proxy: str | None = None, connections: int = 10
    ) -> None:
        super().__init__(verify_ssl_certs=True, proxy=proxy)
        self._base_timeout = (connect, read)
        # No retries or redirects of urllib3's own: the SDK decides what is tried again.
        options: dict[str, Any] = {
            "maxsize": max(1, connections),
            "retries": False,
            "cert_reqs": "CERT_REQUIRED",
            "ca_certs": stripe.ca_bundle_path,
        }
        self._pool = urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)

    def request(
        self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: list[str] | None = None
    ) -> Any:
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
        connect, read = self._base_timeout
        if left is not None:
            connect, read = min(connect, left), min(read, left)
        try:
            response = self._pool.request(
                method,
                url,
                headers=headers,
                body=post_data,
                timeout=urllib3.Timeout(connect=connect, read=read),
                retries=False,
                redirect=False,
            )
        except Exception as e:  # every failure of the transport is the SDK's connection error
            raise _connection_error(e) from e
        return response.data, response.status, response.headers

    def close(self) -> None:
        self._pool.clear()

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


def _connection_error(e: Exception) -> stripe.APIConnectionError:
    """The SDK's error for a failed try, retried as its requests client would: timeouts and
    connection failures are; a certificate that does not verify, or anything else, is not."""
    errors = urllib3.exceptions
    if isinstance(e, errors.SSLError):
        return stripe.APIConnectionError(f"Could not verify Stripe's certificate ({e})", should_retry=False)
    retry = isinstance(
        e, errors.TimeoutError | errors.ProtocolError | errors.NewConnectionError | errors.ProxyError
    )
    return stripe.APIConnectionError(
        f"Unexpected error communicating with Stripe (network error: {type(e).__name__}: {e})",
        should_retry=retry,
    )


def _proxy_for(address: str) -> str | None:
    """The proxy the environment names for `address`, as requests reads it: the variable of
    the address's scheme (HTTPS_PROXY for https://, HTTP_PROXY for http://), else ALL_PROXY;
    none when NO_PROXY covers the address's host."""
    proxies = requests.utils.get_environ_proxies(address)
    return proxies.get(urllib.parse.urlsplit(address).scheme) or proxies.get("all") or None


@functools.lru_cache(maxsize=4)
def _client_for(
    api_key: str, api_base: str, read_timeout: float, max_retries: int, connections: int = 10
) -> stripe.StripeClient:
    # One client per configuration, shared by every thread of the process, with one pool of
    # kept-alive connections to Stripe: as many as the threads that may call it at once.
    return stripe.StripeClient(
        api_key,
        stripe_version=STRIPE_API_VERSION,
        base_addresses={"api": api_base} if api_base else None,  # type: ignore[typeddict-item]
        max_network_retries=max_retries,
        http_client=_DeadlineHTTPClient(
            connect=_CONNECT_TIMEOUT_SECONDS,
            read=read_timeout,
            proxy=_proxy_for(api_base or _STRIPE_API),
            connections=connections,
        ),
    )


# lru_cache holds no lock while it builds a value: the first requests of a fresh worker, on
# all its threads at once, would each build a client with its own pool, and their connections
# would be opened again through the one that stayed cached (bench/README.md). With the lock,
# one client per configuration, and one pool.
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
            settings.STRIPE_BURST_CALLS,
        )


def is_test_mode() -> bool:
    return "_live_" not in settings.STRIPE_SECRET_KEY


def customer_dashboard_url(customer_id: str) -> str:
    mode = "test/" if is_test_mode() else ""
    return f"https://dashboard.stripe.com/{mode}customers/{customer_id}"
