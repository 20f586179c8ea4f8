"""One small function per Stripe call, each bounded and mapped (`_call`), each returning the
app's own types (`types`); every write carries an idempotency key behind the deployment's prefix."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import stripe
from django.conf import settings

from billing.errors import (
    BillingNotConfigured,
    CustomerMissing,
    WebhookPayloadInvalid,
    WebhookSignatureInvalid,
)
from billing.stripe_gateway.connection import client
from billing.stripe_gateway.resilience import _call, sync_call
from billing.stripe_gateway.types import (
    StripeCheckoutSession,
    StripeEvent,
    StripeFeature,
    StripeInvoice,
    StripeInvoicePreview,
    StripePage,
    StripePortalSession,
    StripePrice,
    StripeProduct,
    StripeSubscription,
    checkout_session_from_dict,
    event_from_dict,
    feature_from_dict,
    invoice_preview_from_dict,
    price_from_dict,
    product_from_dict,
    subscription_from_dict,
)

logger = logging.getLogger(__name__)


# Stripe's own limit on a webhook's age: older deliveries are refused as replays.
WEBHOOK_TOLERANCE_SECONDS = 300


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


def customer_create(
    *, name: str, email: str, organization_id: int, idempotency_key: str, test_clock: str = ""
) -> str:
    """Create a customer and return its id. The key makes a retried or raced call a replay.
    `test_clock`: the customer lives on that test clock's time (test mode only)."""
    params: dict[str, Any] = {
        "name": name,
        "metadata": {"organization_id": str(organization_id)},
    }
    if email:
        params["email"] = email
    if test_clock:
        params["test_clock"] = test_clock
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
) -> StripePortalSession:
    """A portal session; `flow_data` opens it on one flow (a plan change to confirm, say)."""
    params: dict[str, Any] = {"customer": customer_id, "return_url": return_url}
    if configuration:
        params["configuration"] = configuration
    if flow_data is not None:
        params["flow_data"] = dict(flow_data)
    with _call("billing_portal.sessions.create"):
        session = client().v1.billing_portal.sessions.create(params)  # type: ignore[arg-type]
    return StripePortalSession(id=session.id, url=session.url)


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


def invoice_preview(
    *, subscription_id: str, item_id: str, price_id: str, proration_behavior: str, quantity: int | None = None
) -> StripeInvoicePreview:
    """Stripe's preview of the invoice a change of the subscription's item to `price_id` (and
    `quantity`, when given) makes: the one billed at once (a change of interval), else the next
    renewal's."""
    item: dict[str, Any] = {"id": item_id, "price": price_id}
    if quantity is not None:
        item["quantity"] = quantity
    params: dict[str, Any] = {
        "subscription": subscription_id,
        "subscription_details": {"items": [item], "proration_behavior": proration_behavior},
    }
    with _call("invoices.create_preview"):
        invoice = client().v1.invoices.create_preview(params)  # type: ignore[arg-type]
    return invoice_preview_from_dict(invoice.to_dict())


def portal_update_proration(*, configuration: str) -> str:
    """How the portal configuration (`configuration`, else the account's default) prorates a
    plan change the customer confirms there: `none`, `create_prorations` or `always_invoice`."""
    with _call("billing_portal.configurations.retrieve"):
        if configuration:
            found = client().v1.billing_portal.configurations.retrieve(configuration)
        else:
            listed = client().v1.billing_portal.configurations.list({"is_default": True, "limit": 1}).data
            if not listed:
                return "none"
            found = listed[0]
    update = (found.to_dict().get("features") or {}).get("subscription_update") or {}
    return str(update.get("proration_behavior") or "none")


def test_clock_create(*, frozen_time: datetime, name: str, idempotency_key: str) -> str:
    """A test clock (test mode) frozen at `frozen_time`; its id."""
    with _call("test_helpers.test_clocks.create"):
        clock = client().v1.test_helpers.test_clocks.create(
            {"frozen_time": int(frozen_time.timestamp()), "name": name[:300]}, _idempotent(idempotency_key)
        )
    return str(clock.id)


def customer_test_clock(*, customer_id: str) -> tuple[str, datetime] | None:
    """The customer's test clock and its time, or None when it has none."""
    with _call("customers.retrieve"):
        customer = client().v1.customers.retrieve(customer_id)
        clock_id = customer.to_dict().get("test_clock")
        if not clock_id:
            return None
        clock = client().v1.test_helpers.test_clocks.retrieve(str(clock_id))
    return str(clock.id), datetime.fromtimestamp(int(clock.frozen_time), tz=UTC)


def test_clock_advance(*, clock_id: str, frozen_time: datetime, idempotency_key: str) -> None:
    """Move a test clock on to `frozen_time`: Stripe runs what happens meanwhile (renewals,
    ends) and sends their events."""
    with _call("test_helpers.test_clocks.advance"):
        client().v1.test_helpers.test_clocks.advance(
            clock_id, {"frozen_time": int(frozen_time.timestamp())}, _idempotent(idempotency_key)
        )


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


