"""python manage.py sync_subscriptions: pull subscriptions, open Checkout sessions and capabilities
from Stripe for every active organization with a customer (missed webhooks), in pages."""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.models import SyncCheckpoint
from billing.services.sync import (
    MISSING_SHARE_LIMIT,
    SyncKeySuspect,
    SyncStopped,
    subscriptions_sync_all,
    sync_checkpoint_start,
)
from billing.services.sync_events import events_replay, since_parse
from core.errors import ApplicationError

__all__ = ["MISSING_SHARE_LIMIT", "Command"]

# The exit status of a run stopped by SIGINT (128 + the signal's number, as a shell reports it).
EXIT_INTERRUPTED = 130
_PROGRESS_STEPS = 10  # without a terminal: a line at 0%, 10%, ... 100%


def _progress_done(checkpoint: SyncCheckpoint) -> tuple[int, int]:
    """How far the run is, in objects: customers and subscriptions listed, organizations whose
    capabilities were stored; out of an estimate of three per organization."""
    counts = checkpoint.counts
    total = max(1, 3 * counts.get("organizations", 0))
    if checkpoint.phase == SyncCheckpoint.Phase.DONE:
        return total, total
    done = (
        min(counts.get("customers_listed", 0), total // 3)
        + min(counts.get("subscriptions", 0), total // 3)
        + counts.get("capabilities_done", 0)
    )
    return min(done, total - 1), total


class _Lines:
    """Progress as at most 11 lines: 0%, 10%, ... 100%, each once."""

    def __init__(self, write: Any) -> None:
        self.write = write
        self.shown = -1

    def __call__(self, checkpoint: SyncCheckpoint) -> None:
        done, total = _progress_done(checkpoint)
        step = done * _PROGRESS_STEPS // total
        if step > self.shown:
            self.shown = step
            self.write(f"sync: {step * 100 // _PROGRESS_STEPS}% ({checkpoint.phase})")

    def close(self) -> None:
        pass


class _Bar:
    """A progress bar on a terminal (tqdm)."""

    def __init__(self, out: Any) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=1, file=out, unit="obj", desc="sync", dynamic_ncols=True)

    def __call__(self, checkpoint: SyncCheckpoint) -> None:
        done, total = _progress_done(checkpoint)
        self.bar.total = total
        self.bar.set_description(f"sync ({checkpoint.phase})")
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


class Command(BaseCommand):
    help = (
        "Pull every subscription, the open Checkout sessions and the capabilities of every active "
        "organization with a Stripe customer from Stripe (repairs missed webhooks), reading Stripe "
        "in pages of 100 at most STRIPE_SYNC_RATE requests a second and waiting out its rate "
        "limits. Never rolls back state newer than its own fetch; safe to run twice or while "
        "webhooks arrive. Customers Stripe no longer knows are cleared only when they are few: "
        "when all of them, or more than a tenth, are missing, the key is taken to be wrong, "
        "nothing is changed and the command fails (--clear-missing clears them all the same, "
        "once the key is known to be right). Ctrl-C stops it after the page in hand (exit 130); "
        "--resume then continues from there."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--clear-missing",
            action="store_true",
            help="Clear customers Stripe says are missing even when many are (the key is right).",
        )
        parser.add_argument(
            "--resume",
            action="store_true",
            help="Continue the last run where it stopped (without a checkpoint: a full run).",
        )
        parser.add_argument(
            "--since",
            type=since_parse,
            metavar="DATE",
            help=(
                "Instead of listing everything, replay the events Stripe sent since DATE "
                "(YYYY-MM-DD UTC or an ISO date-time; the last 30 days at most)."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options.get("since") is not None:
            try:
                result = events_replay(since=options["since"])
            except ApplicationError as e:
                raise CommandError(f"replay failed: {e.error_code}: {e.message}; run it again") from e
            self.stdout.write(self.style.SUCCESS(result.summary()))
            return
        checkpoint = sync_checkpoint_start(resume=options["resume"])
        out = getattr(self.stdout, "_out", sys.stdout)
        progress: _Lines | _Bar = _Bar(out) if self.stdout.isatty() else _Lines(self.stdout.write)
        stop = {"asked": False}

        def ask_to_stop(signum: int, frame: FrameType | None) -> None:
            stop["asked"] = True  # the page in hand is finished and stored first

        try:
            previous = signal.signal(signal.SIGINT, ask_to_stop)
        except ValueError:  # not the main thread (a test's call_command): Ctrl-C is not ours
            previous = None
        try:
            notices = subscriptions_sync_all(
                checkpoint=checkpoint,
                clear_missing=options["clear_missing"],
                progress=progress,
                should_stop=lambda: stop["asked"],
            )
        except (SyncStopped, KeyboardInterrupt):
            progress.close()
            self.stderr.write(
                f"interrupted at {checkpoint.phase}: run again with --resume to continue from there"
            )
            sys.exit(EXIT_INTERRUPTED)
        except SyncKeySuspect as e:
            progress.close()
            raise CommandError(
                f"{e}: nothing was changed. "
                "Is STRIPE_SECRET_KEY the key of this account, in the right mode (test or live)? "
                "If those customers really were deleted, run again with --clear-missing."
            ) from e
        except ApplicationError as e:
            progress.close()
            raise CommandError(
                f"failed at {checkpoint.phase}: {e.error_code}: {e.message} "
                f"({self._summary(checkpoint)}); run again with --resume to continue from there"
            ) from e
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        progress.close()
        for notice in notices:
            organization = notice.organization
            self.stderr.write(f"{organization.name} (#{organization.pk}): {notice.message}")
        self.stdout.write(self.style.SUCCESS(self._summary(checkpoint)))

    @staticmethod
    def _summary(checkpoint: SyncCheckpoint) -> str:
        c = checkpoint.counts
        return (
            f"synced {c.get('organizations', 0)} organizations: "
            f"{c.get('subscriptions', 0)} subscriptions ({c.get('subscriptions_written', 0)} updated), "
            f"{c.get('checkout_settled', 0)} checkout sessions settled, "
            f"{c.get('capabilities_written', 0)} capability sets changed, "
            f"{c.get('missing', 0)} customers missing at Stripe ({c.get('cleared', 0)} cleared), "
            f"{c.get('calls', 0)} Stripe calls"
        )
