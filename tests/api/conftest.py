"""One real API server per test module, on its own topics and database.

``api`` starts uvicorn (:func:`kinestream.api.server.running_server`) on a free loopback
port, against the real Kafka broker and a freshly migrated PostgreSQL database that only
this module uses. Tests make their own API keys (``api.new_key()``), so they do not see each
other's analyses. A module changes the server's settings with ``api_settings_overrides``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from psycopg import sql
from websockets.exceptions import ConnectionClosed

from kinestream import wire
from kinestream.api.server import RunningServer, running_server
from kinestream.api.settings import ApiSettings
from kinestream.store.api_keys import create_key
from kinestream.store.migrations import migrate


@dataclass(frozen=True)
class Api:
    """A running API server and what it runs on."""

    server: RunningServer
    settings: ApiSettings
    database_url: str
    brokers: str

    @property
    def topics(self) -> wire.Topics:
        return self.settings.topics

    def url(self, path: str) -> str:
        return f"{self.server.base_url}/api/v1{path}"

    def ws_url(self, path: str) -> str:
        return f"{self.server.ws_url}/api/v1{path}"

    def new_key(self, *, rate_per_minute: int = 100_000, max_streams: int = 50) -> str:
        """A fresh API key (``ks_...``) with generous limits unless told otherwise."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            _, token = create_key(
                conn, "test", rate_per_minute=rate_per_minute, max_streams=max_streams
            )
        return token

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        return httpx.Client(headers=headers, timeout=30.0)

    def create_analysis(self, key: str, **body: Any) -> dict[str, Any]:
        """``POST /analyses`` (a CMJ of a 1.80 m athlete unless told otherwise)."""
        payload: dict[str, Any] = {"sport": "cmj", "athlete_height_m": 1.8, **body}
        with self.client(key) as client:
            response = client.post(self.url("/analyses"), json=payload)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


def within_one_minute(seconds: float = 10.0) -> None:
    """Wait, if need be, until the current rate-limit minute has ``seconds`` left."""
    left = 60.0 - time.time() % 60.0
    if left < seconds:
        time.sleep(left + 0.1)


def _database(base_url: str, name: str) -> str:
    return urlunsplit(urlsplit(base_url)._replace(path=f"/{name}"))


@pytest.fixture(scope="module")
def module_database(database_url: str) -> Iterator[str]:
    """A migrated database for this module alone."""
    name = f"test_api_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _database(database_url, name)
    migrate(url)
    yield url
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="module")
def module_topics(kafka_bootstrap: str) -> Iterator[wire.Topics]:
    """A complete set of new topics for this module alone."""
    prefix = f"test_api_{uuid.uuid4().hex[:12]}."
    topics = wire.Topics.prefixed(prefix)
    names = [topics.frames, topics.poses, topics.control, topics.events, topics.webhooks]
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(n, 2, 1) for n in names]).values():
        future.result(timeout=30)
    yield topics
    for future in admin.delete_topics(names, operation_timeout=30).values():
        future.result(timeout=30)


@pytest.fixture(scope="module")
def api_settings_overrides() -> dict[str, Any]:
    """Settings a module wants different (override the fixture in the module)."""
    return {}


@pytest.fixture(scope="module")
def api(
    module_database: str,
    module_topics: wire.Topics,
    kafka_bootstrap: str,
    api_settings_overrides: dict[str, Any],
) -> Iterator[Api]:
    """The module's API server."""
    settings = replace(
        ApiSettings(database_url=module_database, brokers=kafka_bootstrap, topics=module_topics),
        **api_settings_overrides,
    )
    with running_server(settings) as server:
        yield Api(server, settings, module_database, kafka_bootstrap)


def headers_of(message: Message) -> list[tuple[str, bytes]]:
    """A consumed message's headers as :mod:`kinestream.wire` takes them."""
    headers = message.headers() or []
    assert isinstance(headers, list)
    out = []
    for name, value in headers:
        assert isinstance(value, bytes)
        out.append((name, value))
    return out


def close_of(error: ConnectionClosed) -> tuple[int, str]:
    """The code and reason of the close frame the server sent."""
    assert error.rcvd is not None, "closed without a close frame"
    return error.rcvd.code, error.rcvd.reason


def messages_of(brokers: str, topic: str, key: str, timeout_s: float = 20.0) -> list[Message]:
    """The messages of ``topic`` keyed ``key``, up to the topic's current end, in order."""
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"test-api-reader-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
        partitions = [TopicPartition(topic, p) for p in metadata.topics[topic].partitions]
        ends = {
            tp.partition: consumer.get_watermark_offsets(tp, timeout=timeout_s)[1]
            for tp in partitions
        }
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        out: list[Message] = []
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + timeout_s
        while len(done) < len(ends):
            assert time.monotonic() < deadline, f"{topic} not read to its end in time"
            for message in consumer.consume(500, 0.2):
                assert message.error() is None, message.error()
                partition, offset = message.partition(), message.offset()
                assert partition is not None
                assert offset is not None
                if message.key() == key.encode():
                    out.append(message)
                if offset + 1 >= ends[partition]:
                    done.add(partition)
        return out
    finally:
        consumer.close()
