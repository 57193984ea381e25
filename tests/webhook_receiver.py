"""A real webhook receiver for the tests: an HTTP server on 127.0.0.1 in a thread."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """What the receiver answers to one request, after ``delay_s``."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    hang_s: float = 0.0
    """Keep the connection open this long after the body (with a larger Content-Length in
    ``headers``: a body that does not end)."""


@dataclass(frozen=True)
class Received:
    """One request as the receiver got it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    """Unix time the request arrived."""


Respond = Callable[[str, int], Reply]
"""Given a request's path and how many requests came before it, the reply."""


class Receiver:
    """Records every POST and answers with ``respond``; also counts requests in flight.

    With ``tls`` (a server context with its certificate loaded) it serves HTTPS."""

    def __init__(self, respond: Respond, port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Received] = []
        self.in_flight = 0
        self.max_in_flight = 0
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    index = len(receiver.requests)
                    receiver.requests.append(
                        Received(self.path, dict(self.headers.items()), body, time.time())
                    )
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                try:
                    reply = respond(self.path, index)
                    time.sleep(reply.delay_s)
                    self.send_response(reply.status)
                    headers = {"Content-Length": str(len(reply.body)), **reply.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(reply.body)
                    self.wfile.flush()
                    time.sleep(reply.hang_s)
                finally:
                    with lock:
                        receiver.in_flight -= 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (the timeout tests) is expected

        self._server = Server(("127.0.0.1", port), Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "http" if tls is None else "https"
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        """This receiver's URL for ``path``."""
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def paths(self) -> list[str]:
        """The paths of the requests received so far."""
        return [r.path for r in self.requests]

    def close(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()


ReceiverFactory = Callable[..., Receiver]


@contextmanager
def receivers() -> Iterator[ReceiverFactory]:
    """Start receivers with ``make(respond=..., port=..., tls=...)``; all stop on the way out."""
    started: list[Receiver] = []

    def make(
        respond: Respond = lambda path, i: Reply(), port: int = 0, tls: ssl.SSLContext | None = None
    ) -> Receiver:
        receiver = Receiver(respond, port, tls)
        started.append(receiver)
        return receiver

    try:
        yield make
    finally:
        for receiver in started:
            receiver.close()
