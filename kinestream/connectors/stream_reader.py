"""Reading one stream's messages from Kafka, picked out by their key.

:class:`StreamReader` reads the control topic and either the poses or the frames topic,
decodes the messages keyed by one stream id with :mod:`kinestream.wire` and skips every
other stream's. It joins no consumer group and commits nothing: it assigns itself every
partition of those topics (a stream's key maps to one partition per topic, but which one
depends on the producer's partitioner, so all are read and filtered by key), from the
beginning or from the end they have when the reader is opened.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from kinestream import wire
from kinestream.operators.pose import PoseSample

BATCH_MESSAGES: Final = 500

_LOG = logging.getLogger(__name__)
_LOG.addHandler(logging.NullHandler())  # librdkafka's own log lines stay out of the CLI


class StreamReaderError(Exception):
    """The broker cannot be reached, or a topic to read does not exist."""


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A message of the stream that does not follow its topic's wire format."""

    topic: str
    partition: int
    offset: int
    reason: str


Received = wire.StartMessage | wire.EndMessage | PoseSample | wire.Frame | Undecodable
"""What the reader returns for the stream."""


class StreamReader:
    """The messages of stream ``stream_id``: control, and poses (or frames with ``frames``).

    ``timeout_s`` bounds the metadata requests made when it opens.
    """

    def __init__(
        self,
        brokers: str,
        topics: wire.Topics,
        stream_id: str,
        *,
        frames: bool = False,
        from_beginning: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self.stream_id = stream_id
        self.topics = topics
        self.samples_topic = topics.frames if frames else topics.poses
        self._key = wire.encode_key(stream_id)
        self._consumer: Any = Consumer(
            {
                "bootstrap.servers": brokers,
                "group.id": f"kinestream-reader-{uuid.uuid4()}",  # required; never joined
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "logger": _LOG,
            }
        )
        try:
            self._consumer.assign(self._partitions(brokers, from_beginning, timeout_s))
        except BaseException:
            self._consumer.close()
            raise

    def _partitions(
        self, brokers: str, from_beginning: bool, timeout_s: float
    ) -> list[TopicPartition]:
        names = [self.topics.control, self.samples_topic]
        try:
            metadata = self._consumer.list_topics(timeout=timeout_s)
        except KafkaException as exc:
            raise StreamReaderError(
                f"cannot reach Kafka at {brokers} within {timeout_s:g} s: {exc.args[0].str()}"
            ) from exc
        partitions = []
        for name in names:
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None or not topic.partitions:
                raise StreamReaderError(
                    f"topic {name!r} does not exist on {brokers} (is the topic prefix right?)"
                )
            for number in sorted(topic.partitions):
                partition = TopicPartition(name, number, OFFSET_BEGINNING)
                if not from_beginning:
                    try:
                        _, high = self._consumer.get_watermark_offsets(partition, timeout_s)
                    except KafkaException as exc:
                        raise StreamReaderError(
                            f"cannot read the end offset of {name} [{number}]: {exc.args[0].str()}"
                        ) from exc
                    partition.offset = high
                partitions.append(partition)
        return partitions

    def poll(self, timeout_s: float) -> list[Received]:
        """The stream's messages that arrive within ``timeout_s`` (possibly none)."""
        out: list[Received] = []
        for msg in self._consumer.consume(BATCH_MESSAGES, timeout_s):
            if msg.error() is not None:
                _LOG.warning("Kafka consumer error: %s", msg.error())
                continue
            if msg.key() != self._key:
                continue
            out.append(self._decode(msg))
        return out

    def pause_samples(self) -> None:
        """Stop fetching the poses (or frames) topic; the control topic goes on."""
        self._consumer.pause(self._sample_partitions())

    def resume_samples(self) -> None:
        """Fetch the poses (or frames) topic again, from where it was paused."""
        self._consumer.resume(self._sample_partitions())

    def _sample_partitions(self) -> list[TopicPartition]:
        return [p for p in self._consumer.assignment() if p.topic == self.samples_topic]

    def _decode(self, msg: Any) -> Received:
        topic, key, value = msg.topic(), msg.key(), msg.value()
        try:
            if topic == self.topics.control:
                return wire.decode_control(key, value)
            if topic == self.topics.poses:
                return wire.decode_pose(key, value, msg.headers())
            return wire.decode_frame(key, value, msg.headers())
        except wire.WireError as exc:
            return Undecodable(topic, msg.partition(), msg.offset(), str(exc))

    def close(self) -> None:
        """Leave the broker; closing twice is harmless."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()

    def __enter__(self) -> StreamReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
