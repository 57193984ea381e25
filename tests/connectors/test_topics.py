"""Creating the topics up front, on the real broker."""

from __future__ import annotations

import uuid
from dataclasses import fields

import pytest
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from kinestream import wire
from kinestream.cli import main
from kinestream.connectors.topics import ensure_topics


def _delete(bootstrap: str, topics: wire.Topics) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [
        topics.frames,
        topics.poses,
        topics.control,
        topics.events,
        topics.webhooks,
        topics.dead_letters,
        topics.deadletter,
    ]
    for future in admin.delete_topics(names, operation_timeout=30).values():
        future.result(30)


def test_creates_what_is_missing_and_leaves_the_rest(kafka_bootstrap: str) -> None:
    topics = wire.Topics.prefixed(f"t-{uuid.uuid4().hex[:8]}.")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topics.events, 2, 1)])[topics.events].result(30)
    try:
        states = ensure_topics(kafka_bootstrap, topics, partitions=6)
        by_name = {s.name: s for s in states}
        assert len(states) == 7
        assert (by_name[topics.events].outcome, by_name[topics.events].partitions) == ("exists", 2)
        assert all(
            (s.outcome, s.partitions) == ("created", 6) for s in states if s.name != topics.events
        )
        again = ensure_topics(kafka_bootstrap, topics, partitions=6)
        assert {s.outcome for s in again} == {"exists"}
    finally:
        _delete(kafka_bootstrap, topics)


def test_command_reports_each_topic(
    kafka_bootstrap: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for field in fields(wire.Topics):  # a KINESTREAM_TOPIC_* variable beats the prefix
        monkeypatch.delenv(f"KINESTREAM_TOPIC_{field.name.upper()}", raising=False)
    prefix = f"c-{uuid.uuid4().hex[:8]}."
    argv = [
        "topics",
        "create",
        "--brokers",
        kafka_bootstrap,
        "--topic-prefix",
        prefix,
        "--partitions",
        "3",
    ]
    try:
        status = main(argv)
        out, err = capsys.readouterr()
        assert status == 0, out + err
        lines = out.splitlines()
        assert len(lines) == 7, out
        assert all(line.startswith("created") and "(3 partitions)" in line for line in lines), out
    finally:
        _delete(kafka_bootstrap, wire.Topics.prefixed(prefix))
    status = main([*argv[:-1], "0"])
    out, err = capsys.readouterr()
    assert status == 2, out + err
    assert "at least 1" in err, err


def test_unreachable_broker_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["topics", "create", "--brokers", "127.0.0.1:1", "--timeout-s", "2"])
    out, err = capsys.readouterr()
    assert status == 1, out + err
    assert "did not answer" in err, err
