"""Publishing a stream on the real broker: what arrives, and what a failure looks like."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from kinestream import wire
from kinestream.connectors.stream_publisher import StreamPublisher
from kinestream.operators.pose import PoseSample
from kinestream.sports import Sport
from tests.kafka_topics import TopicFactory, fresh_topics, read_topic

STREAM = "cam-7"


def frame(seq: int, size: int = 64) -> wire.Frame:
    return wire.Frame(STREAM, seq, 100.0 + seq / 30, 30.0, 16, 16, b"\xff\xd8" + bytes(size))


def pose(seq: int) -> PoseSample:
    landmarks = np.random.default_rng(seq).uniform(0.0, 1.0, (33, 4))
    return PoseSample(seq, 100.0 + seq / 30, 640, 480, landmarks)


def test_every_message_arrives_in_order_and_is_counted(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topics = fresh_topics(topic_factory)
    publisher = StreamPublisher(kafka_bootstrap, topics, timeout_s=10)
    start = wire.StartMessage(STREAM, Sport.CMJ, 1.8)
    publisher.send_control(start)
    for seq in range(5):
        publisher.send_frame(frame(seq))
        publisher.send_pose(STREAM, pose(seq), 30.0)
    publisher.send_control(wire.EndMessage(STREAM, 4))
    publisher.close()

    d = publisher.deliveries
    assert (d.sent, d.delivered, d.failed_seqs, d.unanswered) == (10, 10, [], 0)
    assert d.control_delivered == ["start", "end"]
    assert not d.failed
    frames = [
        wire.decode_frame(m.key(), m.value(), m.headers())
        for m in read_topic(kafka_bootstrap, topics.frames)
    ]
    assert frames == [frame(seq) for seq in range(5)]
    poses = [
        wire.decode_pose(m.key(), m.value(), m.headers())
        for m in read_topic(kafka_bootstrap, topics.poses)
    ]
    assert [p.seq for p in poses] == list(range(5))
    sent_landmarks = pose(3).landmarks
    assert sent_landmarks is not None
    np.testing.assert_array_equal(np.asarray(poses[3].landmarks), sent_landmarks.astype(np.float32))
    control = [
        wire.decode_control(m.key(), m.value()) for m in read_topic(kafka_bootstrap, topics.control)
    ]
    assert control == [start, wire.EndMessage(STREAM, 4)]


@pytest.fixture
def small_messages_topics(kafka_bootstrap: str) -> Iterator[wire.Topics]:
    """Topics whose frames topic refuses messages over 2000 bytes."""
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    topics = wire.Topics.prefixed(f"test_small_{uuid.uuid4().hex[:8]}.")
    names = [topics.frames, topics.control]
    new = [NewTopic(topics.frames, 1, 1, config={"max.message.bytes": "2000"})]
    new.append(NewTopic(topics.control, 1, 1))
    for future in admin.create_topics(new, operation_timeout=30).values():
        future.result(timeout=30)
    yield topics
    for future in admin.delete_topics(names, operation_timeout=30).values():
        future.result(timeout=30)


def test_a_message_the_broker_refuses_fails_with_its_seq(
    kafka_bootstrap: str, small_messages_topics: wire.Topics
) -> None:
    publisher = StreamPublisher(kafka_bootstrap, small_messages_topics, timeout_s=10)
    for seq, size in enumerate([100, 5000, 100]):
        publisher.send_frame(frame(seq, size))
        publisher.flush()  # one message per request, so only the big one is refused
    publisher.close()
    d = publisher.deliveries
    assert (d.sent, d.delivered, d.failed_seqs) == (3, 2, [1])
    assert d.failed
    assert d.first_error is not None
    assert "too large" in d.first_error


def test_an_unreachable_broker_fails_by_the_timeout() -> None:
    publisher = StreamPublisher("127.0.0.1:1", wire.Topics(), timeout_s=1.0)

    def send_and_close() -> None:
        publisher.send_control(wire.StartMessage(STREAM, Sport.CMJ, 1.8))
        publisher.close()

    # A hang guard, not a speed check: without the 1 s timeout the message would wait for
    # librdkafka's default (5 minutes) and close() would return with it unanswered.
    sender = threading.Thread(target=send_and_close, daemon=True)
    sender.start()
    sender.join(timeout=120)
    assert not sender.is_alive(), "send and close never returned"
    d = publisher.deliveries
    assert d.unanswered == 0  # answered: it failed by the timeout
    assert d.control_failed == ["start"]
    assert d.first_error is not None
    assert "timed out" in d.first_error.lower()
    assert publisher.broker_error is not None
    assert "refused" in publisher.broker_error.lower()
