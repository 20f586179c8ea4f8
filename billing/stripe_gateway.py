"""The one module that talks to Stripe.

Anything that calls Stripe goes here: one configured client (key, pinned API version,
optional local base URL, timeouts, retries, kept-alive connections) and one small function
per Stripe call. Stripe's exceptions are turned into `billing.errors` here, so the rest of
the project never imports `stripe`.

Be careful changing the error mapping: the API's status codes and the page's messages, and
the decision to re-create a customer, all hang on it.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
import stripe
from django.conf import settings

from billing.errors import (
    BillingError,
    BillingNotConfigured,
    BillingUnavailable,
    CustomerMissing,
    SubscriptionMissing,
    WebhookPayloadInvalid,
    WebhookSignatureInvalid,
)
from core.db import connection_release_if_pooled
from core.resilience import Bulkhead, CircuitBreaker

logger = logging.getLogger(__name__)

# The API version this SDK release is generated against: request and response shapes
# (subscription periods on items, for instance) follow it. Upgrade the SDK and this together.
STRIPE_API_VERSION = "2026-10-28.endive"

# Stripe's "No such customer: 'cus_...'; a similar object exists in live mode, but a test mode
# key was used to make this request." (and the other way round).
_OTHER_MODE_HINT = "a similar object exists in"
# Stripe reports "no portal configuration saved" as an invalid_request_error without a code.
_PORTAL_NOT_CONFIGURED_HINTS = ("customer portal settings", "No such configuration")
# Stripe's own limit on a webhook's age: older deliveries are refused as replays.
WEBHOOK_TOLERANCE_SECONDS = 300
# Connect timeout is short (an unreachable Stripe should fail fast); the read timeout leaves
# room for Stripe's own slow answers while a person waits.
_CONNECT_TIMEOUT_SECONDS = 3.0
_STRIPE_API = "https://api.stripe.com"  # the SDK's own default address
# A call made on the side of a page view (the refresh after the portal) must not hold the
# page for the full deadline while Stripe is down: it gets one short try.
_QUICK_DEADLINE_SECONDS = 2.0
# No try starts with less time left than this: it could only time out.
_MIN_TRY_SECONDS = 0.5


@dataclass(frozen=True)
class PortalSession:
    id: str
    url: str


@dataclass(frozen=True)
class StripeSubscription:
    """The part of a Stripe subscription the app keeps, whatever API version shaped it."""

    id: str
    customer_id: str
    status: str
    price_id: str
    product: str
    quantity: int | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    trial_end: datetime | None
    created: datetime
    # The first item's id: a change of price names it (the portal's update-confirm flow).
    item_id: str = ""


@dataclass(frozen=True)
class StripeEvent:
    """A verified webhook event: `object` is `data.object` as Stripe sent it (plain dicts)."""

    id: str
    type: str
    created: datetime
    object: dict[str, Any]


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


# --- Bounded waiting ----------------------------------------------------------------------
#
# While Stripe hangs, every thread that calls it waits: without bounds, a hung Stripe takes
# every thread of a worker, and logins, the health check and pages that never call Stripe
# queue behind them. Three bounds, per process:
#   - a deadline for a request's Stripe work, all tries and calls together;
#   - a bulkhead: at most STRIPE_MAX_CONCURRENT_CALLS calls in flight (by default the worker's
#     threads less an eighth). A call that finds it full waits its turn for a slot while
#     the calls in flight are moving, sent and answered (a healthy Stripe frees a slot every
#     few ms), and is refused once nothing has moved for a moment (Stripe hangs), so the
#     threads the bulkhead leaves free keep serving the other doors;
#   - a circuit breaker: after a run of Stripe's own failures (timeouts, connection errors,
#     429, 5xx), calls are refused without trying for a short while, then one trial call
#     decides. A call that never reached Stripe (the bulkhead full, the deadline spent)
#     counts neither way.

_state = threading.local()

# Before any answer, the bulkhead assumes Stripe's usual answer time; then it learns it.
_STRIPE_USUAL_SECONDS = 0.3


class _DeadlineSpent(stripe.APIConnectionError):
    """A Stripe request that was not sent: the request's deadline had already passed."""


def _time_left() -> float | None:
    deadline = getattr(_state, "deadline", None)
    return None if deadline is None else deadline - time.monotonic()


def deadline_seconds() -> float:
    """The seconds left for Stripe work in this request (the configured deadline outside one)."""
    left = _time_left()
    return settings.STRIPE_DEADLINE_SECONDS if left is None else max(0.0, left)


