"""Per-test topics on the real broker, and reading a topic back whole."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from kinestream import wire

TopicFactory = Callable[..., str]


def fresh_topics(topic_factory: TopicFactory, partitions: int = 3) -> wire.Topics:
    """A complete set of new, empty topics."""
    return wire.Topics(
        frames=topic_factory(partitions),
        poses=topic_factory(partitions),
        control=topic_factory(partitions),
        events=topic_factory(partitions),
        webhooks=topic_factory(partitions),
        deadletter=topic_factory(partitions),
    )


def use_topics(monkeypatch: pytest.MonkeyPatch, topics: wire.Topics) -> None:
    """Make the commands (``wire.Topics.from_env``) use ``topics``."""
    for name in ("frames", "poses", "control", "events", "webhooks", "deadletter"):
        monkeypatch.setenv(f"KINESTREAM_TOPIC_{name.upper()}", getattr(topics, name))


def read_topic(brokers: str, topic: str, timeout_s: float = 20.0) -> list[Any]:
    """Every message on ``topic`` up to its current end, partition by partition."""
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"test-reader-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
        partitions = [
            TopicPartition(topic, number, OFFSET_BEGINNING)
            for number in metadata.topics[topic].partitions
        ]
        expected = 0
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(partition, timeout=timeout_s)
            expected += high - low
        consumer.assign(partitions)
        out: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < expected:
            assert time.monotonic() < deadline, f"read {len(out)} of {expected} from {topic}"
            msg = consumer.poll(0.2)
            if msg is not None:
                assert msg.error() is None, msg.error()
                out.append(msg)
        return sorted(out, key=lambda m: (m.partition(), m.offset()))
    finally:
        consumer.close()
