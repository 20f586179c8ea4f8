"""gunicorn's threaded worker, closing connections without holding up its main loop.

gunicorn closes a connection gracefully (RFC 9112 section 9.6): it sends its FIN, then reads
and discards what the client still sends until the client closes too, for up to 2 s, so that
unread request bytes do not make the kernel reset the connection under the answer. The stock
gthread worker does that wait on its main loop, the one thread that accepts connections and
hands them to the others: every answer that closes its connection held up the whole worker
until the client had closed, and a client that never closes held it for 2 s.

This worker shuts its side down and leaves the rest to the main loop's poller: the socket is
closed when the client's FIN arrives, after 64 KiB of discarded data, or 2 s after the answer,
whichever comes first, while the loop goes on accepting and dispatching. At most
`MAX_LINGERING` connections wait so; past that one is closed at once, as gunicorn closes a
connection that fails. TLS connections keep gunicorn's own close.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from concurrent.futures import Future
from functools import partial
from typing import Any

from gunicorn.workers import gthread

LINGER_SECONDS = 2.0  # gunicorn's own wait (util.close_graceful)
LINGER_MAX_BYTES = 65536  # and the most it discards
MAX_LINGERING = 512


class ThreadWorker(gthread.ThreadWorker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The sockets waiting for their client's FIN: deadline and bytes discarded so far.
        self._lingering: dict[socket.socket, list[float]] = {}

    def finish_request(self, conn: Any, fs: Future[Any]) -> None:
        if self.cfg.is_ssl or fs.cancelled() or fs.exception() is not None:
            return super().finish_request(conn, fs)  # type: ignore[no-any-return]
        result = fs.result()
        if result is gthread._DEFER or result:  # waits for data, or kept alive
            return super().finish_request(conn, fs)  # type: ignore[no-any-return]
        self.nr_conns -= 1
        self._linger(conn.sock)
        return None

    def _linger(self, sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            sock.close()
            return
        if len(self._lingering) >= MAX_LINGERING:
            sock.close()
            return
        sock.setblocking(False)
        self._lingering[sock] = [time.monotonic() + LINGER_SECONDS, 0.0]
        self.poller.register(sock, selectors.EVENT_READ, partial(self._drain, sock))

    def _drain(self, sock: socket.socket, _fileobj: Any) -> None:
        try:
            data = sock.recv(16384)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        state = self._lingering.get(sock)
        if state is None:
            return
        state[1] += len(data)
        if not data or state[1] >= LINGER_MAX_BYTES:
            self._close_lingering(sock)

    def _close_lingering(self, sock: socket.socket) -> None:
        self._lingering.pop(sock, None)
        with contextlib.suppress(KeyError, ValueError):  # never registered, or already gone
            self.poller.unregister(sock)
        sock.close()

    def murder_keepalived(self, *args: Any, **kwargs: Any) -> None:
        super().murder_keepalived(*args, **kwargs)
        now = time.monotonic()
        for sock in [s for s, (deadline, _) in self._lingering.items() if deadline <= now]:
            self._close_lingering(sock)
