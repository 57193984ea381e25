"""Serving the API with uvicorn: in the foreground (``kinestream api``) or in a thread.

:func:`running_server` is how tests (and anything else embedding the API) start a real
server: on a free port of loopback, in a background thread, stopped on exit::

    with running_server(ApiSettings(database_url=url, brokers=kafka)) as server:
        httpx.get(f"{server.base_url}/api/v1/sports")
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from kinestream.api.app import create_app
from kinestream.api.denials import QuietDenials
from kinestream.api.settings import ApiSettings

_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s\"]+")


class _RedactTokens(logging.Filter):
    """Keep credentials passed as ``?token=`` (WebSockets from browsers) out of the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the token in the record's arguments (the request line uvicorn logs)."""
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_QUERY.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


def _filter_uvicorn_logs() -> None:
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactTokens) for f in logger.filters):
            logger.addFilter(_RedactTokens())
    errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, QuietDenials) for f in errors.filters):
        errors.addFilter(QuietDenials())


def server_config(
    settings: ApiSettings, host: str, port: int, *, log_level: str = "info"
) -> uvicorn.Config:
    """The uvicorn configuration of the API app for ``settings``."""
    _filter_uvicorn_logs()
    return uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        ws_max_size=settings.ws_max_size,
        proxy_headers=True,
    )


def serve(settings: ApiSettings, host: str, port: int, *, log_level: str = "info") -> None:
    """Serve the API until interrupted (SIGINT / SIGTERM)."""
    uvicorn.Server(server_config(settings, host, port, log_level=log_level)).run()


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A server started by :func:`running_server`."""

    base_url: str
    """``http://127.0.0.1:<port>``."""

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:<port>``."""
        return "ws://" + self.base_url.removeprefix("http://")


@contextmanager
def running_server(
    settings: ApiSettings, *, log_level: str = "warning", start_timeout_s: float = 30.0
) -> Iterator[RunningServer]:
    """Run the API on a free loopback port in a thread while the block runs."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = server_config(settings, "127.0.0.1", port, log_level=log_level)
    server = uvicorn.Server(config)

    def run() -> None:
        with contextlib.suppress(SystemExit):  # what uvicorn raises when startup fails
            server.run(sockets=[listener])

    thread = threading.Thread(target=run, name="kinestream-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            listener.close()
            raise RuntimeError("the API server did not start (see its log)")
        time.sleep(0.02)
    try:
        yield RunningServer(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()