@contextmanager
def request_deadline(seconds: float | None = None) -> Iterator[None]:
    """Every Stripe call inside shares one deadline, `seconds` from now (or an outer, earlier one)."""
    previous = getattr(_state, "deadline", None)
    at = time.monotonic() + (settings.STRIPE_DEADLINE_SECONDS if seconds is None else seconds)
    _state.deadline = at if previous is None else min(previous, at)
    try:
        yield
    finally:
        _state.deadline = previous


_bulkheads: dict[int, Bulkhead] = {}
_bulkheads_lock = threading.Lock()


def _bulkhead(size: int) -> Bulkhead:
    with _bulkheads_lock:
        if size not in _bulkheads:
            _bulkheads[size] = Bulkhead(size, expected_seconds=_STRIPE_USUAL_SECONDS)
        return _bulkheads[size]


@functools.lru_cache(maxsize=4)
def _breaker(failures: int, reset_seconds: float) -> CircuitBreaker:
    return CircuitBreaker(failures=failures, reset_seconds=reset_seconds)


def _current_breaker() -> CircuitBreaker:
    return _breaker(settings.STRIPE_BREAKER_FAILURES, settings.STRIPE_BREAKER_SECONDS)


def resilience_reset() -> None:
    """Close the circuit breaker and forget Stripe's answer times (tests, and an operator's
    shell after a fix)."""
    _current_breaker().reset()
    with _bulkheads_lock:
        bulkheads = list(_bulkheads.values())
    for bulkhead in bulkheads:
        bulkhead.forget()


@contextmanager
def _call(call: str, *, quick: bool = False) -> Iterator[None]:
    """One Stripe call: bounded (deadline, bulkhead, breaker) and its errors mapped."""
    budget = min(deadline_seconds(), _QUICK_DEADLINE_SECONDS) if quick else deadline_seconds()
    if budget <= 0:  # an earlier call spent the request's time: this one is not made
        logger.warning("billing.stripe_deadline_spent", extra={"call": call})
        raise BillingUnavailable()
    breaker = _current_breaker()
    retry_after = breaker.allow()
    if retry_after is not None:
        logger.warning("billing.stripe_circuit_open", extra={"call": call})
        raise BillingUnavailable(retry_after=retry_after)
    # Handed back before waiting for a slot, not only before the call itself.
    connection_release_if_pooled()
    bulkhead = _bulkhead(settings.STRIPE_MAX_CONCURRENT_CALLS)
    # A slot must leave time for a try: waiting longer could only end in a timeout.
    if not bulkhead.enter(wait=max(0.0, budget - _MIN_TRY_SECONDS)):
        breaker.release()  # Stripe was not asked: neither a success nor a failure
        logger.warning("billing.stripe_bulkhead_full", extra={"call": call, "size": bulkhead.size})
        raise BillingUnavailable()
    # Stripe answered (True), failed on its side (False), or was never reached (None).
    answered: bool | None = None
    started = time.monotonic()
    _state.single_try = quick
    _state.unsent = bulkhead
    try:
        with request_deadline(_QUICK_DEADLINE_SECONDS if quick else None), _stripe_errors(call):
            yield
        answered = True
    except BillingUnavailable as e:
        answered = None if isinstance(e.__cause__, _DeadlineSpent) else False
        raise
    except BillingError:
        answered = True  # Stripe answered: a refusal is not an outage
        raise
    finally:
        _state.single_try = False
        _state.unsent = None
        bulkhead.leave(answered=answered is True, seconds=time.monotonic() - started)
        if answered is None:  # never reached Stripe, or our own code failed after it answered
            breaker.release()
        else:
            breaker.record(ok=answered)


def is_test_mode() -> bool:
    return "_live_" not in settings.STRIPE_SECRET_KEY


def customer_dashboard_url(customer_id: str) -> str:
    mode = "test/" if is_test_mode() else ""
    return f"https://dashboard.stripe.com/{mode}customers/{customer_id}"


def _is_missing_customer(error: stripe.InvalidRequestError) -> bool:
    return error.code == "resource_missing" and "No such customer" in (error.user_message or str(error))


def _is_missing_subscription(error: stripe.InvalidRequestError) -> bool:
    return error.code == "resource_missing" and "No such subscription" in (error.user_message or str(error))


