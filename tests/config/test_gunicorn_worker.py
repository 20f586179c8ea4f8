"""The worker of config/gunicorn.py: an answer that closes its connection does not hold up the
worker while the client takes its time to close its side; a worker starts with what the master
loaded frozen for the cycle collector."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUEST = b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "4",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "tests.config.echo_app:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                answer(sock)  # a worker answers, not only the master's listening socket
            break
        except OSError as e:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(process.stderr.read().decode() if process.stderr else "no start") from e
            time.sleep(0.1)
    yield port, process
    process.terminate()
    _, stderr = process.communicate(timeout=30)
    assert b"Traceback" not in stderr, stderr.decode()


def answer(sock: socket.socket, request: bytes = REQUEST) -> bytes:
    """The whole answer, up to the server's FIN (the connection closes after it)."""
    sock.sendall(request)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_a_client_that_keeps_its_side_open_does_not_hold_up_the_next_one(server):
    port, _ = server
    lingering = socket.create_connection(("127.0.0.1", port), timeout=5)
    assert answer(lingering).endswith(b"ok")  # and the client does not close
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as other:
        assert answer(other).endswith(b"ok")
    assert time.monotonic() - started < 1.0  # the stock worker waits up to 2 s here
    lingering.close()


def test_connections_are_closed_once_their_clients_close_or_after_two_seconds(server):
    port, process = server
    (worker,) = map(int, Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split())

    def open_files() -> int:
        return len(os.listdir(f"/proc/{worker}/fd"))

    for _ in range(5):  # the worker's first requests open files of their own (imports, sockets)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            assert answer(sock).endswith(b"ok")
    time.sleep(0.5)
    before = open_files()
    for _ in range(50):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            assert answer(sock).endswith(b"ok")
    time.sleep(0.5)
    assert open_files() <= before + 2

    silent = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(5)]
    for sock in silent:
        assert answer(sock).endswith(b"ok")
    assert open_files() >= before + 3  # still waiting for those clients
    time.sleep(3.5)  # 2 s, and the main loop's next round
    assert open_files() <= before + 2
    for sock in silent:
        sock.close()


def test_a_worker_starts_with_what_the_master_loaded_frozen(server):
    # The master preloads the app and freezes it before forking (config/gunicorn.py's
    # pre_fork): a worker's full collections leave those objects alone. Unfrozen, it reads 0.
    port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        data = answer(sock, b"GET /gc-frozen HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    frozen = int(data.rpartition(b"\r\n\r\n")[2])
    assert frozen > 10_000  # gunicorn, its configuration and the app: tens of thousands of objects