def subscription_quantity_update(
    *,
    subscription_id: str,
    item_id: str,
    quantity: int,
    proration_behavior: str,
    idempotency_key: str,
) -> StripeSubscription:
    """Set the quantity of the subscription's item (its seats), prorated as `proration_behavior`
    says (`create_prorations`, `always_invoice` or `none`)."""
    with _call("subscriptions.update"):
        subscription = client().v1.subscriptions.update(
            subscription_id,
            {
                "items": [{"id": item_id, "quantity": quantity}],
                "proration_behavior": proration_behavior,  # type: ignore[typeddict-item]
            },
            _idempotent(idempotency_key),
        )
    return subscription_from_dict(subscription.to_dict())


def subscription_cancel(*, subscription_id: str, idempotency_key: str) -> StripeSubscription:
    """End the subscription now."""
    with _call("subscriptions.cancel"):
        subscription = client().v1.subscriptions.cancel(subscription_id, options=_idempotent(idempotency_key))
    return subscription_from_dict(subscription.to_dict())


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
            tax=sum(int(t.amount) for t in (i.total_taxes or [])),
            discount=sum(int(d.amount) for d in (i.total_discount_amounts or [])),
        )
        for i in page.data
    ]
    return invoices, bool(page.has_more)


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
        return event_from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError) as e:
        raise WebhookPayloadInvalid() from e


def event_list(
    *, created_gte: datetime, starting_after: str = "", limit: int = 100
) -> tuple[list[StripeEvent], str]:
    """One page of the events created since `created_gte`, newest first (Stripe's order),
    after `starting_after` when given; and the id to list the next (older) page after, ""
    when this was the last.

    Stripe lists the events of the last 30 days only. A listed event that is not shaped like
    one (no id, type or object) is skipped and logged.
    """
    params: dict[str, Any] = {"created": {"gte": int(created_gte.timestamp())}, "limit": limit}
    if starting_after:
        params["starting_after"] = starting_after
    with _call("events.list"):
        page = client().v1.events.list(params)  # type: ignore[arg-type]
    events: list[StripeEvent] = []
    for listed in page.data:
        data = listed.to_dict()
        try:
            events.append(event_from_dict(data))
        except (ValueError, KeyError, TypeError):
            logger.warning("billing.stripe_event_unreadable", extra={"event_id": data.get("id")})
    return events, str(page.data[-1].id) if page.has_more and page.data else ""


def active_entitlements_list(*, customer_id: str, quick: bool = False) -> list[StripeFeature]:
    """The features the customer is entitled to now (through its live subscriptions), all pages."""
    with _call("entitlements.active_entitlements.list", quick=quick):
        page = client().v1.entitlements.active_entitlements.list(
            {"customer": customer_id, "limit": 100, "expand": ["data.feature"]}
        )
        return [feature_from_dict(e.to_dict()["feature"]) for e in page.auto_paging_iter()]


def product_list(*, ids: list[str] | None = None) -> list[StripeProduct]:
    """Active products (only `ids`, when given), every page."""
    params: dict[str, Any] = {"active": True, "limit": 100}
    if ids:
        params["ids"] = list(ids)
    with _call("products.list"):
        page = client().v1.products.list(params)  # type: ignore[arg-type]
        return [product_from_dict(p.to_dict()) for p in page.auto_paging_iter()]


def price_list() -> list[StripePrice]:
    """Active recurring prices of every product, every page."""
    with _call("prices.list"):
        page = client().v1.prices.list({"active": True, "type": "recurring", "limit": 100})
        return [price_from_dict(p.to_dict()) for p in page.auto_paging_iter()]


def product_feature_list(*, product_id: str, sync: bool = False) -> list[StripeFeature]:
    """The Entitlements features attached to a product, every page. With `sync`, as the sync
    command calls Stripe (`sync_call`: its rate, 429 waited out, no circuit breaker)."""

    def fetch() -> list[StripeFeature]:
        page = client().v1.products.features.list(product_id, {"limit": 100})
        return [feature_from_dict(pf.to_dict()["entitlement_feature"]) for pf in page.auto_paging_iter()]

    if sync:
        return sync_call("products.features.list", fetch)
    with _call("products.features.list"):
        return fetch()


# The sync command's lists: one page (100 objects) per call, through `sync_call`, each page's
# last id the cursor of the next (`starting_after`), so that an interrupted run can resume.
SYNC_PAGE_SIZE = 100


