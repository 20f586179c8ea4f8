"""Django's SQLite backend, with write transactions taken in turn, without SQLite's sleeps.

SQLite has one writer at a time, and the settings begin every transaction IMMEDIATE (the write
lock at BEGIN). A BEGIN that finds the file locked sleeps in SQLite's busy handler, 1, 2, 5,
10 ... 100 ms between tries, whatever the holder does meanwhile, and a writer that has slept
longest is the last to see the lock free while fresh ones take it: under a webhook storm, with
a worker applying events beside two server processes, answers took up to 2-3 s.

Here a transaction first takes a lock of its own, in two parts: the threads of a process queue
on a `threading.Lock` (woken the moment the one before them is done), and the one at the front
takes an exclusive `flock` on a file beside the database (`<database>-writer`), tried every
millisecond, which the processes share. Only then BEGIN IMMEDIATE, which finds the file free;
the lock is let go when the transaction ends (commit, rollback, or the connection closing). A
lock not had within the database's `timeout` (the busy timeout, 20 s) is SQLite's own
"database is locked". Writes outside a transaction (autocommit) do not take it: each is one
short statement, and SQLite's busy handler stays their wait. An in-memory database (the test
suite's) has one connection and needs none of this.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from typing import Any

from django.db import OperationalError
from django.db.backends.sqlite3 import base

# How often the front thread of a process tries the file lock held by another process.
_TRY_EVERY_SECONDS = 0.001


class _Writer:
    """The write lock of one database file, for this process."""

    def __init__(self, path: str) -> None:
        self.threads = threading.Lock()
        self.fd = os.open(f"{path}-writer", os.O_RDWR | os.O_CREAT, 0o600)

    def acquire(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if not self.threads.acquire(timeout=timeout):
            raise OperationalError("database is locked")
        try:
            while True:
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise OperationalError("database is locked") from None
                    time.sleep(_TRY_EVERY_SECONDS)
        except BaseException:
            self.threads.release()
            raise

    def release(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.threads.release()


# One per database file and process: a forked process (gunicorn's workers) opens its own file,
# since a `flock` belongs to the open file, which a fork shares.
_writers: dict[tuple[int, str], _Writer] = {}
_writers_lock = threading.Lock()


def _writer(path: str) -> _Writer:
    key = (os.getpid(), os.path.abspath(path))
    with _writers_lock:
        if key not in _writers:
            _writers[key] = _Writer(key[1])
        return _writers[key]


class DatabaseWrapper(base.DatabaseWrapper):
    _writer_held: _Writer | None = None

    def _writer(self) -> _Writer | None:
        if self.is_in_memory_db():
            return None
        return _writer(str(self.settings_dict["NAME"]))

    def _start_transaction_under_autocommit(self) -> None:
        writer = self._writer()
        if writer is not None:
            writer.acquire(float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5)))
            self._writer_held = writer
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # not in django-stubs
        except BaseException:
            self._writer_release()
            raise

    def _writer_release(self) -> None:
        writer, self._writer_held = self._writer_held, None
        if writer is not None:
            writer.release()

    def _commit(self) -> Any:
        try:
            return super()._commit()  # type: ignore[misc]  # not in django-stubs
        finally:
            self._writer_release()

    def _rollback(self) -> Any:
        try:
            return super()._rollback()  # type: ignore[misc]  # not in django-stubs
        finally:
            self._writer_release()

    def _close(self) -> Any:
        try:
            return super()._close()  # type: ignore[misc]  # not in django-stubs
        finally:
            self._writer_release()
