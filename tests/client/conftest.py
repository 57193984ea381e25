"""The SDK's tests run against the API's test server (``tests/api/conftest.py``: one real
uvicorn per module, on its own topics and database), plus a server that can be stopped and
started again on the same port, to see clients resume."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from kinestream.api.server import server_config
from kinestream.api.settings import ApiSettings
from kinestream.client import Client
from tests.api.conftest import Api, api, api_settings_overrides, module_database, module_topics

__all__ = [
    "RestartableServer",
    "api",
    "api_settings_overrides",
    "module_database",
    "module_topics",
    "restartable_server",
    "sync_client",
]


def sync_client(api: Api, key: str | None) -> Client:
    """A client of the module's server."""
    return Client(api.server.base_url, key, timeout_s=30.0)


class RestartableServer:
    """An API server on a fixed loopback port that :meth:`restart` stops and starts again."""

    def __init__(self, settings: ApiSettings) -> None:
        self._settings = settings
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self._port: int = probe.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self._port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self._port))
        config = server_config(self._settings, "127.0.0.1", self._port, log_level="warning")
        server = uvicorn.Server(config)

        def run() -> None:
            with contextlib.suppress(SystemExit):
                server.run(sockets=[listener])

        self._listener = listener
        self._server = server
        self._thread = threading.Thread(target=run, name="kinestream-api-restartable", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start (see its log)")
            time.sleep(0.02)

    def stop(self) -> None:
        assert self._server is not None
        assert self._thread is not None
        assert self._listener is not None
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._listener.close()

    def restart(self, down_s: float = 0.0) -> None:
        """Stop (its sockets are closed with 1012), stay down ``down_s``, start again."""
        self.stop()
        time.sleep(down_s)
        self.start()


@contextmanager
def restartable_server(settings: ApiSettings) -> Iterator[RestartableServer]:
    """A :class:`RestartableServer`, started, stopped on exit."""
    server = RestartableServer(settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()