def _list_page(path: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """One page of a list as plain dicts: the SDK's public `raw_request`, which raises the same
    errors as its typed calls, without building a `StripeObject` per nested object (at 100
    expanded subscriptions a page, that conversion cost more than the rest of the sync)."""
    response = client().raw_request("get", path, **params)
    body: dict[str, Any] = response.data
    return list(body["data"]), bool(body.get("has_more"))


def _page_params(starting_after: str | None, **params: Any) -> dict[str, Any]:
    params["limit"] = SYNC_PAGE_SIZE
    if starting_after:
        params["starting_after"] = starting_after
    return params


def subscription_page(*, starting_after: str | None = None) -> StripePage[StripeSubscription]:
    """A page of every subscription of the account, canceled ones included (items and their
    prices come inline: nothing to expand)."""

    def fetch() -> StripePage[StripeSubscription]:
        data, has_more = _list_page("/v1/subscriptions", _page_params(starting_after, status="all"))
        return StripePage(
            [subscription_from_dict(d) for d in data], has_more, data[-1]["id"] if data else None
        )

    return sync_call("subscriptions.list", fetch)


def customer_page(*, starting_after: str | None = None) -> StripePage[str]:
    """A page of the ids of the account's customers (Stripe does not list deleted ones)."""

    def fetch() -> StripePage[str]:
        data, has_more = _list_page("/v1/customers", _page_params(starting_after))
        ids = [str(c["id"]) for c in data]
        live = [str(c["id"]) for c in data if not c.get("deleted", False)]
        return StripePage(live, has_more, ids[-1] if ids else None)

    return sync_call("customers.list", fetch)


def checkout_session_open_page(*, starting_after: str | None = None) -> StripePage[StripeCheckoutSession]:
    """A page of the account's open Checkout sessions."""

    def fetch() -> StripePage[StripeCheckoutSession]:
        data, has_more = _list_page("/v1/checkout/sessions", _page_params(starting_after, status="open"))
        return StripePage(
            [checkout_session_from_dict(d) for d in data], has_more, data[-1]["id"] if data else None
        )

    return sync_call("checkout.sessions.list", fetch)


def checkout_session_create(
    *,
    customer_id: str,
    price_id: str,
    organization_id: int,
    success_url: str,
    cancel_url: str,
    trial_days: int,
    idempotency_key: str,
    allow_promotion_codes: bool = False,
    automatic_tax: bool = False,
    tax_id_collection: bool = False,
    quantity: int = 1,
) -> StripeCheckoutSession:
    """A subscription-mode Checkout session for one period; the key makes a retry a replay.

    Automatic tax and tax-id collection save what the buyer enters (address, business name) on
    the existing customer: Stripe refuses either for a customer without `customer_update`."""
    metadata = {"organization_id": str(organization_id)}
    subscription_data: dict[str, Any] = {"metadata": metadata}
    if trial_days > 0:
        subscription_data["trial_period_days"] = trial_days
    params: dict[str, Any] = {
        "mode": "subscription",
        "customer": customer_id,
        "line_items": [{"price": price_id, "quantity": quantity}],
        "client_reference_id": str(organization_id),
        "metadata": metadata,
        "subscription_data": subscription_data,
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if allow_promotion_codes:
        params["allow_promotion_codes"] = True
    if automatic_tax:
        params["automatic_tax"] = {"enabled": True}
    if tax_id_collection:
        params["tax_id_collection"] = {"enabled": True}
    if automatic_tax or tax_id_collection:
        params["customer_update"] = {"address": "auto", "name": "auto"}
    with _call("checkout.sessions.create"):
        session = client().v1.checkout.sessions.create(
            params,  # type: ignore[arg-type]
            _idempotent(idempotency_key),
        )
    return checkout_session_from_dict(session.to_dict())


def checkout_session_retrieve(*, session_id: str, sync: bool = False) -> StripeCheckoutSession:
    """The session; with `sync`, as the sync command calls Stripe (`sync_call`)."""

    def fetch() -> StripeCheckoutSession:
        return checkout_session_from_dict(client().v1.checkout.sessions.retrieve(session_id).to_dict())

    if sync:
        return sync_call("checkout.sessions.retrieve", fetch)
    with _call("checkout.sessions.retrieve"):
        return fetch()


def checkout_session_expire(*, session_id: str, idempotency_key: str) -> StripeCheckoutSession:
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
    return checkout_session_from_dict(session.to_dict())


def subscription_create(
    *, customer_id: str, price_id: str, organization_id: int, idempotency_key: str, quantity: int = 1
) -> StripeSubscription:
    """A subscription started at once (a free period: nothing to pay, no Checkout)."""
    params: dict[str, Any] = {
        "customer": customer_id,
        "items": [{"price": price_id, "quantity": quantity}],
        "metadata": {"organization_id": str(organization_id)},
    }
    with _call("subscriptions.create"):
        subscription = client().v1.subscriptions.create(
            params,  # type: ignore[arg-type]
            _idempotent(idempotency_key),
        )
    return subscription_from_dict(subscription.to_dict())
