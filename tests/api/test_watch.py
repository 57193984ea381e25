"""The watch WebSocket on a real server: live events from the events topic, history from the
database, in position order with no gap and no repeat; slow clients cut off alone."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from kinestream import wire
from kinestream.api.server import running_server
from kinestream.connectors.database import write_session_events
from kinestream.events import AnalysisEvent
from kinestream.session import SessionEvent
from tests.api.conftest import Api, close_of


@pytest.fixture(scope="module")
def api_settings_overrides() -> dict[str, Any]:
    return {"relay_queue_size": 32, "heartbeat_s": 0.5, "close_timeout_s": 60.0}


def event(
    stream_id: str, position: int, event_type: str = "metric_update", **payload: Any
) -> AnalysisEvent:
    if event_type == "session_summary":
        payload = {"sport": "cmj", "reps": 0, "frames": position, "reason": "end", **payload}
    elif event_type == "metric_update":
        payload = {"phase": "standing", "com_height_m": 0.0, "com_velocity_m_s": 0.0, **payload}
    return AnalysisEvent(
        event_type,  # type: ignore[arg-type]
        stream_id,
        position,
        1_760_000_000.0 + position / 60,
        payload,
        position=position,
    )


def publish(api: Api, events: list[AnalysisEvent], per_second: float | None = None) -> None:
    """Put events on the events topic, as the dataflow does (at most ``per_second``)."""
    producer = Producer({"bootstrap.servers": api.brokers, "linger.ms": 5})
    for item in events:
        key, value, headers = wire.encode_event(item)
        producer.produce(api.topics.events, value, key, headers=list(headers))
        producer.poll(0)
        if per_second is not None:
            time.sleep(1 / per_second)
    assert producer.flush(30) == 0


def store(api: Api, events: list[AnalysisEvent]) -> None:
    """Put events in the database, as the dataflow's sink does."""
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        write_session_events(conn, [SessionEvent(e.stream_id, None, e) for e in events])


def watch(
    api: Api, key: str, analysis_id: str, after: int | None = None, **kw: Any
) -> ClientConnection:
    query = "" if after is None else f"?after={after}"
    socket: ClientConnection = connect(
        api.ws_url(f"/analyses/{analysis_id}/stream{query}"),
        additional_headers={"Authorization": f"Bearer {key}"},
        compression=None,
        open_timeout=10,
        **kw,
    )
    return socket


