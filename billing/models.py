from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models

from organizations.models import Organization


class PortalSession(models.Model):
    """Audit record of one billing portal session handed out. Never holds the URL:
    the URL is a bearer credential for the customer's billing."""

    class Source(models.TextChoices):
        API = "api", "API"
        WEB = "web", "Billing page"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="portal_sessions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="portal_sessions",
    )
    stripe_session_id = models.CharField(max_length=255)
    stripe_customer_id = models.CharField(max_length=255)
    source = models.CharField(max_length=8, choices=Source.choices)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # When the organization's subscriptions were next fetched from Stripe after this session
    # (the customer may have changed them in the portal); NULL while that is still due.
    subscriptions_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.stripe_session_id} ({self.source})"


class Subscription(models.Model):
    """An organization's Stripe subscription, as last synced (webhook, sync command or refresh).

    `state_at` is the Stripe time of the state this row reflects (an event's `created`, or the
    moment of a fetch): a write carrying an older state time is ignored, so events that arrive
    out of order never roll the row back.
    """

    class Status(models.TextChoices):
        INCOMPLETE = "incomplete", "Incomplete"
        INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete, expired"
        TRIALING = "trialing", "Trialing"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        CANCELED = "canceled", "Canceled"
        UNPAID = "unpaid", "Unpaid"
        PAUSED = "paused", "Paused"

    # Statuses that no longer bill: the current subscription is another one when there is one.
    ENDED_STATUSES = frozenset({Status.CANCELED, Status.INCOMPLETE_EXPIRED})

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="subscriptions")
    stripe_subscription_id = models.CharField(max_length=255, unique=True)
    # Not constrained to the choices: Stripe may add a status before we do.
    status = models.CharField(max_length=32, choices=Status.choices)
    price_id = models.CharField(max_length=255, blank=True)
    product = models.CharField(max_length=255, blank=True)
    quantity = models.PositiveIntegerField(null=True, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    trial_end = models.DateTimeField(null=True, blank=True)
    stripe_created = models.DateTimeField(help_text="When Stripe created the subscription.")
    state_at = models.DateTimeField(help_text="The Stripe time of the state this row reflects.")
    synced_at = models.DateTimeField(help_text="When this row was last written from Stripe.")
    # While the stored state is a read from Stripe (a fetch, or a write's answer): when that
    # read ended, on our clock. An event created between `state_at` and then (plus the clock
    # margin) may be older or newer than the read: it is settled by asking Stripe. NULL while
    # the state is an event's.
    read_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-stripe_created", "-pk")
        indexes = [models.Index(fields=["organization", "-stripe_created"], name="billing_sub_org_created")]

    def __str__(self) -> str:
        return f"{self.stripe_subscription_id} ({self.status})"

    @property
    def cancel_at(self) -> datetime | None:
        """When the subscription ends for good: its period's end once a cancellation is
        scheduled, the moment it was canceled once it is, else None."""
        if self.cancel_at_period_end and self.status not in self.ENDED_STATUSES:
            return self.current_period_end
        return self.canceled_at if self.status == self.Status.CANCELED else None

    @property
    def auto_renew(self) -> bool:
        return self.status not in self.ENDED_STATUSES and not self.cancel_at_period_end


class WebhookEvent(models.Model):
    """A verified Stripe event: recorded (its body kept) when it is delivered, applied by the
    background worker (`billing.tasks.webhook_event_apply`).

    The unique id makes a redelivery a no-op, and `processed_at` is set in the same transaction
    as the state change the event causes: a worker killed mid-way, or a handler that fails,
    leaves it unset, and the event is applied (once) when it runs again.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"  # waiting for (or on) a worker
        RETRYING = "retrying", "retrying"  # failed on Stripe's side, tried again later
        PROCESSED = "processed", "processed"
        FAILED = "failed", "failed"  # given up: shown in the admin, retried from there

    stripe_event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=255)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # The event as Stripe sent it (verified): what the worker applies. Empty for an event that
    # was not delivered here (one listed from Stripe and replayed by the sync).
    body = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    first_failed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ("-received_at",)

    def __str__(self) -> str:
        return f"{self.stripe_event_id} ({self.type})"


class CapabilitySet(models.Model):
    """An organization's capabilities: the features of its plan, from Stripe's active entitlements.

    One row per organization. `items` holds one entry per entitled feature:
    `{"feature_id", "code", "type", "value", "lookup_key", "description"}`. `state_at` is the
    Stripe time of the entitlements it reflects (a summary event's `created`, or the moment
    of a fetch): a write carrying an older time is ignored, as for subscriptions. Whether the
    organization may use them is a separate question (its subscription's status, see
    `billing.capabilities`).
    """

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="capability_set")
    items = models.JSONField(default=list)
    state_at = models.DateTimeField(help_text="The Stripe time of the entitlements this row reflects.")
    synced_at = models.DateTimeField(help_text="When this row was last written from Stripe.")

    def __str__(self) -> str:
        return f"capabilities of organization #{self.organization_id}"


class CheckoutSession(models.Model):
    """One Stripe Checkout session the app started for an organization (a paid period).

    The row is written *before* Stripe is asked (`creating`): its random token is the Stripe
    idempotency key (`checkout-<token>`), so a request that died after Stripe answered, or timed
    out, is replayed by the next one and never leaves a second open session behind. Never
    holds card data; the URL is the Checkout page's, good only while the session is open.
    """

    class Status(models.TextChoices):
        CREATING = "creating", "Creating"
        OPEN = "open", "Open"
        COMPLETE = "complete", "Complete"
        EXPIRED = "expired", "Expired"

    # Not settled yet: the organization's pending payment, if any, is one of these.
    UNSETTLED_STATUSES = frozenset({Status.CREATING, Status.OPEN})

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="checkout_sessions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="checkout_sessions",
    )
    price_id = models.CharField(max_length=255)
    product_id = models.CharField(max_length=255)
    # NULL (not "") until Stripe answered, so the unique constraint holds.
    stripe_session_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    url = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATING)
    trial_days = models.PositiveIntegerField(default=0)
    # The line item's quantity: 1, or the member count for a per-seat period. Kept with the row
    # so a replay of its idempotency key sends the same parameters.
    quantity = models.PositiveIntegerField(default=1)
    amount = models.BigIntegerField(null=True, blank=True, help_text="In the currency's minor unit.")
    currency = models.CharField(max_length=3, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    stripe_subscription_id = models.CharField(max_length=255, blank=True)
    # Random, never derived from the primary key: a restored backup (or another deployment on
    # the same Stripe account) reuses primary keys, never tokens.
    idempotency_token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        indexes = [models.Index(fields=["organization", "status"], name="billing_checkout_org_status")]

    def __str__(self) -> str:
        return f"{self.stripe_session_id or 'checkout-' + str(self.pk)} ({self.status})"

    @property
    def idempotency_key(self) -> str:
        return f"checkout-{self.idempotency_token}"


class SeatChange(models.Model):
    """A change of an organization's member count, to be carried to its subscription's quantity
    at Stripe (a per-seat plan). At most one `pending` row per subscription: the changes of one
    window share it, and one update is made when it is due, at the member count of that moment.

    `applying` is the claim of the one update in flight for the subscription; `claimed_at`
    lets a claim left by a dead worker be taken over. The row's primary key and the quantity
    sent make the update's idempotency key (`idempotency_key_for`): a retry of the same update
    replays it, and a different quantity is a different write.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPLYING = "applying", "Applying"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="seat_changes")
    stripe_subscription_id = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    due_at = models.DateTimeField(help_text="When the update is made.")
    claimed_at = models.DateTimeField(null=True, blank=True)
    # What was sent to Stripe (the member count when it ran); NULL when nothing had to change.
    quantity = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True, help_text="When Stripe took the update.")

    class Meta:
        ordering = ("-created_at", "-pk")
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_subscription_id"],
                condition=models.Q(status="pending"),
                name="billing_seat_change_one_pending",
            )
        ]
        indexes = [models.Index(fields=["stripe_subscription_id", "status"], name="billing_seat_sub_status")]

    def __str__(self) -> str:
        return f"seats of {self.stripe_subscription_id} ({self.status})"

    def idempotency_key_for(self, quantity: int) -> str:
        return f"seat-change-{self.pk}-quantity-{quantity}"


