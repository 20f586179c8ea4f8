"""SQLite's write transactions taken in turn (core/backends/sqlite3): the lock is held exactly
while a transaction is open, queues the threads of a process and the processes of a machine,
and gives up as SQLite would, with "database is locked", after the database's timeout."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator

import pytest
from django.db import OperationalError, connection, transaction

from core.backends.sqlite3 import base as sqlite_backend
from core.models import Lease

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _sqlite_only() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the writer lock is SQLite's")


@pytest.fixture
def other_process() -> Iterator[int]:
    """The lock file opened as another process would: a `flock` of its own."""
    fd = os.open(f"{connection.settings_dict['NAME']}-writer", os.O_RDWR | os.O_CREAT, 0o600)
    yield fd
    os.close(fd)


def _free_for(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


def _write(key: str) -> None:
    Lease.objects.create(key=key, token="test", expires_at="2999-01-01T00:00:00Z")


def test_the_lock_is_held_while_a_transaction_is_open_and_let_go_when_it_ends(other_process):
    assert _free_for(other_process)
    with transaction.atomic():
        _write("a")
        assert not _free_for(other_process), "another process could begin meanwhile"
    assert _free_for(other_process)

    with pytest.raises(ZeroDivisionError), transaction.atomic():
        _write("b")
        1 / 0  # noqa: B018 (rolled back)
    assert _free_for(other_process)

    transaction.set_autocommit(False)
    try:
        _write("c")  # not begun through `atomic`: SQLite's own lock only
    finally:
        transaction.rollback()
        transaction.set_autocommit(True)
    assert _free_for(other_process)
    assert list(Lease.objects.values_list("key", flat=True)) == ["a"]


def test_a_closed_connection_lets_the_lock_go(other_process):
    """A connection closed mid-transaction (as a thread's would on a fatal error), on a thread
    of its own, so that the test's own connection is left as it was."""
    seen: list[bool] = []

    def close_mid_transaction() -> None:
        try:
            with transaction.atomic():
                _write("a")
                connection.close()
                seen.append(_free_for(other_process))
        except Exception:  # noqa: S110 (Django may refuse to end a block whose connection is gone)
            pass
        finally:
            connection.close()

    thread = threading.Thread(target=close_mid_transaction)
    thread.start()
    thread.join(10)

    assert seen == [True]
    assert list(Lease.objects.values_list("key", flat=True)) == []


def test_a_thread_waits_for_the_transaction_before_it_then_writes(other_process):
    started, finish, order = threading.Event(), threading.Event(), []

    def first() -> None:
        try:
            with transaction.atomic():
                _write("first")
                started.set()
                finish.wait(5)
                order.append("first commits")
        finally:
            connection.close()

    def second() -> None:
        try:
            with transaction.atomic():
                order.append("second begins")
                _write("second")
        finally:
            connection.close()

    one = threading.Thread(target=first)
    one.start()
    assert started.wait(5)
    two = threading.Thread(target=second)
    two.start()
    two.join(0.3)
    assert two.is_alive() and order == [], "the second began while the first was open"
    finish.set()
    one.join(5)
    two.join(5)

    assert order == ["first commits", "second begins"]
    assert sorted(Lease.objects.values_list("key", flat=True)) == ["first", "second"]


def test_a_lock_another_process_keeps_past_the_timeout_is_database_is_locked(other_process, settings):
    options = {**connection.settings_dict["OPTIONS"], "timeout": 0.2}
    fcntl.flock(other_process, fcntl.LOCK_EX)
    try:
        connection.settings_dict["OPTIONS"] = options
        with pytest.raises(OperationalError, match="database is locked"), transaction.atomic():
            _write("a")
    finally:
        fcntl.flock(other_process, fcntl.LOCK_UN)
        connection.settings_dict["OPTIONS"] = {
            **options,
            "timeout": settings.DATABASES["default"]["OPTIONS"]["timeout"],
        }

    with transaction.atomic():  # the process's own turn was given back with the failure
        _write("b")
    assert list(Lease.objects.values_list("key", flat=True)) == ["b"]


def test_a_forked_process_opens_its_own_lock_file(monkeypatch):
    path = str(connection.settings_dict["NAME"])
    mine = sqlite_backend._writer(path)
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as in a worker forked from this process
    child = sqlite_backend._writer(path)
    assert child is not mine and child.fd != mine.fd