@contextmanager
def _stripe_errors(call: str) -> Iterator[None]:
    """Turn Stripe's exceptions into billing errors (Zulip's `catch_stripe_errors`)."""
    try:
        yield
    except stripe.InvalidRequestError as e:
        message = e.user_message or ""
        if _OTHER_MODE_HINT in message:  # the object exists, in live mode for a test key or back
            logger.error("billing.stripe_not_configured", extra={"call": call, "reason": "mode"})
            raise BillingNotConfigured(
                "Billing is not configured: the Stripe key is for the other mode (test or live)"
            ) from e
        if _is_missing_customer(e):
            raise CustomerMissing() from e
        if _is_missing_subscription(e):
            raise SubscriptionMissing() from e
        if any(hint in message for hint in _PORTAL_NOT_CONFIGURED_HINTS):
            logger.error("billing.stripe_not_configured", extra={"call": call, "reason": "portal"})
            raise BillingNotConfigured(
                "Billing is not configured: no customer portal configuration is saved in Stripe"
            ) from e
        logger.error(
            "billing.stripe_invalid_request",
            extra={"call": call, "code": e.code, "param": e.param, "request_id": e.request_id},
        )
        raise BillingError() from e
    except (stripe.AuthenticationError, stripe.PermissionError) as e:
        logger.error("billing.stripe_not_configured", extra={"call": call, "reason": "key"})
        raise BillingNotConfigured("Billing is not configured: Stripe refused the API key") from e
    except stripe.IdempotencyError as e:
        if e.http_status == 409:  # the same key is still in flight: a retry will settle it
            raise BillingUnavailable() from e
        logger.error("billing.stripe_idempotency_conflict", extra={"call": call})
        raise BillingError() from e
    except (stripe.RateLimitError, stripe.APIConnectionError) as e:
        logger.warning(
            "billing.stripe_unavailable",
            extra={"call": call, "error": type(e).__name__, "status": e.http_status},
        )
        raise BillingUnavailable() from e
    except stripe.StripeError as e:
        status = e.http_status or 0
        # 409: the same idempotency key is still in flight (a retry after a timeout). The SDK
        # raises it as a plain APIError, not IdempotencyError, once its retries are spent.
        if status >= 500 or status in (409, 429):
            logger.warning(
                "billing.stripe_unavailable",
                extra={"call": call, "error": type(e).__name__, "status": status},
            )
            raise BillingUnavailable() from e
        logger.error(
            "billing.stripe_error",
            extra={"call": call, "error": type(e).__name__, "status": status},
        )
        raise BillingError() from e


@functools.lru_cache(maxsize=4)
def _account_of(api_key: str, api_base: str) -> str:
    with _call("account.retrieve"):
        return str(client().v1.accounts.retrieve_current().id)


def _idempotent(key: str) -> Any:
    """The request options of a write: its idempotency key, behind this deployment's prefix
    (two deployments on one account never share a key). Every write passes through here."""
    return {"idempotency_key": f"{settings.STRIPE_IDEMPOTENCY_PREFIX}-{key}"}


def account_id() -> str:
    """The id of the Stripe account the configured key belongs to (asked once per process)."""
    return _account_of(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE)


def customer_create(*, name: str, email: str, organization_id: int, idempotency_key: str) -> str:
    """Create a customer and return its id. The key makes a retried or raced call a replay."""
    params: dict[str, Any] = {
        "name": name,
        "metadata": {"organization_id": str(organization_id)},
    }
    if email:
        params["email"] = email
    with _call("customers.create"):
        customer = client().v1.customers.create(
            params,  # type: ignore[arg-type]
            _idempotent(idempotency_key),
        )
    return customer.id


def portal_session_create(
    *,
    customer_id: str,
    return_url: str,
    configuration: str = "",
    flow_data: Mapping[str, Any] | None = None,
) -> PortalSession:
    """A portal session; `flow_data` opens it on one flow (a plan change to confirm, say)."""
    params: dict[str, Any] = {"customer": customer_id, "return_url": return_url}
    if configuration:
        params["configuration"] = configuration
    if flow_data is not None:
        params["flow_data"] = dict(flow_data)
    with _call("billing_portal.sessions.create"):
        session = client().v1.billing_portal.sessions.create(params)  # type: ignore[arg-type]
    return PortalSession(id=session.id, url=session.url)


def customer_is_gone(*, customer_id: str) -> bool:
    """Whether Stripe says the customer was deleted (or never existed in this account)."""
    try:
        with _call("customers.retrieve"):
            customer = client().v1.customers.retrieve(customer_id)
    except CustomerMissing:
        return True
    return bool(getattr(customer, "deleted", False))


