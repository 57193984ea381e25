"""Analyses always end, on a real server with no dataflow running: a stop the flow never
confirms and an analysis nothing happens to are ended by the API, their watchers get a final
summary, their webhooks too, and dead analyses free their key's stream slots.

Time passes by back-dating rows (the rules read the database's ``now()``); the API looks
for dead analyses every 0.2 s here.
"""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from kinestream import wire
from tests.api.conftest import Api, close_of, messages_of


@pytest.fixture(scope="module")
def api_settings_overrides() -> dict[str, Any]:
    return {"reaper_interval_s": 0.2, "session_idle_timeout_s": 60.0, "stop_grace_s": 30.0}


def back_date(api: Api, analysis_id: str, column: str, seconds: float) -> None:
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        conn.execute(
            f"UPDATE analyses SET {column} = {column} - make_interval(secs => %s)"
            " WHERE analysis_id = %s",
            (seconds, analysis_id),
        )


def read(api: Api, key: str, analysis_id: str) -> dict[str, Any]:
    with api.client(key) as client:
        response = client.get(api.url(f"/analyses/{analysis_id}"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_until_ended(
    api: Api, key: str, analysis_id: str, timeout_s: float = 20.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body = read(api, key, analysis_id)
        if body["status"] not in ("created", "running") or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def read_to_the_close(ws: ClientConnection, received: list[dict[str, Any]]) -> None:
    """Collect the event messages until the server closes (raises ``ConnectionClosed``)."""
    while True:
        message = json.loads(ws.recv(timeout=20))
        if message["type"] == "event":
            received.append(message)


def test_a_stop_the_flow_never_confirms_ends_the_analysis_and_its_watch(api: Api) -> None:
    key = api.new_key()
    analysis_id = api.create_analysis(key)["analysis_id"]
    received: list[dict[str, Any]] = []
    with connect(
        api.ws_url(f"/analyses/{analysis_id}/stream"),
        additional_headers={"Authorization": f"Bearer {key}"},
        open_timeout=10,
    ) as ws:
        with api.client(key) as client:
            stop = client.post(api.url(f"/analyses/{analysis_id}/stop"))
        assert stop.status_code == 202, stop.text
        back_date(api, analysis_id, "stop_requested_at", 31)
        with pytest.raises(ConnectionClosed) as closed:
            read_to_the_close(ws, received)
    assert close_of(closed.value) == (1000, "analysis ended")
    assert [(m["position"], m["event"]["event_type"]) for m in received] == [
        (0, "session_summary")
    ], received
    assert received[0]["event"]["payload"]["reason"] == "stopped_without_flow"
    body = read(api, key, analysis_id)
    assert (body["status"], body["end_reason"]) == ("ended", "stopped_without_flow"), body
    assert body["summary"] == received[0]["event"]["payload"]
    hooks = [
        wire.decode_webhook(m.key(), m.value())
        for m in messages_of(api.brokers, api.topics.webhooks, analysis_id)
    ]
    assert [(h.analysis_id, h.event.event_type, h.event.event_id) for h in hooks] == [
        (analysis_id, "session_summary", received[0]["event"]["event_id"])
    ]


def test_an_analysis_nothing_happens_to_ends_as_idle(api: Api) -> None:
    key = api.new_key()
    analysis_id = api.create_analysis(key)["analysis_id"]
    assert read(api, key, analysis_id)["status"] == "created"

    back_date(api, analysis_id, "created_at", 61)

    body = wait_until_ended(api, key, analysis_id)
    assert (body["status"], body["end_reason"]) == ("idle", "idle_timeout"), body
    with api.client(key) as client:
        events = client.get(api.url(f"/analyses/{analysis_id}/events")).json()["events"]
    assert [(e["position"], e["event"]["event_type"]) for e in events] == [
        (0, "session_summary")
    ], events
    assert events[0]["event"]["payload"] == body["summary"]
    with api.client(key) as client:
        again = client.post(api.url(f"/analyses/{analysis_id}/stop"))
    assert again.status_code == 202, again.text
    assert again.json()["status"] == "idle"


def test_dead_analyses_free_their_keys_stream_slots(api: Api) -> None:
    key = api.new_key(max_streams=1)
    first = api.create_analysis(key)["analysis_id"]
    with api.client(key) as client:
        refused = client.post(api.url("/analyses"), json={"sport": "cmj", "athlete_height_m": 1.8})
    assert refused.status_code == 429, refused.text
    assert refused.headers.get("retry-after") == "30", refused.headers

    back_date(api, first, "created_at", 61)

    second = api.create_analysis(key)["analysis_id"]
    assert wait_until_ended(api, key, first)["end_reason"] == "idle_timeout"
    assert read(api, key, second)["status"] == "created"
