"""The test broker behaves like a real Kafka: keyed messages, partitions, consumer groups."""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient

TopicFactory = Callable[..., str]

MESSAGES = 400
KEYS = 16


def _key(message: Message) -> str:
    key = message.key()
    assert isinstance(key, bytes)
    return key.decode()


def _partition(message: Message) -> int:
    partition = message.partition()
    assert partition is not None
    return partition


def _value(message: Message) -> str:
    value = message.value()
    assert isinstance(value, bytes)
    return value.decode()


def _produce(bootstrap: str, topic: str) -> dict[str, set[int]]:
    """Send MESSAGES keyed messages; return the partitions each key was delivered to."""
    delivered: dict[str, set[int]] = defaultdict(set)
    errors: list[KafkaError] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            errors.append(error)
            return
        delivered[_key(message)].add(_partition(message))

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i in range(MESSAGES):
        producer.produce(
            topic, key=f"athlete-{i % KEYS}", value=str(i).encode(), on_delivery=on_delivery
        )
        producer.poll(0)
    assert producer.flush(30) == 0, "messages still in flight after 30 s"
    assert errors == []
    return delivered


def _consume_all(bootstrap: str, topic: str) -> list[Message]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    received: list[Message] = []
    deadline = time.monotonic() + 60
    try:
        while len(received) < MESSAGES and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            assert message.error() is None, message.error()
            received.append(message)
        # Anything beyond MESSAGES would be a duplicate: give it a moment to show up.
        extra = consumer.poll(1.0)
        if extra is not None and extra.error() is None:
            received.append(extra)
    finally:
        consumer.close()
    return received


def test_keyed_messages_arrive_once_on_stable_partitions(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory(partitions=4)

    delivered = _produce(kafka_bootstrap, topic)
    received = _consume_all(kafka_bootstrap, topic)

    values = Counter(int(_value(message)) for message in received)
    assert values == Counter(range(MESSAGES)), "every message exactly once"
    assert all(len(partitions) == 1 for partitions in delivered.values()), delivered
    partition_of_key = {key: next(iter(partitions)) for key, partitions in delivered.items()}
    for message in received:
        assert _partition(message) == partition_of_key[_key(message)]
    assert len(set(partition_of_key.values())) > 1, "keys spread over several partitions"


def test_topic_factory_makes_the_partitions_asked_for(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    first, second = topic_factory(partitions=2), topic_factory(partitions=4)

    metadata = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10)
    assert first != second
    assert len(metadata.topics[first].partitions) == 2
    assert len(metadata.topics[second].partitions) == 4
