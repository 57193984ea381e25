"""The test broker behaves like a real Kafka: keyed messages, partitions, consumer groups;
and infra/kafka/kafka.sh starts one every time."""

from __future__ import annotations

import base64
import os
import subprocess
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient

TopicFactory = Callable[..., str]

KAFKA_SH = Path(__file__).resolve().parents[2] / "infra" / "kafka" / "kafka.sh"

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


def _kafka_sh(
    command: str, run_dir: Path, cluster_id: str | None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KINESTREAM_RUN_DIR": str(run_dir)}
    env.pop("KINESTREAM_KAFKA_PORT", None)
    env.pop("KINESTREAM_KAFKA_CLUSTER_ID", None)
    if cluster_id is not None:
        env["KINESTREAM_KAFKA_CLUSTER_ID"] = cluster_id
    return subprocess.run(
        [str(KAFKA_SH), command], env=env, capture_output=True, text=True, timeout=180
    )


def _cluster_id_starting_with_a_dash() -> str:
    """A valid cluster id (a UUID in URL-safe base64) whose first character is ``-``."""
    first_six_bits_62 = bytes([0b11111000]) + os.urandom(15)
    cluster_id = base64.urlsafe_b64encode(first_six_bits_62).decode().rstrip("=")
    assert cluster_id.startswith("-"), cluster_id
    return cluster_id


def test_the_script_starts_and_stops_a_broker_every_time(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Three starts of a throwaway broker of its own, one of them with a cluster id that
    starts with ``-`` (which the storage tool used to read as an option: 1 start in 64
    failed). Needs what the session's broker needs (Java, the jars), hence its fixture."""
    for cluster_id in (None, _cluster_id_starting_with_a_dash(), None):
        started = _kafka_sh("start", tmp_path, cluster_id)
        try:
            shown = f"cluster id {cluster_id}:\n{started.stdout}{started.stderr}"
            assert started.returncode == 0, shown
            bootstrap = started.stdout.strip()
            assert bootstrap != kafka_bootstrap, shown
            metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30)
            assert list(metadata.brokers) == [1], shown
        finally:
            stopped = _kafka_sh("stop", tmp_path, None)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == [], "the stop leaves no record"
