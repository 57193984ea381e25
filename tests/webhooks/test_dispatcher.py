"""The webhook dispatcher against the real broker, the real database and a real HTTP receiver.

Each test gets fresh topics, a fresh migrated database and a receiver (``ThreadingHTTPServer``
on 127.0.0.1), and runs :class:`WebhookDispatcher` objects in threads, each on its own event
loop, exactly as ``kinestream webhooks`` runs one. Receivers are on loopback, so the
dispatchers allow private targets, except where a test checks that they refuse them.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from psycopg.rows import dict_row

from kinestream import __version__, wire
from kinestream.events import AnalysisEvent
from kinestream.signing import verify
from kinestream.sports import Sport
from kinestream.webhooks.deliveries import delivery_id_for
from kinestream.webhooks.dispatcher import (
    DispatcherSettings,
    RetrySchedule,
    WebhookDispatcher,
)
from kinestream.webhooks.registry import create_webhook, delete_webhook
from tests.webhook_receiver import ReceiverFactory, Reply, receivers

TopicFactory = Callable[..., str]

KEY = "key-1"
ANALYSIS = str(uuid.UUID("5b1d3c9e-0f2a-4d6b-8e7c-1a2b3c4d5e6f"))


# --- the system around the dispatcher ---------------------------------------------------


@pytest.fixture
def receiver_factory() -> Iterator[ReceiverFactory]:
    with receivers() as make:
        yield make


@pytest.fixture(autouse=True)
def _registrations_may_use_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KINESTREAM_WEBHOOKS_ALLOW_PRIVATE", "1")


@pytest.fixture
def settings(
    kafka_bootstrap: str, topic_factory: TopicFactory, migrated_database: str
) -> DispatcherSettings:
    """Fast settings: short timeouts and retries, a private group and topics."""
    return DispatcherSettings(
        database_url=migrated_database,
        brokers=(kafka_bootstrap,),
        topics=wire.Topics(webhooks=topic_factory(partitions=2), dead_letters=topic_factory(1)),
        group_id=f"webhooks-{uuid.uuid4().hex[:8]}",
        concurrency=4,
        timeout_s=2.0,
        retry=RetrySchedule(base_s=0.2, cap_s=1.0, max_attempts=5, jitter=0.0),
        allow_private=True,
        poll_interval_s=0.05,
    )


@contextmanager
def running(settings: DispatcherSettings) -> Iterator[WebhookDispatcher]:
    """Run a dispatcher in a thread; stop it and wait for it on the way out."""
    dispatcher = WebhookDispatcher(settings)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(dispatcher.run())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="dispatcher")
    thread.start()
    try:
        yield dispatcher
    finally:
        dispatcher.stop()
        thread.join(timeout=15)
        assert not thread.is_alive(), "the dispatcher did not stop"
    if errors:
        raise errors[0]


def hook_event(
    event_type: str = "rep_complete",
    *,
    seq: int = 120,
    api_key_id: str = KEY,
    analysis_id: str = ANALYSIS,
    sport: Sport = Sport.CMJ,
    stream_id: str = "stream-1",
) -> wire.WebhookEvent:
    payloads: dict[str, dict[str, Any]] = {
        "rep_complete": {"rep": 1, "sport": sport.value, "metrics": {"jump_height_m": 0.41}},
        "phase_change": {"from_phase": "standing", "to_phase": "eccentric", "rep": 1},
        "session_summary": {"sport": sport.value, "reps": 1, "reason": "end"},
    }
    event = AnalysisEvent(
        event_type,  # type: ignore[arg-type]
        stream_id,
        seq,
        1_767_225_600.0 + seq / 60,
        payloads[event_type],
        position=seq,
    )
    return wire.WebhookEvent(event, analysis_id, api_key_id, sport, athlete_id="athlete-9")


def publish(settings: DispatcherSettings, *items: wire.WebhookEvent) -> None:
    producer = Producer({"bootstrap.servers": ",".join(settings.brokers)})
    for item in items:
        key, value = wire.encode_webhook(item)
        producer.produce(settings.topics.webhooks, key=key, value=value)
    assert producer.flush(10) == 0


def register(settings: DispatcherSettings, url: str, **filters: Any) -> tuple[str, str]:
    """Create a webhook of ``KEY`` (unless ``api_key_id`` is given); return (id, secret)."""
    filters.setdefault("api_key_id", KEY)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        webhook, secret = create_webhook(conn, url=url, **filters)
    return webhook.webhook_id, secret


def deliveries(settings: DispatcherSettings) -> list[dict[str, Any]]:
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT *, delivery_id::text AS id, webhook_id::text AS webhook"
            " FROM webhook_deliveries ORDER BY created_at, delivery_id"
        ).fetchall()


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.02)


def wait_intake_done(settings: DispatcherSettings, messages: int) -> None:
    """Wait until the group has committed offsets past ``messages`` messages."""
    consumer = Consumer({"bootstrap.servers": settings.brokers[0], "group.id": settings.group_id})
    partitions = [TopicPartition(settings.topics.webhooks, p) for p in range(2)]
    try:

        def committed() -> int:
            try:
                offsets = consumer.committed(partitions, timeout=5)
            except KafkaException:  # the group's coordinator is still being set up
                return 0
            return sum(max(tp.offset, 0) for tp in offsets)

        wait_until(lambda: committed() >= messages, f"{messages} messages are committed")
    finally:
        consumer.close()


def all_in(settings: DispatcherSettings, status: str, count: int) -> Callable[[], bool]:
    def check() -> bool:
        rows = deliveries(settings)
        return len(rows) == count and all(row["status"] == status for row in rows)

    return check


def attempts(settings: DispatcherSettings) -> int:
    """Attempts made on the test's one delivery (0 before it exists)."""
    rows = deliveries(settings)
    return int(rows[0]["attempts"]) if rows else 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- tests -----------------------------------------------------------------------------


