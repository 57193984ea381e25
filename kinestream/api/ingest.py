"""The ingest socket's protocol: binary pose and frame packets in, acknowledgements out.

Each binary message is one packet, checked by :mod:`kinestream.wire` (``seq`` 0 or more,
capture time, sizes): a ``KP`` pose packet (at most ``max_pose_bytes``), published as is on
the poses topic, or a ``KF`` frame packet (at most ``max_frame_bytes``), published as a
frame message on the frames topic; both keyed by the analysis's stream id, with the
``ks-*`` headers. The server answers with JSON text:

- ``{"type": "ack", "seq": n, "kind": "pose" | "frame"}`` once Kafka has the packet;
- ``{"type": "error", "code": ..., "message": ..., "seq": n | null}`` for a packet refused
  (``bad_packet``, ``too_large``, ``not_binary``) or that Kafka did not take
  (``kafka_unavailable``); after ``max_bad_messages`` refused packets in a row the socket
  is closed with code 1007;
- ``{"type": "backpressure", "in_flight": n}`` when ``ingest_max_in_flight`` packets wait
  for Kafka (or for their acks to be read): the server stops reading the socket until one
  is acknowledged, so TCP slows the sender down.

The highest sequence number delivered is recorded about once a second (a stop's
``last_seq``); the socket is closed with code 1000 once the analysis is stopped or ended,
also while the client sends nothing (the database is asked every ``ingest_stop_check_s``
then).
With ``end_on_close`` the end message is published when the client closes the socket.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import psycopg
from starlette.websockets import WebSocket, WebSocketDisconnect

from kinestream import wire
from kinestream.api.dependencies import Services
from kinestream.api.producer import KafkaUnavailableError
from kinestream.store import analyses as analysis_store
from kinestream.store.analyses import AnalysisRecord

CLOSE_STOPPED: Final = 1000
CLOSE_GARBAGE: Final = 1007
_RECORD_EVERY_S: Final = 1.0

Kind = Literal["pose", "frame"]


@dataclass(frozen=True, slots=True)
class Packet:
    """A checked packet, ready to publish."""

    kind: Kind
    seq: int
    topic: str
    key: bytes
    value: bytes
    headers: Sequence[tuple[str, bytes]]


class PacketError(ValueError):
    """A message the socket refuses: ``code`` says which rule it broke."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_packet(services: Services, stream_id: str, data: bytes) -> Packet:
    """Check one binary message and turn it into the Kafka message it stands for."""
    settings = services.settings
    magic = data[:2]
    if magic == b"KP":
        if len(data) > settings.max_pose_bytes:
            raise PacketError(
                "too_large", f"pose packet of {len(data)} bytes (limit {settings.max_pose_bytes})"
            )
        try:
            sample, fps = wire.decode_pose_packet(data)
        except wire.WireError as exc:
            raise PacketError("bad_packet", str(exc)) from exc
        headers = wire.frame_headers(
            sample.seq, sample.timestamp_s, fps, sample.image_width, sample.image_height
        )
        return Packet(
            "pose", sample.seq, settings.topics.poses, wire.encode_key(stream_id), data, headers
        )
    if magic == b"KF":
        if len(data) > settings.max_frame_bytes:
            raise PacketError(
                "too_large",
                f"frame packet of {len(data)} bytes (limit {settings.max_frame_bytes})",
            )
        try:
            frame = wire.decode_frame_packet(stream_id, data)
            key, value, headers = wire.encode_frame(frame)
        except wire.WireError as exc:
            raise PacketError("bad_packet", str(exc)) from exc
        return Packet("frame", frame.seq, settings.topics.frames, key, value, headers)
    raise PacketError("bad_packet", "a packet starts with b'KP' (pose) or b'KF' (frame)")


