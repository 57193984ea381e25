"""Fixtures for tests against the real Kafka broker and PostgreSQL server.

``make test`` starts both (infra/test.sh) and exports ``KINESTREAM_KAFKA`` (bootstrap
address) and ``KINESTREAM_DATABASE_URL``, and ``KINESTREAM_TIMESCALE_URL``: a TimescaleDB
stand-in (infra/pglite: one database, one session, shared by every test using it). Without
them a test that needs a server is skipped, or fails where ``KINESTREAM_REQUIRE_SERVICES=1``
or ``CI`` is set, so CI never passes by skipping. Tests using these fixtures get the
``kafka`` / ``postgres`` / ``timescale`` marker automatically.

Factory fixtures keep tests independent on the shared servers: ``topic_factory`` creates
uniquely named topics, ``fresh_database`` an empty database and ``migrated_database`` one
with the current schema, each dropped after the test.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from psycopg import sql

from kinestream.store.migrations import migrate

TopicFactory = Callable[..., str]

_KAFKA_FIXTURES = {"kafka_bootstrap", "topic_factory"}
_POSTGRES_FIXTURES = {"database_url", "fresh_database", "migrated_database"}
_TIMESCALE_FIXTURES = {"timescale_url"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the servers their fixtures need, so ``-m 'not kafka'`` works."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & _KAFKA_FIXTURES:
            item.add_marker(pytest.mark.kafka)
        if names & _POSTGRES_FIXTURES:
            item.add_marker(pytest.mark.postgres)
        if names & _TIMESCALE_FIXTURES:
            item.add_marker(pytest.mark.timescale)


def _service(variable: str, what: str) -> str:
    value = os.environ.get(variable, "")
    if value:
        return value
    message = f"no {what}: set {variable} (`make test` starts one and sets it)"
    if os.environ.get("KINESTREAM_REQUIRE_SERVICES") == "1" or os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap address of the real Kafka broker (``KINESTREAM_KAFKA``)."""
    return _service("KINESTREAM_KAFKA", "Kafka broker")


@pytest.fixture(scope="session")
def database_url() -> str:
    """URL of the real PostgreSQL server's ``kinestream`` database."""
    return _service("KINESTREAM_DATABASE_URL", "PostgreSQL server")


@pytest.fixture(scope="session")
def timescale_url() -> str:
    """URL of the TimescaleDB stand-in's one database (``KINESTREAM_TIMESCALE_URL``)."""
    return _service("KINESTREAM_TIMESCALE_URL", "TimescaleDB stand-in")


def _unique_name(request: pytest.FixtureRequest, prefix: str, limit: int) -> str:
    test = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")
    suffix = uuid.uuid4().hex[:8]
    return f"{prefix}{test[: limit - len(prefix) - len(suffix) - 1]}_{suffix}"


@pytest.fixture
def topic_factory(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Iterator[TopicFactory]:
    """Create fresh, uniquely named topics: ``topic_factory(partitions=4) -> name``."""
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    created: list[str] = []

    def create(partitions: int = 4) -> str:
        name = _unique_name(request, "test_", 200)
        futures = admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=30)
        futures[name].result(timeout=30)
        created.append(name)
        # Kafka acknowledges a creation before its metadata shows the topic's partitions.
        deadline = time.monotonic() + 30
        while len(admin.list_topics(name, timeout=30).topics[name].partitions) != partitions:
            assert time.monotonic() < deadline, f"topic {name} never showed its partitions"
            time.sleep(0.05)
        return name

    yield create
    if created:
        for future in admin.delete_topics(created, operation_timeout=30).values():
            future.result(timeout=30)


def _with_database(url: str, name: str) -> str:
    if "://" in url:
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path=f"/{name}"))
    return psycopg.conninfo.make_conninfo(url, dbname=name)


def _create_database(url: str, name: str, template: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return _with_database(url, name)


def _drop_database(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def fresh_database(database_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a new, empty database (no schema), dropped after the test."""
    name = _unique_name(request, "test_", 63)
    yield _create_database(database_url, name, "template1")
    _drop_database(database_url, name)


@pytest.fixture
def migrated_database(fresh_database: str) -> str:
    """URL of a new database with every migration applied, dropped after the test."""
    migrate(fresh_database)
    return fresh_database
