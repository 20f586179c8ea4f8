"""HTTP plumbing: a threaded HTTP/1.1 server (keep-alive) and the shape of an answer.

``Handler`` sends ``/v1/`` requests to ``StripeStandIn._handle_api``, ``/_standin/`` ones to its
controls and the hosted pages' paths to ``_handle_page``; anything else is Stripe's 404.
"""

from __future__ import annotations

import base64
import json
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import BaseServer, TCPServer
from typing import TYPE_CHECKING, Any, NamedTuple

from stripe_standin import errors
from stripe_standin.errors import ApiError
from stripe_standin.forms import FormError, parse_form
from stripe_standin.pages import Page

if TYPE_CHECKING:
    from stripe_standin.server import StripeStandIn


class Answer(NamedTuple):
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = {}  # never mutated; use _replace()


def json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, indent=2).encode()


def error_answer(err: ApiError) -> Answer:
    return Answer(err.status, json_bytes(err.body()), headers=err.headers)


def page_answer(page: Page) -> Answer:
    if page.location is not None:
        return Answer(303, b"", "text/html; charset=utf-8", headers={"Location": page.location})
    return Answer(page.status, page.html.encode(), "text/html; charset=utf-8")


def decode_body(body: bytes, content_type: str) -> dict[str, Any]:
    if not body:
        return {}
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/json"):
            decoded = json.loads(text)
            if not isinstance(decoded, dict):
                raise ValueError("expected a JSON object")
            return decoded
    except ValueError as err:  # includes UnicodeDecodeError and JSONDecodeError
        raise FormError(f"Invalid request body: {err}", "body") from err
    return parse_form(text)


def api_key_from(authorization: str) -> str | None:
    """The key from "Bearer sk_..." (what the SDK sends) or Basic auth (curl -u sk_...:)."""
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip() or None
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(credentials).decode().partition(":")[0] or None
        except ValueError:
            return credentials
    return authorization.strip() or None


# ---- HTTP plumbing ----------------------------------------------------------------


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], standin: StripeStandIn) -> None:
        self.standin = standin
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() looks up the FQDN, which can stall offline.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.standin._connection_opened(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.standin._connection_closed(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            BaseServer.handle_error(self, request, client_address)  # clients hanging up are fine


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "stripe-standin"
    disable_nagle_algorithm = True
    server: Server
    _api_seen = False  # one handler instance serves one connection

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        standin = self.server.standin
        answer: Answer | None
        try:
            if path.startswith("/v1/"):
                if not self._api_seen:
                    self._api_seen = True
                    standin._api_connection_opened()
                headers = {name.lower(): value for name, value in self.headers.items()}
                answer = standin._handle_api(self.command, path, query, body, headers)
            elif path.startswith("/_standin/"):
                answer = standin._handle_control(self.command, path, query, body)
            elif path.startswith(("/p/session/", "/c/pay/", "/i/")) and self.command in ("GET", "POST"):
                answer = standin._handle_page(self.command, path, body, self.headers.get("Host"))
            else:
                answer = error_answer(errors.unrecognized_url(self.command, path))
        except Exception as err:  # a bug in the stand-in: say so loudly, Stripe-style
            traceback.print_exc()
            answer = error_answer(ApiError(500, f"stripe-standin internal error: {err!r}", type="api_error"))
        if answer is None:  # "drop" fault: hang up without answering
            self.close_connection = True
            return
        reason = self.responses.get(answer.status, ("",))[0]
        head = [
            f"HTTP/1.1 {answer.status} {reason}",
            f"Content-Type: {answer.content_type}",
            f"Content-Length: {len(answer.body)}",
            "Cache-Control: no-cache, no-store",
            f"Server: {self.server_version}",
            f"Connection: {'close' if self.close_connection else 'keep-alive'}",
            *(f"{name}: {value}" for name, value in answer.headers.items()),
        ]
        # One write per response: no Nagle/delayed-ACK stalls on keep-alive connections.
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + answer.body)