class Ingest:
    """Serves one ingest socket of one analysis (see the module docstring)."""

    def __init__(self, websocket: WebSocket, services: Services, analysis: AnalysisRecord) -> None:
        self._websocket = websocket
        self._services = services
        self._analysis = analysis
        self._slots = asyncio.Semaphore(services.settings.ingest_max_in_flight)
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._client_gone = False
        self._stopped = asyncio.Event()
        self.last_seq: int | None = None
        """The highest sequence number Kafka acknowledged."""
        self._recorded_at = 0.0

    async def run(self) -> tuple[int, str] | None:
        """Serve until the client leaves (``None``) or the socket must close (code, reason)."""
        writer = asyncio.create_task(self._write())
        checker = asyncio.create_task(self._check_stopped())
        try:
            return await self._read()
        finally:
            checker.cancel()
            await self._drain()
            writer.cancel()
            await self._record(force=True)

    async def _read(self) -> tuple[int, str] | None:
        settings = self._services.settings
        refused = 0
        receiving = asyncio.ensure_future(self._websocket.receive())
        stopped = asyncio.ensure_future(self._stopped.wait())
        try:
            while True:
                await asyncio.wait({receiving, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if stopped.done():
                    return CLOSE_STOPPED, "analysis stopped"
                message = receiving.result()
                if message["type"] == "websocket.disconnect":
                    self._client_gone = True
                    return None
                await self._acquire()
                try:
                    packet = self._packet(message)
                except PacketError as exc:
                    refused += 1
                    self._outbox.put_nowait(
                        {"type": "error", "code": exc.code, "message": str(exc), "seq": None}
                    )
                    if refused >= settings.max_bad_messages:
                        return CLOSE_GARBAGE, f"{refused} invalid messages in a row"
                else:
                    refused = 0
                    await self._publish(packet)
                receiving = asyncio.ensure_future(self._websocket.receive())
        finally:
            receiving.cancel()
            stopped.cancel()

    def _packet(self, message: Mapping[str, Any]) -> Packet:
        data = message.get("bytes")
        if data is None:
            raise PacketError("not_binary", "send binary messages: KP pose or KF frame packets")
        return parse_packet(self._services, self._analysis.stream_id, data)

    async def _acquire(self) -> None:
        """Take an in-flight slot, telling the client when it has to wait for one."""
        if self._slots.locked():
            in_flight = self._services.settings.ingest_max_in_flight
            self._outbox.put_nowait({"type": "backpressure", "in_flight": in_flight})
        await self._slots.acquire()

    async def _publish(self, packet: Packet) -> None:
        publisher = self._services.publisher
        while True:
            try:
                future = publisher.submit(packet.topic, packet.key, packet.value, packet.headers)
                break
            except BufferError:
                await asyncio.sleep(0.05)
        delivery = asyncio.wrap_future(future)
        delivery.add_done_callback(lambda done: self._delivered(packet, done))

    def _delivered(self, packet: Packet, delivery: asyncio.Future[None]) -> None:
        error = delivery.exception()
        if error is None:
            if self.last_seq is None or packet.seq > self.last_seq:
                self.last_seq = packet.seq
            self._outbox.put_nowait({"type": "ack", "seq": packet.seq, "kind": packet.kind})
        else:
            reason = str(error) if isinstance(error, KafkaUnavailableError) else repr(error)
            self._outbox.put_nowait(
                {"type": "error", "code": "kafka_unavailable", "message": reason, "seq": packet.seq}
            )

    async def _write(self) -> None:
        """Send what the outbox holds; each ack or error frees its packet's slot."""
        while True:
            message = await self._outbox.get()
            if not self._client_gone:
                try:
                    await self._websocket.send_json(message)
                except (WebSocketDisconnect, RuntimeError):
                    self._client_gone = True
            if message["type"] != "backpressure":
                self._slots.release()
            await self._record()

    async def _drain(self) -> None:
        """Wait (a little) until every packet read is acknowledged."""
        settings = self._services.settings
        deadline = time.monotonic() + settings.kafka_timeout_s + 5.0
        for _ in range(settings.ingest_max_in_flight):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._slots.acquire(), remaining)
            except TimeoutError:
                return

    async def _check_stopped(self) -> None:
        """Notice a stop while the client is quiet (a busy socket notices it in ``_record``)."""
        every_s = self._services.settings.ingest_stop_check_s
        while not self._stopped.is_set():
            await asyncio.sleep(every_s)
            if time.monotonic() - self._recorded_at < every_s:
                continue
            try:
                takes_input = await self._services.database.run(
                    analysis_store.takes_input, self._analysis.analysis_id
                )
            except psycopg.OperationalError:
                continue  # asked again next time
            if not takes_input:
                self._stopped.set()

    async def _record(self, *, force: bool = False) -> None:
        """Record the last sequence number (about once a second); notice a stop meanwhile."""
        now = time.monotonic()
        if self.last_seq is None or (not force and now - self._recorded_at < _RECORD_EVERY_S):
            return
        self._recorded_at = now
        accepts_input = await self._services.database.run(
            analysis_store.record_last_seq, self._analysis.analysis_id, self.last_seq
        )
        if not accepts_input:
            self._stopped.set()
