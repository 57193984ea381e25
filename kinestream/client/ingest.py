"""Publishing an analysis's poses or frames over the ingest WebSocket.

:class:`IngestSession` (sync) and :class:`AsyncIngestSession` send ``KP`` pose packets
(:func:`kinestream.wire.encode_pose_value`) and ``KF`` frame packets
(:func:`kinestream.wire.encode_frame_packet`) and read the server's replies in the
background (a thread; a task): one ``ack`` or ``error`` per packet, and ``backpressure``
when the server waits for Kafka. At most ``window`` packets are unanswered at a time: a
``send_*`` beyond that blocks (awaits) until a reply frees a slot, so a sender never runs
ahead of Kafka.

Errors: a packet the server refuses (``{"type": "error"}``) is kept in ``errors`` and
raised, as :class:`~kinestream.client.errors.IngestError`, by the next ``send_*`` or
:meth:`flush` (the oldest of those not raised yet; the others are only noted on it); the
socket stays open, so the caller may catch it and go on. A socket the server closes (1000
once the analysis is stopped, 1007 after too many bad packets) makes every later call raise
:class:`~kinestream.client.errors.StreamClosedError`.

Leaving the ``with`` block waits for every reply (:meth:`flush`, unless the block raised),
then closes the socket; with ``end_on_close`` the server then ends the analysis after the
last packet it acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from types import TracebackType
from typing import Self
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection as AsyncConnection
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from kinestream import wire
from kinestream.client import _sockets
from kinestream.client.errors import IngestError, KinestreamError, StreamClosedError
from kinestream.operators.pose import PoseSample


def _closed_by_client() -> StreamClosedError:
    return StreamClosedError(1000, "the client closed the ingest session")


def ingest_url(websocket_root: str, analysis_id: str, *, end_on_close: bool) -> str:
    """The ingest socket of an analysis."""
    query = "?end_on_close=1" if end_on_close else ""
    return f"{websocket_root}/analyses/{quote(analysis_id, safe='')}/ingest{query}"


class _Window:
    """Counts of one ingest socket, and its errors not raised yet (no locking of its own)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("the window must hold at least one packet")
        self.size = size
        self.sent = 0
        self.acked = 0
        self.backpressure = 0
        self.errors: list[IngestError] = []
        self.closed: StreamClosedError | None = None
        self._raised = 0

    @property
    def unanswered(self) -> int:
        return self.sent - self.acked - len(self.errors)

    @property
    def full(self) -> bool:
        return self.unanswered >= self.size and self.closed is None

    @property
    def waiting(self) -> bool:
        """Whether replies are still due on an open socket."""
        return self.unanswered > 0 and self.closed is None

    def reply(self, raw: str | bytes) -> None:
        """Count one server message (messages it does not know are ignored)."""
        try:
            message = json.loads(raw)
            kind = message["type"]
        except (ValueError, TypeError, KeyError):
            return
        if kind == "ack":
            self.acked += 1
        elif kind == "error":
            seq = message.get("seq")
            self.errors.append(
                IngestError(
                    str(message.get("code")),
                    str(message.get("message")),
                    None if seq is None else int(seq),
                )
            )
        elif kind == "backpressure":
            self.backpressure += 1

    def check(self) -> None:
        """Raise the oldest error not raised yet (the others with it), else the closing."""
        pending = self.errors[self._raised :]
        if pending:
            self._raised = len(self.errors)
            if len(pending) > 1:
                pending[0].add_note(f"{len(pending) - 1} more packets refused since: see .errors")
            raise pending[0]
        if self.closed is not None:
            raise self.closed

    def check_flushed(self) -> None:
        """After a flush: raise a pending error, or the close that left replies unanswered."""
        if self._raised < len(self.errors) or self.unanswered:
            self.check()


class _Counts:
    """What a session reports."""

    _window: _Window

    @property
    def sent(self) -> int:
        """Packets sent."""
        return self._window.sent

    @property
    def acked(self) -> int:
        """Packets Kafka has (acknowledged by the server)."""
        return self._window.acked

    @property
    def errors(self) -> list[IngestError]:
        """Packets the server refused, oldest first."""
        return list(self._window.errors)

    @property
    def backpressure(self) -> int:
        """How many times the server said it stopped reading until Kafka caught up."""
        return self._window.backpressure


