"""`python manage.py worker`: one background worker (docs/background.md).

django-tasks-db's worker loop, plus what it lacks to lose nothing: a heartbeat kept from a
thread of its own, and a sweep (on start, then every few seconds) that puts back in the queue
the tasks of workers whose heartbeat stopped. SIGTERM or SIGINT: the task in hand finishes
(its Stripe calls are bounded by the Stripe timeout), then the worker exits 0; a second one
stops it at once (the task runs again later, on another worker).
"""

from __future__ import annotations

import logging
import threading
import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker, valid_interval

from core import tasks

logger = logging.getLogger("core.worker")

_SWEEP_EVERY = 2  # heartbeats
_PRUNE_EVERY = 720  # heartbeats: an hour


class _Upkeep(threading.Thread):
    """Beats the worker's heartbeat and sweeps lost tasks, beside the loop that runs tasks (a
    task waiting on Stripe does not stop its worker from being seen alive)."""

    def __init__(self, *, worker_id: str, lost_after: float) -> None:
        super().__init__(name="worker-upkeep", daemon=True)
        self.worker_id = worker_id
        self.lost_after = lost_after
        self.started_at = timezone.now()
        self.stopping = threading.Event()

    def once(self, beat: int) -> None:
        try:
            tasks.heartbeat(worker_id=self.worker_id, started_at=self.started_at)
            if beat % _SWEEP_EVERY == 0:
                tasks.lost_tasks_requeue(lost_after=self.lost_after)
            if beat % _PRUNE_EVERY == 0:
                tasks.finished_prune()
        except Exception:  # a database hiccup: the next beat tries again
            logger.warning("tasks.worker_upkeep_failed", exc_info=True)
            close_old_connections()

    def run(self) -> None:
        beat = 0
        try:
            while not self.stopping.is_set():
                self.once(beat)
                beat += 1
                self.stopping.wait(tasks.HEARTBEAT_SECONDS)
        finally:
            connection.close()


class Command(BaseCommand):
    help = "Run a background worker: applies webhook events and the app's other tasks until SIGTERM."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--interval",
            type=valid_interval,
            default=0.5,
            help="Seconds between looks at an empty queue (default: %(default)s)",
        )
        parser.add_argument(
            "--batch", action="store_true", help="Run every task due, then exit (no heartbeat kept)"
        )
        parser.add_argument(
            "--lost-after",
            type=valid_interval,
            default=tasks.LOST_AFTER_SECONDS,
            help="Seconds without a heartbeat after which a worker's running task is run again "
            "(default: %(default)s)",
        )
        parser.add_argument(
            "--worker-id",
            default="",
            help="Unique among the workers (default: a random one)",
        )

    def handle(
        self, *args: Any, interval: float, batch: bool, lost_after: float, worker_id: str, **options: Any
    ) -> None:
        worker_id = worker_id or f"w-{get_random_string(24)}"
        worker = Worker(
            queue_names=["*"],
            interval=interval,
            batch=batch,
            backend_name="default",
            startup_delay=not batch,
            max_tasks=None,
            worker_id=worker_id,
            excluded_queue_names=[],
        )
        upkeep = _Upkeep(worker_id=worker_id, lost_after=lost_after)
        if batch:
            upkeep.once(0)  # a one-off run still picks up the tasks of dead workers
            tasks.heartbeat_stop(worker_id=worker_id)
        else:
            upkeep.start()
        logger.info("tasks.worker_started", extra={"worker_id": worker_id})
        worker.configure_signals()
        started = time.monotonic()
        try:
            worker.run()
        finally:
            upkeep.stopping.set()
            if upkeep.is_alive():
                upkeep.join(timeout=5)
            try:
                tasks.heartbeat_stop(worker_id=worker_id)
            except Exception:
                logger.warning("tasks.worker_heartbeat_stop_failed", exc_info=True)
            logger.info(
                "tasks.worker_stopped",
                extra={"worker_id": worker_id, "seconds": round(time.monotonic() - started, 1)},
            )
