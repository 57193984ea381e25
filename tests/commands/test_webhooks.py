"""``kinestream webhooks`` as a process: it delivers, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from kinestream import wire
from kinestream.cli import main
from kinestream.events import AnalysisEvent
from kinestream.signing import verify
from kinestream.sports import Sport
from kinestream.webhooks.registry import create_webhook
from tests.webhook_receiver import ReceiverFactory, receivers

TopicFactory = Callable[..., str]


@pytest.fixture
def receiver_factory() -> Iterator[ReceiverFactory]:
    with receivers() as make:
        yield make


def test_the_command_delivers_and_stops_on_sigterm(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    migrated_database: str,
    receiver_factory: ReceiverFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver = receiver_factory()
    monkeypatch.setenv("KINESTREAM_WEBHOOKS_ALLOW_PRIVATE", "1")
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        _, secret = create_webhook(conn, api_key_id="key-1", url=receiver.url())
    topics = wire.Topics(webhooks=topic_factory(1), dead_letters=topic_factory(1))
    event = AnalysisEvent("rep_complete", "stream-1", 42, 1_767_225_600.7, {"rep": 1})
    key, value = wire.encode_webhook(
        wire.WebhookEvent(event, str(uuid.uuid4()), "key-1", Sport.CMJ)
    )
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(topics.webhooks, key=key, value=value)
    assert producer.flush(10) == 0

    env = {
        **os.environ,
        "KINESTREAM_TOPIC_WEBHOOKS": topics.webhooks,
        "KINESTREAM_TOPIC_DEAD_LETTERS": topics.dead_letters,
        "KINESTREAM_WEBHOOKS_POLL_INTERVAL_S": "0.1",
    }
    command = [
        sys.executable,
        "-m",
        "kinestream.cli",
        "webhooks",
        "--brokers",
        kafka_bootstrap,
        "--database-url",
        migrated_database,
        "--group-id",
        f"webhooks-{uuid.uuid4().hex[:8]}",
    ]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # let it record the outcome
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, stderr
    [request] = receiver.requests
    verify(secret, request.body, request.headers["Kinestream-Signature"])
    assert request.headers["Kinestream-Event-Id"] == event.event_id
    assert "webhook dispatcher starting" in stderr
    assert "delivered to webhook" in stderr
    assert stderr.rstrip().endswith("webhook dispatcher stopped")
    with psycopg.connect(migrated_database) as conn:
        assert conn.execute("SELECT status FROM webhook_deliveries").fetchall() == [("delivered",)]


def _dispatcher(
    kafka_bootstrap: str, database_url: str, topics: wire.Topics, group: str, instance_id: str
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "KINESTREAM_TOPIC_WEBHOOKS": topics.webhooks,
        "KINESTREAM_TOPIC_DEAD_LETTERS": topics.dead_letters,
        "KINESTREAM_WEBHOOKS_POLL_INTERVAL_S": "0.1",
    }
    command = [
        *(sys.executable, "-m", "kinestream.cli", "webhooks"),
        *("--brokers", kafka_bootstrap, "--database-url", database_url, "--group-id", group),
        *("--session-timeout-s", str(TAKEOVER_SESSION_TIMEOUT_S), "--instance-id", instance_id),
    ]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def _assignments(admin: AdminClient, group: str) -> dict[str, list[int]]:
    """Each static member's partitions."""
    description = admin.describe_consumer_groups([group])[group].result(timeout=10)
    return {
        str(member.group_instance_id): sorted(
            tp.partition for tp in member.assignment.topic_partitions
        )
        for member in description.members
    }


TAKEOVER_SESSION_TIMEOUT_S = 6.0