def test_events_go_to_the_matching_webhooks_only(
    settings: DispatcherSettings, receiver_factory: ReceiverFactory
) -> None:
    receiver = receiver_factory()
    other_analysis = str(uuid.uuid4())
    register(settings, receiver.url("/defaults"))
    register(settings, receiver.url("/phases"), event_types=["phase_change"])
    register(settings, receiver.url("/cmj-reps"), event_types=["rep_complete"], sport=Sport.CMJ)
    register(settings, receiver.url("/drop-jumps"), sport=Sport.DROP_JUMP)
    register(settings, receiver.url("/this-analysis"), analysis_id=ANALYSIS.upper())
    register(settings, receiver.url("/other-analysis"), analysis_id=other_analysis)
    register(settings, receiver.url("/other-key"), api_key_id="key-2")
    publish(settings, hook_event("rep_complete", seq=100), hook_event("phase_change", seq=50))

    with running(settings):
        wait_intake_done(settings, 2)
        wait_until(lambda: len(receiver.requests) >= 4, "4 deliveries arrived")
        wait_until(all_in(settings, "delivered", 4), "every delivery is recorded")

    by_path = {r.path: r.headers["Kinestream-Event-Type"] for r in receiver.requests}
    assert by_path == {
        "/defaults": "rep_complete",
        "/cmj-reps": "rep_complete",
        "/this-analysis": "rep_complete",
        "/phases": "phase_change",
    }
    assert len(receiver.requests) == 4


def test_a_delivery_is_signed_and_carries_the_event(
    settings: DispatcherSettings, receiver_factory: ReceiverFactory
) -> None:
    receiver = receiver_factory()
    # By name: the dispatcher connects to the address it checked, the Host stays the name.
    url = f"http://localhost:{receiver.port}/hooks/kinestream?tenant=7"
    webhook_id, secret = register(settings, url)
    item = hook_event("session_summary", seq=300)
    publish(settings, item)

    with running(settings):
        wait_until(all_in(settings, "delivered", 1), "the delivery is recorded")

    [request] = receiver.requests
    delivery_id = delivery_id_for(item.event.event_id, webhook_id)
    assert request.path == "/hooks/kinestream?tenant=7"
    assert request.headers["Host"] == f"localhost:{receiver.port}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == f"kinestream-webhooks/{__version__}"
    assert request.headers["Kinestream-Event-Id"] == item.event.event_id
    assert request.headers["Kinestream-Delivery-Id"] == delivery_id
    assert request.headers["Kinestream-Event-Type"] == "session_summary"
    verify(secret, request.body, request.headers["Kinestream-Signature"])
    assert json.loads(request.body) == {
        "delivery_id": delivery_id,
        "webhook_id": webhook_id,
        "analysis_id": ANALYSIS,
        "athlete_id": "athlete-9",
        "sport": "cmj",
        "event": item.event.to_dict(),
    }
    [row] = deliveries(settings)
    assert (row["id"], row["attempts"], row["last_status_code"]) == (delivery_id, 1, 200)
    assert row["delivered_at"] is not None
    assert row["next_attempt_at"] is None


