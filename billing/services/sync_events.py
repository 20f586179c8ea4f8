"""`sync_subscriptions --since DATE`: replay the events Stripe sent since then.

Instead of listing every subscription, list Stripe's events created since `since` (newest
first, in pages) and apply them oldest first through the webhook's own handlers and
de-duplication (`billing.webhooks.event_apply`): an event the webhook already processed is
not applied again, and one replayed here is not applied again when its delivery arrives.
Stripe lists the events of the last 30 days only, so an older `since` is refused.
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from billing import stripe_gateway
from billing.errors import WebhookPayloadInvalid
from billing.webhooks import Outcome, event_apply

logger = logging.getLogger(__name__)

# How far back Stripe lists events.
EVENTS_KEPT = timedelta(days=30)


class SinceInvalid(argparse.ArgumentTypeError, ValueError):
    """A `--since` value that is not a date or date-time, or is older than Stripe keeps events.

    An `ArgumentTypeError`: given as an argument's `type`, the command line reports the message
    and exits with status 2."""


@dataclass(frozen=True)
class EventsReplayResult:
    since: datetime
    listed: int  # events Stripe listed since then
    pages: int  # list calls made
    outcomes: dict[str, int] = field(default_factory=dict)  # Outcome value (or "invalid") -> count

    @property
    def processed(self) -> int:
        return self.outcomes.get(Outcome.PROCESSED.value, 0)

    @property
    def duplicate(self) -> int:
        return self.outcomes.get(Outcome.DUPLICATE.value, 0)

    def summary(self) -> str:
        counts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(self.outcomes.items()))
        return (
            f"replayed {self.listed} events since {self.since.isoformat()}"
            f" ({self.pages} pages): {counts or 'nothing to do'}"
        )


def since_parse(value: str) -> datetime:
    """`YYYY-MM-DD` (midnight UTC) or an ISO date-time (UTC when it names no offset), within
    the last 30 days. Raises `SinceInvalid` with a message to show."""
    text = value.strip()
    try:
        if len(text) == 10:
            since = datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        else:
            since = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise SinceInvalid(f"--since {value!r} is not a date (YYYY-MM-DD, UTC) or an ISO date-time") from None
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    since_check(since)
    return since


def since_check(since: datetime) -> None:
    """Refuse a `since` older than the events Stripe lists (30 days) or in the future."""
    now = timezone.now()
    if since < now - EVENTS_KEPT:
        raise SinceInvalid(
            f"--since {since.isoformat()} is more than 30 days ago: Stripe lists the events of the "
            "last 30 days only; run the sync without --since to list everything"
        )
    if since > now:
        raise SinceInvalid(f"--since {since.isoformat()} is in the future")


def events_replay(*, since: datetime) -> EventsReplayResult:
    """List the events created since `since` and apply them, oldest first, as webhooks.

    The pages are read first (newest first, as Stripe lists them), then applied in the order
    Stripe created them. Each goes through the webhook's de-duplication: one already processed
    (delivered, or replayed before) counts as a duplicate and changes nothing. An event whose
    object is not the shape its type has is counted as "invalid" and skipped; any other error
    stops the replay (what was applied stays applied; running it again skips it). Raises
    `SinceInvalid` for a `since` older than 30 days, and billing errors from Stripe.
    """
    since_check(since)
    listed: list[stripe_gateway.StripeEvent] = []
    pages = 0
    cursor = ""
    while True:
        page, cursor = stripe_gateway.event_list(created_gte=since, starting_after=cursor)
        pages += 1
        listed.extend(page)
        if not cursor:
            break
    outcomes: Counter[str] = Counter()
    # Stripe lists newest first; within one second its order is the only one there is.
    for event in reversed(listed):
        try:
            outcomes[event_apply(event).value] += 1
        except WebhookPayloadInvalid:
            logger.warning(
                "billing.replay_event_invalid", extra={"event_id": event.id, "event_type": event.type}
            )
            outcomes["invalid"] += 1
    result = EventsReplayResult(since=since, listed=len(listed), pages=pages, outcomes=dict(outcomes))
    logger.info(
        "billing.events_replayed", extra={"since": since.isoformat(), "listed": len(listed), "pages": pages}
    )
    return result