@pytest.mark.parametrize("restarted", [False, True], ids=["left_alone", "restarted_in_place"])
def test_a_killed_dispatchers_partitions_are_taken_over(
    restarted: bool,
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    migrated_database: str,
    receiver_factory: ReceiverFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver = receiver_factory()
    monkeypatch.setenv("KINESTREAM_WEBHOOKS_ALLOW_PRIVATE", "1")
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        create_webhook(conn, api_key_id="key-1", url=receiver.url())
    topics = wire.Topics(webhooks=topic_factory(2), dead_letters=topic_factory(1))
    group = f"webhooks-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    doomed = _dispatcher(kafka_bootstrap, migrated_database, topics, group, "doomed")
    survivor = _dispatcher(kafka_bootstrap, migrated_database, topics, group, "survivor")
    processes = [doomed, survivor]
    try:
        deadline = time.monotonic() + 60
        while (assigned := _assignments(admin, group)) != {"doomed": [0], "survivor": [1]} and (
            assigned != {"doomed": [1], "survivor": [0]}
        ):
            assert time.monotonic() < deadline, assigned
            time.sleep(0.2)
        doomed.kill()  # SIGKILL: no goodbye to the group
        killed_at = time.time()
        if restarted:  # with the same static id: it takes the dead one's place at once
            processes.append(
                _dispatcher(kafka_bootstrap, migrated_database, topics, group, "doomed")
            )
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        events = {}
        for who, [partition] in assigned.items():
            event = AnalysisEvent("rep_complete", f"stream-{who}", 1, 1_767_225_600.0, {"rep": 1})
            key, value = wire.encode_webhook(
                wire.WebhookEvent(event, str(uuid.uuid4()), "key-1", Sport.CMJ)
            )
            producer.produce(topics.webhooks, key=key, value=value, partition=partition)
            events[who] = event.event_id
        assert producer.flush(10) == 0

        # Left alone, the doomed one's partition waits for the group to notice (the session
        # timeout); restarted, for the new process to start.
        deadline = time.monotonic() + 3 * TAKEOVER_SESSION_TIMEOUT_S + 20
        delivered: dict[str, float] = {}
        while len(delivered) < 2:
            assert time.monotonic() < deadline, (delivered, _assignments(admin, group))
            delivered = {
                who: request.at
                for request in list(receiver.requests)
                for who, event_id in events.items()
                if request.headers["Kinestream-Event-Id"] == event_id
            }
            time.sleep(0.1)
        expected = assigned if restarted else {"survivor": [0, 1]}
        assert _assignments(admin, group) == expected
        print(f"webhook takeover after SIGKILL: {delivered['doomed'] - killed_at:.1f} s")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
            assert process.stderr is not None
            process.stderr.close()


def test_without_a_database_the_command_says_how_to_give_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KINESTREAM_DATABASE_URL", raising=False)

    status = main(["webhooks"])
    out, err = capsys.readouterr()
    assert status == 2, out + err
    assert "KINESTREAM_DATABASE_URL" in err, err


def test_an_unmigrated_database_is_refused(
    fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["webhooks", "--database-url", fresh_database, "--brokers", "127.0.0.1:1"])
    out, err = capsys.readouterr()
    assert status == 2, out + err
    assert "run `kinestream db migrate` first" in err, err


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (["--concurrency", "0"], "'0' is not positive"),
        (["--timeout-s", "soon"], "'soon' is not a number"),
    ],
)
def test_bad_numbers_are_refused_with_a_reason(
    arguments: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["webhooks", "--database-url", "postgresql://x/y", *arguments])

    assert info.value.code == 2
    assert reason in capsys.readouterr().err


def test_a_bad_variable_is_reported_like_a_bad_option(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KINESTREAM_WEBHOOKS_MAX_ATTEMPTS", "many")

    with pytest.raises(SystemExit):
        main(["webhooks", "--database-url", "postgresql://x/y"])
    assert "argument --max-attempts: 'many' is not a whole number" in capsys.readouterr().err


def test_an_inconsistent_schedule_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["--retry-base-s", "10", "--retry-cap-s", "5"]

    status = main(["webhooks", "--database-url", "postgresql://x/y", *arguments])
    out, err = capsys.readouterr()
    assert status == 2, out + err
    assert "retry cap (5.0 s) must be at least its base" in err, err


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (["--session-timeout-s", "0.5"], "session timeout must be between 1 and 3600 s, got 0.5"),
        (["--instance-id", " "], "an instance id must not be empty"),
    ],
)
def test_a_bad_group_membership_is_refused(
    arguments: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["webhooks", "--database-url", "postgresql://x/y", *arguments])
    out, err = capsys.readouterr()
    assert status == 2, out + err
    assert reason in err, err