def subscription_list(*, customer_id: str, quick: bool = False) -> list[StripeSubscription]:
    """Every subscription of the customer, canceled ones included, newest first (all pages)."""
    with _call("subscriptions.list", quick=quick):
        page = client().v1.subscriptions.list({"customer": customer_id, "status": "all", "limit": 100})
        return [subscription_from_dict(s.to_dict()) for s in page.auto_paging_iter()]


def subscription_retrieve(*, subscription_id: str) -> StripeSubscription:
    with _call("subscriptions.retrieve"):
        subscription = client().v1.subscriptions.retrieve(subscription_id)
    return subscription_from_dict(subscription.to_dict())


def subscription_update(
    *, subscription_id: str, cancel_at_period_end: bool, idempotency_key: str
) -> StripeSubscription:
    """Schedule (or undo) the subscription's cancellation at the end of its period."""
    with _call("subscriptions.update"):
        subscription = client().v1.subscriptions.update(
            subscription_id,
            {"cancel_at_period_end": cancel_at_period_end},
            _idempotent(idempotency_key),
        )
    return subscription_from_dict(subscription.to_dict())


def subscription_cancel(*, subscription_id: str, idempotency_key: str) -> StripeSubscription:
    """End the subscription now."""
    with _call("subscriptions.cancel"):
        subscription = client().v1.subscriptions.cancel(subscription_id, options=_idempotent(idempotency_key))
    return subscription_from_dict(subscription.to_dict())


@dataclass(frozen=True)
class StripeInvoice:
    id: str
    status: str  # draft, open, paid, uncollectible, void
    amount_due: int
    amount_paid: int
    currency: str
    created: datetime
    hosted_invoice_url: str | None
    invoice_pdf: str | None


def invoice_list(
    *,
    customer_id: str,
    created_gte: datetime | None,
    created_lte: datetime | None,
    limit: int,
    quick: bool = False,
) -> tuple[list[StripeInvoice], bool]:
    """The customer's invoices, newest first (Stripe's order), at most `limit`; and whether there are more."""
    params: dict[str, Any] = {"customer": customer_id, "limit": limit}
    created: dict[str, int] = {}
    if created_gte is not None:
        created["gte"] = int(created_gte.timestamp())
    if created_lte is not None:
        created["lte"] = int(created_lte.timestamp())
    if created:
        params["created"] = created
    with _call("invoices.list", quick=quick):
        page = client().v1.invoices.list(params)  # type: ignore[arg-type]
    invoices = [
        StripeInvoice(
            id=str(i.id),
            status=str(i.status),
            amount_due=int(i.amount_due or 0),
            amount_paid=int(i.amount_paid or 0),
            currency=str(i.currency),
            created=datetime.fromtimestamp(int(i.created), tz=UTC),
            hosted_invoice_url=i.hosted_invoice_url,
            invoice_pdf=i.invoice_pdf,
        )
        for i in page.data
    ]
    return invoices, bool(page.has_more)


def invoice_subscription_id(invoice: Mapping[str, Any]) -> str:
    """The subscription an invoice (a webhook's `data.object`) bills, or "" for none.

    With the pinned API version it is under `parent.subscription_details`; older versions put
    it at the top level.
    """
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {} if isinstance(parent, Mapping) else {}
    return _id(details.get("subscription") or invoice.get("subscription"))


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(int(value), tz=UTC)


def _id(value: Any) -> str:
    """An id, whether Stripe sent the id or (expanded) the object."""
    if isinstance(value, Mapping):
        return str(value["id"])
    return "" if value is None else str(value)


def subscription_from_dict(data: Mapping[str, Any]) -> StripeSubscription:
    """Map a subscription (a webhook's `data.object`, or a fetched one) to `StripeSubscription`.

    With the pinned API version the period, price and quantity live on the first item
    (`items.data[0]`); the subscription-level `current_period_end` of older versions is
    the fallback. Raises KeyError/TypeError/ValueError on a shape that is not a subscription.
    """
    items = (data.get("items") or {}).get("data") or []
    item: Mapping[str, Any] = items[0] if items else {}
    price: Mapping[str, Any] = item.get("price") or item.get("plan") or {}
    period_start = item.get("current_period_start", data.get("current_period_start"))
    period_end = item.get("current_period_end", data.get("current_period_end"))
    quantity = item.get("quantity", data.get("quantity"))
    created = _time(data["created"])
    if created is None:
        raise ValueError("subscription without `created`")
    return StripeSubscription(
        id=str(data["id"]),
        customer_id=_id(data["customer"]),
        status=str(data["status"]),
        price_id=_id(price.get("id")),
        product=_id(price.get("product")),
        quantity=None if quantity is None else int(quantity),
        current_period_start=_time(period_start),
        current_period_end=_time(period_end),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        canceled_at=_time(data.get("canceled_at")),
        trial_end=_time(data.get("trial_end")),
        created=created,
        item_id=_id(item.get("id")),
    )


