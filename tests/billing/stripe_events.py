"""Stripe webhook deliveries for tests: events shaped and signed the way Stripe sends them.

Signature (Stripe's scheme v1): `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>" keyed with the endpoint secret>`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from typing import Any

from django.conf import settings
from django.test import Client
from django_tasks.base import TaskResultStatus
from django_tasks.signals import task_finished

from organizations.models import Organization
from stripe_standin import StripeStandIn

WEBHOOK_URL = "/subscriptions/webhook"
_seq = itertools.count(1)
_UNSET: Any = object()


def sign(payload: bytes, *, secret: str | None = None, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    key = (settings.STRIPE_WEBHOOK_SECRET if secret is None else secret).encode()
    mac = hmac.new(key, f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event(
    type: str, obj: dict[str, Any], *, created: int | None = None, id: str | None = None
) -> dict[str, Any]:
    """A Stripe event envelope around `obj` (a subscription or customer as Stripe shows it)."""
    return {
        "id": id or f"evt_test_{next(_seq):08d}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()) if created is None else created,
        "data": {"object": obj, "previous_attributes": {}},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
    }


def deliver(
    client: Client,
    payload: dict[str, Any] | bytes,
    *,
    signature: str | None = _UNSET,
    secret: str | None = None,
    timestamp: int | None = None,
    url: str = WEBHOOK_URL,
    **extra: Any,
) -> Any:
    """POST a delivery as Stripe does: raw JSON body, signed unless `signature` is given (None: no header)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    if signature is _UNSET:
        signature = sign(body, secret=secret, timestamp=timestamp)
    if signature is not None:
        extra["HTTP_STRIPE_SIGNATURE"] = signature
    applied: list[str] = []
    thread = threading.get_ident()

    def record(sender: Any, task_result: Any, **kwargs: Any) -> None:
        if task_result.task.name == "webhook_event_apply" and threading.get_ident() == thread:
            ok = task_result.status == TaskResultStatus.SUCCESSFUL
            applied.append(task_result.return_value if ok else "failed")

    # The tests' queue runs tasks at once, in the request: what the worker made of the event.
    task_finished.connect(record)
    try:
        response = client.generic("POST", url, body, content_type="application/json; charset=utf-8", **extra)
    finally:
        task_finished.disconnect(record)
    response.applied = applied[0] if applied else None  # type: ignore[attr-defined]
    return response


def outcome_of(response: Any) -> str:
    """A delivery's outcome: the answer's, or for a queued event what applying it came to."""
    outcome: str = response.json()["outcome"]
    return response.applied if outcome == "queued" else outcome


def give_customer(organization: Organization, standin: StripeStandIn) -> str:
    """Create the organization's customer in the stand-in and store its id (and its account)."""
    customer = standin.create_customer(name=organization.name, email=organization.billing_email or None)
    organization.stripe_customer_id = customer["id"]
    organization.stripe_account_id = standin.account_id
    organization.save(update_fields=["stripe_customer_id", "stripe_account_id"])
    return str(customer["id"])


def subscribe_at_stripe(client: Client, organization: Organization, standin: StripeStandIn) -> dict[str, Any]:
    """An active subscription of the organization, at Stripe and (through its webhook) in the app."""
    at_stripe = standin.create_subscription(customer=give_customer(organization, standin), status="active")
    assert deliver(client, event("customer.subscription.created", at_stripe)).status_code == 200
    return at_stripe