_SELF_SIGNED = (
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    " -subj /CN=localhost -addext subjectAltName=DNS:localhost"
)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` (and nothing else), and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = [*_SELF_SIGNED.split(), "-out", str(cert), "-keyout", str(key)]
    subprocess.run(command, check=True, capture_output=True)
    return cert, key


def test_https_is_verified_against_the_urls_host(
    settings: DispatcherSettings,
    receiver_factory: ReceiverFactory,
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    receiver = receiver_factory(tls=tls)
    settings = replace(settings, ca_file=str(cert), retry=replace(settings.retry, max_attempts=1))
    # Connected to 127.0.0.1 either way: by name the certificate matches, by address not.
    by_name, _ = register(settings, f"https://localhost:{receiver.port}/by-name")
    by_address, _ = register(settings, receiver.url("/by-address"))
    publish(settings, hook_event())

    with running(settings):
        wait_until(lambda: len(deliveries(settings)) == 2, "both deliveries are recorded")
        wait_until(lambda: all(r["status"] != "pending" for r in deliveries(settings)), "done")

    outcome = {row["webhook"]: (row["status"], row["last_error"]) for row in deliveries(settings)}
    assert outcome[by_name] == ("delivered", None)
    status, error = outcome[by_address]
    assert status == "dead"
    assert "CERTIFICATE_VERIFY_FAILED" in error
    assert receiver.paths() == ["/by-name"]
    assert receiver.requests[0].headers["Host"] == f"localhost:{receiver.port}"


def test_a_message_read_twice_is_delivered_once(
    settings: DispatcherSettings, receiver_factory: ReceiverFactory
) -> None:
    receiver = receiver_factory()
    register(settings, receiver.url())
    item = hook_event()
    publish(settings, item, item)

    with running(settings):
        wait_intake_done(settings, 2)
        wait_until(all_in(settings, "delivered", 1), "the delivery is recorded")
    # Read a third time by a new group from the start: still nothing new.
    with running(replace(settings, group_id=settings.group_id + "-again")):
        wait_intake_done(replace(settings, group_id=settings.group_id + "-again"), 2)

    assert len(deliveries(settings)) == 1
    assert [r.headers["Kinestream-Event-Id"] for r in receiver.requests] == [item.event.event_id]


def test_a_receiver_that_is_down_gets_the_delivery_once_it_is_up(
    settings: DispatcherSettings, receiver_factory: ReceiverFactory
) -> None:
    port = free_port()
    register(settings, f"http://127.0.0.1:{port}/hook")
    publish(settings, hook_event())

    with running(settings):
        wait_until(lambda: attempts(settings) >= 1, "a first attempt failed")
        [row] = deliveries(settings)
        assert row["status"] == "pending"
        assert "ConnectError" in row["last_error"]
        assert row["last_status_code"] is None
        receiver = receiver_factory(port=port)
        wait_until(all_in(settings, "delivered", 1), "the delivery is recorded")

    assert len(receiver.requests) == 1
    assert deliveries(settings)[0]["attempts"] >= 2


def test_a_receiver_that_keeps_failing_ends_on_the_dead_letter_topic(
    settings: DispatcherSettings, receiver_factory: ReceiverFactory
) -> None:
    receiver = receiver_factory(lambda path, i: Reply(500, b"boom"))
    settings = replace(settings, retry=replace(settings.retry, base_s=0.05, max_attempts=3))
    webhook_id, _ = register(settings, receiver.url())
    item = hook_event()
    publish(settings, item)

    with running(settings):
        wait_until(
            lambda: all_in(settings, "dead", 1)() and deliveries(settings)[0]["dead_lettered_at"],
            "the delivery is dead and dead-lettered",
        )

    assert len(receiver.requests) == 3
    [row] = deliveries(settings)
    assert (row["attempts"], row["last_status_code"], row["last_error"]) == (
        3,
        500,
        "HTTP 500: boom",
    )
    assert row["next_attempt_at"] is None
    [letter] = _consume_all(settings, settings.topics.dead_letters)
    assert letter == wire.DeadLetter(
        delivery_id=row["id"],
        webhook_id=webhook_id,
        stream_id=item.event.stream_id,
        event_id=item.event.event_id,
        event_type="rep_complete",
        attempts=3,
        last_error="HTTP 500: boom",
        last_status_code=500,
        body=row["body"],
    )
    assert json.loads(receiver.requests[-1].body) == letter.body


def test_a_restart_keeps_the_retry_schedule(
    settings: DispatcherSettings, receiver_factory: ReceiverFactory
) -> None:
    receiver = receiver_factory(lambda path, i: Reply(503) if i == 0 else Reply(204, b""))
    settings = replace(settings, retry=replace(settings.retry, base_s=1.5, cap_s=2.0))
    register(settings, receiver.url())
    publish(settings, hook_event())

    with running(settings):
        wait_until(lambda: attempts(settings) == 1, "the first attempt failed")
    [row] = deliveries(settings)
    assert row["status"] == "pending"
    assert len(receiver.requests) == 1, "the first dispatcher stopped before the retry"
    due: datetime = row["next_attempt_at"]
    # The schedule's own value: at least base_s (less its jitter) after the failed attempt.
    shortest_s = settings.retry.base_s * (1 - settings.retry.jitter)
    assert due.timestamp() >= receiver.requests[0].at + shortest_s - 0.05

    with running(settings):  # a new dispatcher, same group: the schedule is in the database
        wait_until(all_in(settings, "delivered", 1), "the retry is delivered")

    first, second = receiver.requests
    assert second.at >= due.timestamp() - 0.05  # not before the stored schedule
    assert second.at >= first.at + shortest_s - 0.05
    assert deliveries(settings)[0]["attempts"] == 2


def test_a_redirect_is_not_followed(
    settings: DispatcherSettings, receiver_factory: ReceiverFactory
) -> None:
    def respond(path: str, i: int) -> Reply:
        if path == "/hook":
            return Reply(302, headers={"Location": "/elsewhere"})
        return Reply(200)

    receiver = receiver_factory(respond)
    settings = replace(settings, retry=replace(settings.retry, max_attempts=1))
    register(settings, receiver.url())
    publish(settings, hook_event())

    with running(settings):
        wait_until(all_in(settings, "dead", 1), "the delivery is dead")

    assert receiver.paths() == ["/hook"]
    [row] = deliveries(settings)
    assert row["last_status_code"] == 302
    assert row["last_error"] == "HTTP 302 redirect to '/elsewhere' not followed"


def test_a_timeout_is_a_failed_attempt(
    settings: DispatcherSettings, receiver_factory: ReceiverFactory
) -> None:
    receiver = receiver_factory(lambda path, i: Reply(delay_s=1.0 if i == 0 else 0.0))
    settings = replace(settings, timeout_s=0.3)
    register(settings, receiver.url())
    publish(settings, hook_event())

    with running(settings):
        wait_until(lambda: attempts(settings) >= 1, "the first attempt ended")
        first = deliveries(settings)[0]
        wait_until(all_in(settings, "delivered", 1), "the retry is delivered")

    assert (first["status"], first["last_error"]) == ("pending", "timed out after 0.3 s")
    assert first["last_status_code"] is None
    assert len(receiver.requests) == 2


def test_only_the_start_of_a_response_is_read(
    settings: DispatcherSettings, receiver_factory: ReceiverFactory
) -> None:
    endless = Reply(500, b"x" * 65536, headers={"Content-Length": str(10**9)}, hang_s=3.0)
    receiver = receiver_factory(lambda path, i: endless)
    settings = replace(settings, timeout_s=1.5, retry=replace(settings.retry, max_attempts=1))
    register(settings, receiver.url())
    publish(settings, hook_event())

    with running(settings):
        wait_until(all_in(settings, "dead", 1), "the delivery is dead")

    # Read up to the cap, then given up on: no waiting for the rest (it would time out).
    [row] = deliveries(settings)
    assert row["last_status_code"] == 500
    assert row["last_error"] == "HTTP 500: " + "x" * 200


def test_deliveries_in_flight_are_bounded_and_shared_between_dispatchers(
    settings: DispatcherSettings, receiver_factory: ReceiverFactory
) -> None:
    receiver = receiver_factory(lambda path, i: Reply(delay_s=0.2))
    settings = replace(settings, concurrency=3)
    register(settings, receiver.url())
    publish(settings, *(hook_event(seq=seq) for seq in range(18)))

    with running(settings), running(settings):  # two processes' worth, one group
        wait_until(all_in(settings, "delivered", 18), "18 deliveries are recorded", 20)

    assert len(receiver.requests) == 18
    assert len({r.headers["Kinestream-Delivery-Id"] for r in receiver.requests}) == 18
    assert receiver.max_in_flight <= 6  # 3 per dispatcher
    assert receiver.max_in_flight > 3  # both took part


def test_concurrency_of_one_dispatcher_is_bounded(
    settings: DispatcherSettings, receiver_factory: ReceiverFactory
) -> None:
    receiver = receiver_factory(lambda path, i: Reply(delay_s=0.2))
    settings = replace(settings, concurrency=3)
    register(settings, receiver.url())
    publish(settings, *(hook_event(seq=seq) for seq in range(9)))

    with running(settings):
        wait_until(all_in(settings, "delivered", 9), "9 deliveries are recorded")

    assert receiver.max_in_flight == 3


def test_loopback_targets_are_refused_at_send_time_unless_allowed(
    settings: DispatcherSettings, receiver_factory: ReceiverFactory
) -> None:
    receiver = receiver_factory()
    settings = replace(settings, allow_private=False, retry=replace(settings.retry, max_attempts=1))
    register(settings, receiver.url())
    publish(settings, hook_event())

    with running(settings):
        wait_until(all_in(settings, "dead", 1), "the delivery is dead")

    assert receiver.requests == []
    [row] = deliveries(settings)
    assert row["last_error"] == (
        "target refused: webhook host 127.0.0.1 is a loopback address;"
        " webhooks must reach a public address"
    )


def test_stopping_finishes_the_deliveries_in_flight(
    settings: DispatcherSettings, receiver_factory: ReceiverFactory
) -> None:
    receiver = receiver_factory(lambda path, i: Reply(delay_s=0.5))
    register(settings, receiver.url())
    publish(settings, hook_event())

    with running(settings):
        wait_until(lambda: receiver.in_flight == 1, "the request is in flight")
    # stop() came while the receiver was still answering; run() returned after recording it.

    [row] = deliveries(settings)
    assert (row["status"], row["attempts"]) == ("delivered", 1)


def test_deleting_a_webhook_drops_its_pending_deliveries(
    settings: DispatcherSettings, receiver_factory: ReceiverFactory
) -> None:
    receiver = receiver_factory(lambda path, i: Reply(500))
    settings = replace(settings, retry=replace(settings.retry, base_s=0.1, max_attempts=50))
    webhook_id, _ = register(settings, receiver.url())
    publish(settings, hook_event())

    with running(settings):
        wait_until(lambda: len(receiver.requests) >= 2, "two attempts failed")
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            assert delete_webhook(conn, KEY, webhook_id)
        attempts = len(receiver.requests)
        time.sleep(0.5)  # several retry intervals

    assert deliveries(settings) == []
    assert len(receiver.requests) <= attempts + 1  # at most the one in flight


def _consume_all(settings: DispatcherSettings, topic: str) -> list[wire.DeadLetter]:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.brokers[0],
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    consumer.subscribe([topic])
    letters: list[wire.DeadLetter] = []
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None:
                continue
            if message.error() is not None:
                if letters:
                    break  # end of the partition, after what was there
                continue
            letters.append(wire.decode_dead_letter(message.key(), message.value()))
    finally:
        consumer.close()
    return letters
