"""Creating kinestream's Kafka topics up front, with the partitions scale-out needs.

Partitions bound the dataflow's parallelism (each input partition is read by one worker)
and Bytewax does not discover partitions added to a topic later: a running flow must be
restarted to read them. So topics are created before the first start, with enough
partitions for the workers a deployment may grow to. :func:`ensure_topics` creates the
missing ones and leaves existing ones alone (it never deletes or shrinks anything).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any, Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from kinestream import wire

DEFAULT_PARTITIONS = 8


class TopicError(RuntimeError):
    """Kafka refused to create a topic or could not be reached."""


@dataclass(frozen=True, slots=True)
class TopicState:
    """One topic after :func:`ensure_topics`: created now, or found with its partitions."""

    name: str
    partitions: int
    outcome: Literal["created", "exists"]


def _described(
    admin: AdminClient, created: list[str], partitions: int, found: list[str], timeout_s: float
) -> dict[str, Any]:
    """The broker's topic metadata, once it shows every ``created`` topic's partitions and
    some partitions of every topic ``found`` on creating it.

    Kafka acknowledges a creation before the broker's metadata has it (a third of the
    creations on the test broker read back with no partitions at first).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        described: dict[str, Any] = admin.list_topics(timeout=timeout_s).topics
        settled = all(
            name in described and len(described[name].partitions) == partitions for name in created
        ) and all(name in described and described[name].partitions for name in found)
        if settled or time.monotonic() >= deadline:
            return described
        time.sleep(0.05)


def ensure_topics(
    brokers: str,
    topics: wire.Topics,
    *,
    partitions: int = DEFAULT_PARTITIONS,
    replication_factor: int = 1,
    timeout_s: float = 30.0,
) -> list[TopicState]:
    """Create every topic of ``topics`` that does not exist yet; report each one's state."""
    if partitions < 1 or replication_factor < 1:
        raise ValueError("partitions and replication factor must be at least 1")
    admin = AdminClient({"bootstrap.servers": brokers})
    names = [getattr(topics, f.name) for f in fields(topics)]
    try:
        existing = admin.list_topics(timeout=timeout_s).topics
    except KafkaException as exc:
        raise TopicError(f"Kafka at {brokers} did not answer: {exc}") from exc
    missing = [name for name in names if name not in existing]
    found: list[str] = []  # missing from the metadata, yet there (just created elsewhere)
    if missing:
        futures = admin.create_topics(
            [NewTopic(name, partitions, replication_factor) for name in missing],
            operation_timeout=timeout_s,
            request_timeout=timeout_s,
        )
        for name, future in futures.items():
            try:
                future.result(timeout=timeout_s)
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise TopicError(f"could not create topic {name}: {exc}") from exc
                found.append(name)
    created = [name for name in missing if name not in found]
    described = _described(admin, created, partitions, found, timeout_s)
    return [
        TopicState(
            name,
            len(described[name].partitions) if name in described else 0,
            "created" if name in created else "exists",
        )
        for name in names
    ]
