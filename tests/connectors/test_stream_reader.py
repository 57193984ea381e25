"""Reading one stream back from the real broker, picked out of others by its key."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from confluent_kafka import Producer

from kinestream import wire
from kinestream.connectors.stream_reader import (
    Received,
    StreamReader,
    StreamReaderError,
    Undecodable,
)
from kinestream.operators.pose import PoseSample
from kinestream.sports import Sport
from tests.kafka_topics import TopicFactory, fresh_topics


def pose(seq: int) -> PoseSample:
    landmarks = np.random.default_rng(seq).uniform(0.0, 1.0, (33, 4)).astype(np.float32)
    return PoseSample(seq, 50.0 + seq / 60, 1280, 720, landmarks.astype(np.float64))


def produce_streams(brokers: str, topics: wire.Topics, streams: list[str], poses: int) -> None:
    """Each stream's start, poses and end, interleaved, plus one bad pose of ``streams[0]``."""
    producer = Producer({"bootstrap.servers": brokers})
    for stream in streams:
        key, value = wire.encode_control(wire.StartMessage(stream, Sport.SQUAT_JUMP, 1.7))
        producer.produce(topics.control, value, key)
    for seq in range(poses):
        for stream in streams:
            key, value, headers = wire.encode_pose(stream, pose(seq), 60.0)
            producer.produce(topics.poses, value, key, headers=list(headers))
    producer.produce(topics.poses, b"not a pose", wire.encode_key(streams[0]))
    for stream in streams:
        key, value = wire.encode_control(wire.EndMessage(stream, poses - 1))
        producer.produce(topics.control, value, key)
    assert producer.flush(30) == 0


def read_all(reader: StreamReader, count: int, timeout_s: float = 20.0) -> list[Received]:
    out: list[Received] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < count and time.monotonic() < deadline:
        out.extend(reader.poll(0.2))
    return out


def test_from_the_beginning_reads_only_its_stream(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topics = fresh_topics(topic_factory)
    produce_streams(kafka_bootstrap, topics, ["a", "b", "c"], poses=20)
    with StreamReader(kafka_bootstrap, topics, "b", from_beginning=True) as reader:
        items = read_all(reader, 22)
        assert reader.poll(0.5) == []  # nothing more: the other streams are skipped
    control = [i for i in items if isinstance(i, wire.StartMessage | wire.EndMessage)]
    assert control == [wire.StartMessage("b", Sport.SQUAT_JUMP, 1.7), wire.EndMessage("b", 19)]
    samples = [i for i in items if isinstance(i, PoseSample)]
    assert [s.seq for s in samples] == list(range(20))  # one partition: in order
    assert samples[7].timestamp_s == pose(7).timestamp_s
    np.testing.assert_array_equal(np.asarray(samples[7].landmarks), np.asarray(pose(7).landmarks))


def test_a_bad_message_of_the_stream_is_returned_as_undecodable(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topics = fresh_topics(topic_factory)
    produce_streams(kafka_bootstrap, topics, ["a", "b"], poses=3)
    with StreamReader(kafka_bootstrap, topics, "a", from_beginning=True) as reader:
        items = read_all(reader, 6)
    bad = [i for i in items if isinstance(i, Undecodable)]
    assert len(bad) == 1
    assert bad[0].topic == topics.poses
    assert "too short" in bad[0].reason


def test_by_default_only_what_arrives_after_opening(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topics = fresh_topics(topic_factory)
    produce_streams(kafka_bootstrap, topics, ["old"], poses=5)
    with StreamReader(kafka_bootstrap, topics, "old") as reader:
        assert reader.poll(1.0) == []
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        key, value, headers = wire.encode_pose("old", pose(99), 60.0)
        producer.produce(topics.poses, value, key, headers=list(headers))
        assert producer.flush(30) == 0
        items = read_all(reader, 1)
    assert [i.seq for i in items if isinstance(i, PoseSample)] == [99]


def test_paused_samples_wait_while_control_goes_on(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topics = fresh_topics(topic_factory)
    produce_streams(kafka_bootstrap, topics, ["p"], poses=10)
    with StreamReader(kafka_bootstrap, topics, "p", from_beginning=True) as reader:
        reader.pause_samples()
        paused = read_all(reader, 3, timeout_s=1.5)
        reader.resume_samples()
        resumed = read_all(reader, 11, timeout_s=10.0)
    assert [type(i) for i in paused] == [wire.StartMessage, wire.EndMessage]
    assert [i.seq for i in resumed if isinstance(i, PoseSample)] == list(range(10))


def test_a_missing_topic_is_reported(kafka_bootstrap: str) -> None:
    topics = wire.Topics.prefixed("test_no_such_topic_here.")
    with pytest.raises(StreamReaderError, match="does not exist"):
        StreamReader(kafka_bootstrap, topics, "x", timeout_s=5.0)


def test_an_unreachable_broker_is_reported_by_the_timeout() -> None:
    raised: list[BaseException] = []

    def open_reader() -> None:
        try:
            StreamReader("127.0.0.1:1", wire.Topics(), "x", timeout_s=1.0)
        except BaseException as error:  # checked below, on the test's thread
            raised.append(error)

    # A hang guard, not a speed check: the metadata request must give up by its timeout.
    opener = threading.Thread(target=open_reader, daemon=True)
    opener.start()
    opener.join(timeout=120)
    assert not opener.is_alive(), "opening the reader never returned"
    [error] = raised
    assert isinstance(error, StreamReaderError)
    assert "cannot reach Kafka at 127.0.0.1:1 within 1 s" in str(error)