class IngestSession(_Counts):
    """A sync ingest socket (see the module docstring); from
    :meth:`kinestream.client.Client.ingest`, used as a context manager."""

    def __init__(
        self, url: str, credential: str | None, window: int, open_timeout_s: float
    ) -> None:
        self._url = url
        self._options = _sockets.options(credential, open_timeout_s)
        self._window = _Window(window)
        self._changed = threading.Condition()
        self._resources = contextlib.ExitStack()
        self._socket: ClientConnection | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            self.close()

    def open(self) -> None:
        """Open the socket (raises the API's refusal: 401, 404, 409 when the analysis ended)."""
        try:
            self._socket = self._resources.enter_context(connect(self._url, **self._options))
        except _sockets.HANDSHAKE_FAILURES as exc:
            raise _sockets.handshake_error(self._url, exc) from exc
        self._reader = threading.Thread(
            target=self._read, args=(self._socket,), name="kinestream-ingest-replies", daemon=True
        )
        self._reader.start()

    def send_pose(self, sample: PoseSample, fps: float = 0.0) -> None:
        """Send one pose (``fps``: the nominal frame rate, 0 when unknown)."""
        self._send(wire.encode_pose_value(sample, fps))

    def send_frame(self, frame: wire.Frame) -> None:
        """Send one JPEG frame (its ``stream_id`` is ignored: the analysis's is used)."""
        self._send(wire.encode_frame_packet(frame))

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every packet sent is answered; raise a refused packet's error."""
        with self._changed:
            if not self._changed.wait_for(lambda: not self._window.waiting, timeout_s):
                raise TimeoutError(
                    f"{self._window.unanswered} packets not answered within {timeout_s} s"
                )
            self._window.check_flushed()

    def close(self) -> None:
        """Close the socket (without waiting for replies) and stop reading."""
        with self._changed:
            self._window.closed = self._window.closed or _closed_by_client()
        self._resources.close()
        if self._reader is not None:
            self._reader.join()

    def _send(self, packet: bytes) -> None:
        socket = self._opened()
        with self._changed:
            self._window.check()
            self._changed.wait_for(lambda: not self._window.full)
            self._window.check()
            self._window.sent += 1
        try:
            socket.send(packet)
        except ConnectionClosed as exc:
            with self._changed:
                self._window.sent -= 1
                self._window.closed = self._window.closed or _sockets.closed_error(exc)
                self._window.check()

    def _opened(self) -> ClientConnection:
        if self._socket is None:
            raise KinestreamError("the ingest session is not open: use it in a with block")
        return self._socket

    def _read(self, socket: ClientConnection) -> None:
        while True:
            try:
                raw = socket.recv()
            except ConnectionClosed as exc:
                with self._changed:
                    self._window.closed = self._window.closed or _sockets.closed_error(exc)
                    self._changed.notify_all()
                return
            with self._changed:
                self._window.reply(raw)
                self._changed.notify_all()


class AsyncIngestSession(_Counts):
    """An async ingest socket (see the module docstring); from
    :meth:`kinestream.client.AsyncClient.ingest`, used as an async context manager."""

    def __init__(
        self, url: str, credential: str | None, window: int, open_timeout_s: float
    ) -> None:
        self._url = url
        self._options = _sockets.options(credential, open_timeout_s)
        self._window = _Window(window)
        self._changed = asyncio.Condition()
        self._socket: AsyncConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                await self.flush()
        finally:
            await self.close()

    async def open(self) -> None:
        """Open the socket (raises the API's refusal: 401, 404, 409 when the analysis ended)."""
        try:
            self._socket = await async_connect(self._url, **self._options)
        except _sockets.HANDSHAKE_FAILURES as exc:
            raise _sockets.handshake_error(self._url, exc) from exc
        self._reader = asyncio.create_task(self._read(self._socket))

    async def send_pose(self, sample: PoseSample, fps: float = 0.0) -> None:
        """Send one pose (``fps``: the nominal frame rate, 0 when unknown)."""
        await self._send(wire.encode_pose_value(sample, fps))

    async def send_frame(self, frame: wire.Frame) -> None:
        """Send one JPEG frame (its ``stream_id`` is ignored: the analysis's is used)."""
        await self._send(wire.encode_frame_packet(frame))

    async def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every packet sent is answered; raise a refused packet's error."""
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: not self._window.waiting), timeout_s
                )
            except TimeoutError:
                raise TimeoutError(
                    f"{self._window.unanswered} packets not answered within {timeout_s} s"
                ) from None
            self._window.check_flushed()

    async def close(self) -> None:
        """Close the socket (without waiting for replies) and stop reading."""
        async with self._changed:
            self._window.closed = self._window.closed or _closed_by_client()
        if self._socket is not None:
            await self._socket.close()
        if self._reader is not None:
            await self._reader

    async def _send(self, packet: bytes) -> None:
        socket = self._opened()
        async with self._changed:
            self._window.check()
            await self._changed.wait_for(lambda: not self._window.full)
            self._window.check()
            self._window.sent += 1
        try:
            await socket.send(packet)
        except ConnectionClosed as exc:
            async with self._changed:
                self._window.sent -= 1
                self._window.closed = self._window.closed or _sockets.closed_error(exc)
                self._window.check()

    def _opened(self) -> AsyncConnection:
        if self._socket is None:
            raise KinestreamError("the ingest session is not open: use it in an async with block")
        return self._socket

    async def _read(self, socket: AsyncConnection) -> None:
        while True:
            try:
                raw = await socket.recv()
            except ConnectionClosed as exc:
                async with self._changed:
                    self._window.closed = self._window.closed or _sockets.closed_error(exc)
                    self._changed.notify_all()
                return
            async with self._changed:
                self._window.reply(raw)
                self._changed.notify_all()
