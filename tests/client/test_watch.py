"""Watching live events on a real server: every position once and in order, across a slow
reader's 1013 and a server restart; to the session_summary; refusals raised at once."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import threading
from dataclasses import replace
from typing import Any

import pytest

from kinestream.client import (
    AnalysisEvent,
    AsyncClient,
    AuthError,
    Client,
    ConnectionFailedError,
    NotFoundError,
    ReconnectPolicy,
)
from tests.api.conftest import Api
from tests.api.test_watch import event, publish, store
from tests.client.conftest import restartable_server, sync_client

QUICK = ReconnectPolicy(max_failures=20, initial_delay_s=0.05, max_delay_s=0.5)


@pytest.fixture(scope="module")
def api_settings_overrides() -> dict[str, Any]:
    return {"relay_queue_size": 32, "heartbeat_s": 0.5, "close_timeout_s": 60.0}


def produce(api: Api, events: list[AnalysisEvent], chunk: int = 20) -> None:
    """What the dataflow does with each batch: the database, then the events topic."""
    for start in range(0, len(events), chunk):
        store(api, events[start : start + chunk])
        publish(api, events[start : start + chunk])


def new_analysis(api: Api, key: str) -> str:
    with sync_client(api, key) as client:
        return client.create_analysis("cmj", 1.8).analysis_id


def same(received: list[AnalysisEvent], expected: list[AnalysisEvent]) -> bool:
    """Equal events (capture times to the microsecond: the database keeps no more)."""
    assert [e.position for e in received] == [e.position for e in expected]
    for got, want in zip(received, expected, strict=True):
        assert got == replace(want, capture_time_s=got.capture_time_s)
        assert got.capture_time_s == pytest.approx(want.capture_time_s, abs=1e-6)
    return True


def reconnections(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "kinestream.client"]


def test_a_slow_reader_is_cut_off_and_resumes_where_it_was(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    key = api.new_key()
    stream = new_analysis(api, key)
    # Incompressible 64 KiB events: a reader that pauses fills the socket buffers, then the
    # server's queue for it (32) overflows and it closes the socket with 1013.
    blob = base64.b64encode(os.urandom(48 * 1024)).decode()
    events = [event(stream, p, blob=blob) for p in range(300)]
    events.append(event(stream, 300, "session_summary"))
    producer = threading.Thread(target=produce, args=(api, events))
    received: list[AnalysisEvent] = []
    with (
        caplog.at_level(logging.INFO, "kinestream.client"),
        Client(api.server.base_url, key, reconnect=QUICK) as client,
        client.watch(stream) as watch,
    ):
        producer.start()
        try:
            for item in watch:
                received.append(item)
                if len(received) == 1:
                    threading.Event().wait(2.0)  # a slow reader
        finally:
            producer.join()
    assert [e.position for e in received] == list(range(301))
    assert same(received, events)
    assert received[-1].event_type == "session_summary"
    assert watch.reconnects >= 1
    assert watch.last_position == 300
    assert any("closed with 1013 (client too slow" in m for m in reconnections(caplog))


def test_the_async_watch_resumes_across_a_server_restart(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    key = api.new_key()
    stream = new_analysis(api, key)
    events = [event(stream, p) for p in range(20)] + [event(stream, 20, "session_summary")]
    produce(api, events[:10])

    with restartable_server(api.settings) as server:

        def restart_then_go_on() -> None:
            server.restart(down_s=1.0)
            produce(api, events[10:], chunk=3)

        restarting = threading.Thread(target=restart_then_go_on)

        async def scenario() -> tuple[list[AnalysisEvent], int]:
            received: list[AnalysisEvent] = []
            async with (
                AsyncClient(server.base_url, key, reconnect=QUICK) as client,
                client.watch(stream) as watch,
            ):
                async for item in watch:
                    received.append(item)
                    if item.position == 9:
                        restarting.start()
            return received, watch.reconnects

        with caplog.at_level(logging.INFO, "kinestream.client"):
            try:
                received, reconnects = asyncio.run(scenario())
            finally:
                restarting.join()
    assert same(received, events)
    assert reconnects == 1
    messages = reconnections(caplog)
    assert "closed with 1012" in messages[0]
    assert all("after=9" in m for m in messages)
    assert any("Connect call failed" in m or "refused" in m.lower() for m in messages[1:])


def test_a_watch_token_replays_an_ended_analysis(api: Api) -> None:
    key = api.new_key()
    with sync_client(api, key) as client:
        created = client.create_analysis("cmj", 1.8)
    stream = created.analysis_id
    warning = {"code": "low_fps", "message": "30 fps"}
    history = [
        event(stream, 0),
        AnalysisEvent("quality_warning", stream, 1, 1.0, warning, index=0, position=1),
        AnalysisEvent("quality_warning", stream, 1, 1.0, warning, index=1, position=2),
        event(stream, 3, "session_summary"),
    ]
    store(api, history)
    with Client(api.server.base_url, None) as viewer:
        everything = list(viewer.watch(stream, token=created.watch.token))
        with viewer.watch(stream, after=1, token=created.watch.token) as watch:
            later = list(watch)
    assert same(everything, history)  # the second warning's index is recovered from its id
    assert everything[2].event_id == history[2].event_id
    assert same(later, history[2:])


def test_refusals_raise_at_once_and_an_unreachable_api_is_given_up(api: Api) -> None:
    stream = new_analysis(api, api.new_key())
    with Client(api.server.base_url, None) as anonymous:
        with pytest.raises(AuthError, match="invalid or expired watch token"):
            next(anonymous.watch(stream, token="wt_forged.signature"))
        with pytest.raises(AuthError, match="missing API key"):
            next(anonymous.watch(stream))
    with sync_client(api, api.new_key()) as other, pytest.raises(NotFoundError):
        next(other.watch(stream))
    policy = ReconnectPolicy(max_failures=3, initial_delay_s=0.01)
    with (
        Client("http://127.0.0.1:9", "ks_x", reconnect=policy) as nowhere,
        pytest.raises(ConnectionFailedError, match="gave up after 3 failures in a row"),
    ):
        next(nowhere.watch(stream))