class StripeWrite(models.Model):
    """One intended Stripe write that has no other row of its own: a customer, a free
    subscription, a cancellation or its undoing. Written *before* Stripe is asked; its random
    token is the write's idempotency key, so a key names exactly one intent.

    A retry of the same write while it is unfinished (Stripe's answer never came) reuses the
    row and replays the key; any other write, or the same one after an answer, gets a new row.
    A key derived from a timestamp or a count instead can come round again for another intent
    (cancel, resume, cancel in one second), and Stripe would replay the first answer without
    doing the write.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="stripe_writes")
    # What is written to: "customer", "subscription-<pk>", "free-subscription". Writes to one
    # subject follow each other; only the latest may be retried.
    subject = models.CharField(max_length=64)
    # The write, with whatever makes it this write (its parameters): "cancel", "create-price_...".
    action = models.CharField(max_length=255)
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True, help_text="When Stripe answered.")

    class Meta:
        ordering = ("-created_at", "-pk")
        indexes = [
            models.Index(fields=["organization", "subject", "-created_at"], name="billing_write_org_subject")
        ]

    def __str__(self) -> str:
        return f"{self.action} on {self.subject} of organization #{self.organization_id}"

    @property
    def idempotency_key(self) -> str:
        return f"{self.subject}-{self.action}-{self.token}"


class SyncCheckpoint(models.Model):
    """Where a `sync_subscriptions` run stands, stored after every page it lists: its phase,
    the cursor of the next page (`starting_after`, the last id of the page stored) and its
    counts. `--resume` continues the latest unfinished run from there; a run without it starts
    afresh."""

    class Phase(models.TextChoices):
        CUSTOMERS = "customers"
        SUBSCRIPTIONS = "subscriptions"
        CHECKOUT = "checkout"
        CAPABILITIES = "capabilities"
        CLEAR = "clear"
        DONE = "done"

    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.CUSTOMERS)
    cursor = models.CharField(max_length=255, blank=True, default="")
    counts = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(help_text="When the run started (the state time of what it read).")
    phase_started_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-started_at", "-pk")

    def __str__(self) -> str:
        return f"sync of {self.started_at:%Y-%m-%d %H:%M} at {self.phase} after {self.cursor or 'the start'}"


class SyncCustomerSeen(models.Model):
    """A customer id Stripe listed during the current sync run: the organizations whose customer
    is not among them are the ones Stripe no longer knows (kept across an interrupted run)."""

    customer_id = models.CharField(max_length=255, unique=True)

    def __str__(self) -> str:
        return self.customer_id