def webhook_event_construct(*, payload: bytes, signature: str) -> StripeEvent:
    """Verify a webhook delivery's signature over the raw body, then parse the event.

    The signature is checked first: nothing of an unverified body is parsed. Raises
    `WebhookSignatureInvalid` (missing, wrong, or older than the tolerance) or
    `WebhookPayloadInvalid` (signed, but not an event).
    """
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise BillingNotConfigured("Billing is not configured: no webhook secret is set")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as e:  # Stripe signs UTF-8 JSON; this is not a Stripe delivery
        raise WebhookSignatureInvalid() from e
    try:
        stripe.WebhookSignature.verify_header(text, signature, secret, WEBHOOK_TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as e:
        raise WebhookSignatureInvalid() from e
    try:
        data = json.loads(text)
        created = _time(data["created"])
        if not isinstance(data["id"], str) or not isinstance(data["type"], str) or created is None:
            raise ValueError("event without id, type or created")
        obj = data["data"]["object"]
        if not isinstance(obj, dict):
            raise ValueError("event without data.object")
    except (ValueError, KeyError, TypeError) as e:
        raise WebhookPayloadInvalid() from e
    return StripeEvent(id=data["id"], type=data["type"], created=created, object=obj)


# --- The catalogue, Checkout and Entitlements -------------------------------------------------------------


@dataclass(frozen=True)
class StripeProduct:
    id: str
    name: str
    description: str
    active: bool


@dataclass(frozen=True)
class StripePrice:
    id: str
    product: str
    active: bool
    recurring: bool
    unit_amount: int
    currency: str
    interval: str
    interval_count: int


@dataclass(frozen=True)
class StripeFeature:
    """An Entitlements feature: what a plan grants (its metadata says how the app reads it)."""

    id: str
    name: str
    lookup_key: str
    metadata: dict[str, str]
    active: bool = True


def feature_from_dict(data: Mapping[str, Any]) -> StripeFeature:
    """Map an `entitlements.feature` (expanded in an entitlement, or on a product feature)."""
    metadata = data.get("metadata") or {}
    return StripeFeature(
        id=str(data["id"]),
        name=str(data.get("name") or ""),
        lookup_key=str(data.get("lookup_key") or ""),
        metadata={str(k): str(v) for k, v in metadata.items()},
        active=bool(data.get("active", True)),
    )


def active_entitlements_list(*, customer_id: str, quick: bool = False) -> list[StripeFeature]:
    """The features the customer is entitled to now (through its live subscriptions), all pages."""
    with _call("entitlements.active_entitlements.list", quick=quick):
        page = client().v1.entitlements.active_entitlements.list(
            {"customer": customer_id, "limit": 100, "expand": ["data.feature"]}
        )
        return [feature_from_dict(e.to_dict()["feature"]) for e in page.auto_paging_iter()]


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    status: str  # open, complete, expired
    payment_status: str  # unpaid, paid, no_payment_required
    subscription_id: str
    customer_id: str
    amount_total: int | None
    currency: str
    expires_at: datetime | None
    created: datetime | None


def _product_from(data: Mapping[str, Any]) -> StripeProduct:
    return StripeProduct(
        id=str(data["id"]),
        name=str(data.get("name") or data["id"]),
        description=str(data.get("description") or ""),
        active=bool(data.get("active")),
    )


def _price_from(data: Mapping[str, Any]) -> StripePrice:
    recurring = data.get("recurring") or {}
    return StripePrice(
        id=str(data["id"]),
        product=_id(data.get("product")),
        active=bool(data.get("active")),
        recurring=bool(recurring) and data.get("type", "recurring") == "recurring",
        unit_amount=int(data.get("unit_amount") or 0),
        currency=str(data.get("currency") or ""),
        interval=str(recurring.get("interval") or ""),
        interval_count=int(recurring.get("interval_count") or 1),
    )


def _checkout_from(data: Mapping[str, Any]) -> CheckoutSession:
    amount = data.get("amount_total")
    return CheckoutSession(
        id=str(data["id"]),
        url=str(data.get("url") or ""),
        status=str(data.get("status") or ""),
        payment_status=str(data.get("payment_status") or ""),
        subscription_id=_id(data.get("subscription")),
        customer_id=_id(data.get("customer")),
        amount_total=None if amount is None else int(amount),
        currency=str(data.get("currency") or ""),
        expires_at=_time(data.get("expires_at")),
        created=_time(data.get("created")),
    )


def product_list(*, ids: list[str] | None = None) -> list[StripeProduct]:
    """Active products (only `ids`, when given), every page."""
    params: dict[str, Any] = {"active": True, "limit": 100}
    if ids:
        params["ids"] = list(ids)
    with _call("products.list"):
        page = client().v1.products.list(params)  # type: ignore[arg-type]
        return [_product_from(p.to_dict()) for p in page.auto_paging_iter()]


def price_list() -> list[StripePrice]:
    """Active recurring prices of every product, every page."""
    with _call("prices.list"):
        page = client().v1.prices.list({"active": True, "type": "recurring", "limit": 100})
        return [_price_from(p.to_dict()) for p in page.auto_paging_iter()]


def product_feature_list(*, product_id: str) -> list[StripeFeature]:
    """The Entitlements features attached to a product, every page."""
    with _call("products.features.list"):
        page = client().v1.products.features.list(product_id, {"limit": 100})
        return [feature_from_dict(pf.to_dict()["entitlement_feature"]) for pf in page.auto_paging_iter()]


def checkout_session_create(
    *,
    customer_id: str,
    price_id: str,
    organization_id: int,
    success_url: str,
    cancel_url: str,
    trial_days: int,
    idempotency_key: str,
) -> CheckoutSession:
    """A subscription-mode Checkout session for one period; the key makes a retry a replay."""
    metadata = {"organization_id": str(organization_id)}
    subscription_data: dict[str, Any] = {"metadata": metadata}
    if trial_days > 0:
        subscription_data["trial_period_days"] = trial_days
    params: dict[str, Any] = {
        "mode": "subscription",
        "customer": customer_id,
        "line_items": [{"price": price_id, "quantity": 1}],
        "client_reference_id": str(organization_id),
        "metadata": metadata,
        "subscription_data": subscription_data,
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    with _call("checkout.sessions.create"):
        session = client().v1.checkout.sessions.create(
            params,  # type: ignore[arg-type]
            _idempotent(idempotency_key),
        )
    return _checkout_from(session.to_dict())


def checkout_session_retrieve(*, session_id: str) -> CheckoutSession:
    with _call("checkout.sessions.retrieve"):
        session = client().v1.checkout.sessions.retrieve(session_id)
    return _checkout_from(session.to_dict())


def checkout_session_expire(*, session_id: str, idempotency_key: str) -> CheckoutSession:
    """Expire an open session; the session as Stripe has it afterwards.

    A session that is no longer open (paid, or expired meanwhile) cannot be expired: Stripe
    refuses, and the answer is the session as it is now, for the caller to act on its status.
    """
    refused = False
    with _call("checkout.sessions.expire"):
        try:
            session = client().v1.checkout.sessions.expire(session_id, options=_idempotent(idempotency_key))
        except stripe.InvalidRequestError as e:
            if "can be expired" not in (e.user_message or str(e)):
                raise
            refused = True
    if refused:
        return checkout_session_retrieve(session_id=session_id)
    return _checkout_from(session.to_dict())


def subscription_create(
    *, customer_id: str, price_id: str, organization_id: int, idempotency_key: str
) -> StripeSubscription:
    """A subscription started at once (a free period: nothing to pay, no Checkout)."""
    params: dict[str, Any] = {
        "customer": customer_id,
        "items": [{"price": price_id, "quantity": 1}],
        "metadata": {"organization_id": str(organization_id)},
    }
    with _call("subscriptions.create"):
        subscription = client().v1.subscriptions.create(
            params,  # type: ignore[arg-type]
            _idempotent(idempotency_key),
        )
    return subscription_from_dict(subscription.to_dict())


# Stripe's object ids: a prefix and letters and digits, joined by underscores.
_STRIPE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")


def stripe_id_valid(value: object) -> bool:
    """Whether `value` (from the client) has the shape of a Stripe id. Anything else names no
    Stripe object, and is refused before it reaches a query or Stripe: PostgreSQL refuses a NUL
    byte in any string it is sent, and other control characters have no business in a log."""
    return isinstance(value, str) and _STRIPE_ID.fullmatch(value) is not None
