"""Publishing one stream to Kafka, and keeping count of what the broker took.

:class:`StreamPublisher` sends a stream's control messages, frames and pose packets in the
formats of :mod:`kinestream.wire`, keyed by the stream id, with an idempotent
confluent-kafka producer (retries keep each partition's order and add no duplicates). Every
message carries a delivery callback; :class:`Deliveries` counts what was delivered and which
frames failed, with the first error.

Nothing waits forever: a message the broker has not acknowledged within ``timeout_s``
fails (``message.timeout.ms``), a full send queue (at most :data:`QUEUE_LIMIT_KB`, so memory
stays bounded when the broker is away) that does not drain within ``timeout_s`` raises
:class:`PublishError`, and :meth:`StreamPublisher.close` flushes for at most ``timeout_s``
and then drops what is left.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final

from confluent_kafka import KafkaException, Producer

from kinestream import wire
from kinestream.operators.pose import PoseSample

QUEUE_LIMIT_KB: Final = 64 * 1024
"""The producer's send queue, in kilobytes: about 400 frames of 1280x720 JPEG."""

_LOG = logging.getLogger(__name__)
_LOG.addHandler(logging.NullHandler())  # librdkafka's own log lines stay out of the CLI


class PublishError(Exception):
    """Kafka did not take the stream's messages (the caller stops and reports)."""


@dataclass
class Deliveries:
    """What became of the messages handed to the producer so far."""

    sent: int = 0
    """Frames or pose packets handed to the producer."""
    delivered: int = 0
    failed_seqs: list[int] = field(default_factory=list)
    control_delivered: list[str] = field(default_factory=list)
    """``"start"`` / ``"end"``, once the broker acknowledged them."""
    control_failed: list[str] = field(default_factory=list)
    first_error: str | None = None

    @property
    def failed(self) -> bool:
        """Whether any message failed."""
        return self.first_error is not None

    @property
    def unanswered(self) -> int:
        """Frames neither delivered nor failed (still queued, or dropped at close)."""
        return self.sent - self.delivered - len(self.failed_seqs)


class StreamPublisher:
    """Sends one stream's messages to the topics of ``topics`` on ``brokers``."""

    def __init__(
        self,
        brokers: str,
        topics: wire.Topics,
        *,
        timeout_s: float = 30.0,
    ) -> None:
        if not timeout_s > 0.0:
            raise ValueError(f"timeout must be positive, got {timeout_s!r}")
        self.brokers = brokers
        self.topics = topics
        self.timeout_s = timeout_s
        self.deliveries = Deliveries()
        self.broker_error: str | None = None
        """The last error of the connection to the cluster (refused, all brokers down)."""
        self._producer = Producer(
            {
                "bootstrap.servers": brokers,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "message.timeout.ms": max(int(timeout_s * 1000), 10),
                "queue.buffering.max.kbytes": QUEUE_LIMIT_KB,
                "error_cb": self._on_broker_error,
                "logger": _LOG,
            }
        )

    def send_control(self, message: wire.ControlMessage) -> None:
        """Send a start or end message on the control topic."""
        key, value = wire.encode_control(message)
        kind = "start" if isinstance(message, wire.StartMessage) else "end"
        self._produce(self.topics.control, key, value, None, partial(self._on_control, kind))

    def send_frame(self, frame: wire.Frame) -> None:
        """Send one JPEG frame on the frames topic."""
        key, value, headers = wire.encode_frame(frame)
        on_delivery = partial(self._on_data, frame.seq)
        self._produce(self.topics.frames, key, value, list(headers), on_delivery)
        self.deliveries.sent += 1

    def send_pose(self, stream_id: str, sample: PoseSample, fps: float) -> None:
        """Send one pose packet on the poses topic."""
        key, value, headers = wire.encode_pose(stream_id, sample, fps)
        on_delivery = partial(self._on_data, sample.seq)
        self._produce(self.topics.poses, key, value, list(headers), on_delivery)
        self.deliveries.sent += 1

    def flush(self) -> int:
        """Wait (at most ``timeout_s`` and a second) for the answers; return how many are due."""
        return int(self._producer.flush(self.timeout_s + 1.0))

    def close(self) -> None:
        """Flush, then drop whatever the broker has not answered (counted as unanswered)."""
        if self.flush():
            self._producer.purge()
            self._producer.flush(0)

    # -- callbacks (run inside poll / flush, on this thread) ---------------------------------

    def _on_data(self, seq: int, error: Any, _msg: Any) -> None:
        if error is None:
            self.deliveries.delivered += 1
        else:
            self.deliveries.failed_seqs.append(seq)
            self._first_error(error)

    def _on_control(self, kind: str, error: Any, _msg: Any) -> None:
        if error is None:
            self.deliveries.control_delivered.append(kind)
        else:
            self.deliveries.control_failed.append(kind)
            self._first_error(error)

    def _first_error(self, error: Any) -> None:
        if self.deliveries.first_error is None:
            self.deliveries.first_error = str(error.str())

    def _on_broker_error(self, error: Any) -> None:
        self.broker_error = str(error.str())

    def _produce(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, str | bytes | None]] | None,
        on_delivery: Callable[[Any, Any], None],
    ) -> None:
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                self._producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
                break
            except BufferError:
                if time.monotonic() > deadline:
                    raise PublishError(
                        f"the send queue stayed full for {self.timeout_s:g} s: "
                        "Kafka is not taking messages"
                    ) from None
                self._producer.poll(0.1)
            except KafkaException as exc:
                raise PublishError(f"Kafka refused a message for {topic}: {exc}") from exc
        self._producer.poll(0)