def receive(ws: ClientConnection, count: int, timeout_s: float = 20.0) -> list[dict[str, Any]]:
    """The next ``count`` event messages (heartbeats skipped)."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < count:
        message = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if message["type"] == "event":
            out.append(message)
        else:
            assert message["type"] == "heartbeat"
    return out


def closing_code(ws: ClientConnection, timeout_s: float = 20.0) -> tuple[int, str, int]:
    """Read to the close: its code, reason, and how many events came before it."""
    events = 0
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            message = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            events += message["type"] == "event"
    except ConnectionClosed as closed:
        return (*close_of(closed), events)


def positions(messages: list[dict[str, Any]]) -> list[int]:
    assert all(m["position"] == m["event"]["position"] for m in messages)
    return [m["position"] for m in messages]


def test_live_events_arrive_in_order_and_the_end_closes(api: Api) -> None:
    key = api.new_key()
    stream = api.create_analysis(key)["analysis_id"]
    events = [event(stream, p) for p in range(20)] + [event(stream, 20, "session_summary")]
    with watch(api, key, stream) as ws:
        publish(api, events)
        received = receive(ws, 21)
        assert closing_code(ws)[:2] == (1000, "analysis ended")
    assert positions(received) == list(range(21))
    assert [m["event"]["event_id"] for m in received] == [e.event_id for e in events]
    assert received[5]["event"]["payload"] == events[5].payload


def test_the_analysis_reads_ended_once_its_watch_has_the_summary(api: Api) -> None:
    # Only on the events topic, as when the database sink has not written the end yet.
    key = api.new_key()
    stream = api.create_analysis(key)["analysis_id"]
    summary = event(stream, 1, "session_summary", reason="end")
    with watch(api, key, stream) as ws:
        publish(api, [event(stream, 0), summary])
        assert positions(receive(ws, 2)) == [0, 1]
        with api.client(key) as client:
            body = client.get(api.url(f"/analyses/{stream}")).json()
        assert closing_code(ws)[:2] == (1000, "analysis ended")
    assert (body["status"], body["end_reason"], body["summary"]) == (
        "ended",
        "end",
        summary.payload,
    ), body


def test_watchers_on_two_api_instances_each_get_every_event(api: Api) -> None:
    key = api.new_key()
    stream = api.create_analysis(key)["analysis_id"]
    events = [event(stream, p) for p in range(30)] + [event(stream, 30, "session_summary")]
    with running_server(api.settings) as second:
        other = connect(
            f"{second.ws_url}/api/v1/analyses/{stream}/stream",
            additional_headers={"Authorization": f"Bearer {key}"},
            open_timeout=10,
        )
        with watch(api, key, stream) as ws, other:
            publish(api, events)
            assert positions(receive(ws, 31)) == list(range(31))
            assert positions(receive(other, 31)) == list(range(31))


def test_history_from_the_database_then_live_without_gap_or_repeat(api: Api) -> None:
    key = api.new_key()
    stream = api.create_analysis(key)["analysis_id"]
    store(api, [event(stream, p) for p in range(10)])  # published before anyone watched
    with watch(api, key, stream, after=3) as ws:
        first = receive(ws, 6)
        publish(api, [event(stream, p) for p in range(8, 13)])  # 8, 9 again: skipped
        second = receive(ws, 3)
    assert positions(first + second) == list(range(4, 13))

    # Reconnect after 12: 10-12 were only ever on Kafka, the next ones are live.
    with watch(api, key, stream, after=12) as ws:
        publish(api, [event(stream, p) for p in range(11, 15)])
        third = receive(ws, 2)
    assert positions(third) == [13, 14]


def test_a_gap_in_live_events_is_filled_from_the_database(api: Api) -> None:
    key = api.new_key()
    stream = api.create_analysis(key)["analysis_id"]
    store(api, [event(stream, p) for p in range(3)])
    with watch(api, key, stream) as ws:
        assert positions(receive(ws, 3)) == [0, 1, 2]
        publish(api, [event(stream, 6)])  # 3-5 reach Kafka before this socket subscribed...
        late = threading.Timer(0.3, store, (api, [event(stream, p) for p in range(3, 6)]))
        late.start()  # ...and the database sink a moment later
        try:
            assert positions(receive(ws, 4)) == [3, 4, 5, 6]
        finally:
            late.join()


def test_a_gap_that_never_fills_closes_with_the_resume_position(api: Api) -> None:
    key = api.new_key()
    stream = api.create_analysis(key)["analysis_id"]
    with watch(api, key, stream) as ws:
        publish(api, [event(stream, 0), event(stream, 2)])
        assert positions(receive(ws, 1)) == [0]
        code, reason, _ = closing_code(ws)
    assert (code, reason) == (1011, "events missing; reconnect with after=0")


def test_an_ended_analysis_replays_its_history_and_closes(api: Api) -> None:
    key = api.new_key()
    stream = api.create_analysis(key)["analysis_id"]
    store(api, [event(stream, 0), event(stream, 1), event(stream, 2, "session_summary")])
    with watch(api, key, stream) as ws:
        assert positions(receive(ws, 3)) == [0, 1, 2]
        assert closing_code(ws)[0] == 1000
    with watch(api, key, stream, after=1) as ws:
        assert positions(receive(ws, 1)) == [2]


def test_quiet_sockets_get_heartbeats(api: Api) -> None:
    key = api.new_key()
    stream = api.create_analysis(key)["analysis_id"]
    with watch(api, key, stream) as ws:
        messages = [json.loads(ws.recv(timeout=5)) for _ in range(2)]
    assert messages == [{"type": "heartbeat", "position": -1}] * 2


def test_a_slow_client_is_closed_and_does_not_slow_the_others(api: Api) -> None:
    key = api.new_key()
    stream = api.create_analysis(key)["analysis_id"]
    # Incompressible 64 KiB events, 200 a second (13 MB/s): a few MB fill the socket buffers
    # of a client that never reads; then the server's bounded queue for it (32) overflows.
    blob = base64.b64encode(os.urandom(48 * 1024)).decode()
    events = [event(stream, p, blob=blob) for p in range(300)]
    events.append(event(stream, 300, "session_summary"))
    with (
        watch(api, key, stream, max_queue=1, max_size=None) as slow,
        watch(api, key, stream, max_size=None) as fast,
    ):
        publisher = threading.Thread(target=publish, args=(api, events, 200.0))
        publisher.start()
        try:
            received = receive(fast, 301, timeout_s=60)
            assert closing_code(fast)[0] == 1000
        finally:
            publisher.join()
        code, reason, read = closing_code(slow, timeout_s=60)
    assert positions(received) == list(range(301))
    assert code == 1013
    assert reason == f"client too slow; reconnect with after={read - 1}"
    assert read < 300
