"""``/analyses`` on a real server, Kafka and PostgreSQL: create, read, history, stop, limits."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest

from kinestream import wire
from kinestream.api.server import running_server
from kinestream.connectors.database import write_session_events
from kinestream.events import AnalysisEvent
from kinestream.session import SessionEvent
from kinestream.sports import Sport
from kinestream.store.api_keys import revoke_key
from tests.api.conftest import Api, messages_of, within_one_minute


def key_id(token: str) -> str:
    return token.split("_")[1]


def control_messages(api: Api, stream_id: str) -> list[wire.ControlMessage]:
    return [
        wire.decode_control(m.key(), m.value())
        for m in messages_of(api.brokers, api.topics.control, stream_id)
    ]


def analysis_row(api: Api, analysis_id: str) -> dict[str, Any] | None:
    with psycopg.connect(api.database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT status, api_key_id FROM analyses WHERE analysis_id = %s", (analysis_id,)
        )
        row = cur.fetchone()
    return None if row is None else {"status": row[0], "api_key_id": row[1]}


def analyses_of(api: Api, token: str) -> int:
    with psycopg.connect(api.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM analyses WHERE api_key_id = %s", (key_id(token),)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_create_registers_the_analysis_and_publishes_its_start(api: Api) -> None:
    key = api.new_key()
    with api.client(key) as client:
        response = client.post(
            api.url("/analyses"),
            json={
                "sport": "drop_jump",
                "athlete_height_m": 1.72,
                "box_height_m": 0.4,
                "athlete_id": "athlete-7",
                "options": {"echo_pose": True},
            },
        )
    assert response.status_code == 201, response.text
    body = response.json()
    analysis_id = body["analysis_id"]
    assert body["stream_id"] == analysis_id
    assert body["status"] == "created"
    assert response.headers["location"] == api.url(f"/analyses/{analysis_id}")
    assert body["ingest"]["kafka"] == {
        "frames_topic": api.topics.frames,
        "poses_topic": api.topics.poses,
        "control_topic": api.topics.control,
        "key": analysis_id,
    }
    assert body["ingest"]["websocket"] == api.ws_url(f"/analyses/{analysis_id}/ingest")
    assert body["watch"]["websocket"] == api.ws_url(f"/analyses/{analysis_id}/stream")
    assert body["watch"]["events"] == api.url(f"/analyses/{analysis_id}/events")
    assert body["watch"]["token"].startswith("wt_")
    assert body["webhook"] is None

    [start] = control_messages(api, analysis_id)
    assert isinstance(start, wire.StartMessage)
    assert start == wire.StartMessage(
        stream_id=analysis_id,
        sport=Sport.DROP_JUMP,
        athlete_height_m=1.72,
        box_height_m=0.4,
        athlete_id="athlete-7",
        analysis_id=analysis_id,
        api_key_id=key_id(key),
        started_at_s=start.started_at_s,
        echo_pose=True,
    )
    assert start.started_at_s is not None
    assert analysis_row(api, analysis_id) == {"status": "created", "api_key_id": key_id(key)}

    with api.client(key) as client:
        read = client.get(api.url(f"/analyses/{analysis_id}")).json()
    assert read["status"] == "created"
    assert read["sport"] == "drop_jump"
    assert (read["athlete_height_m"], read["box_height_m"]) == (1.72, 0.4)
    assert read["options"] == {"echo_pose": True}
    assert read["reps"] == []
    assert read["summary"] is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"sport": "drop_jump", "athlete_height_m": 1.8}, "needs a box height"),
        ({"sport": "cmj", "athlete_height_m": 1.8, "box_height_m": 0.3}, "drop jumps only"),
        ({"sport": "drop_jump", "athlete_height_m": 1.8, "box_height_m": 1.6}, "box_height_m"),
        ({"sport": "cmj", "athlete_height_m": 2.7}, "athlete_height_m"),
        ({"sport": "cmj", "athlete_height_m": 0.4}, "athlete_height_m"),
        ({"sport": "cmj"}, "athlete_height_m: Field required"),
        ({"sport": "marathon", "athlete_height_m": 1.8}, "sport"),
        ({"sport": "cmj", "athlete_height_m": "tall"}, "athlete_height_m"),
        # Strict types: a bool is no number, a string no number, a number no bool.
        ({"sport": "cmj", "athlete_height_m": True}, "athlete_height_m: Input should be a"),
        ({"sport": "cmj", "athlete_height_m": "1.8"}, "athlete_height_m: Input should be a"),
        (
            {"sport": "drop_jump", "athlete_height_m": 1.8, "box_height_m": True},
            "box_height_m: Input should be a",
        ),
        ({"sport": "cmj", "athlete_height_m": 1.8, "options": {"echo_pose": 1}}, "echo_pose"),
        ({"sport": "cmj", "athlete_height_m": 1.8, "colour": "red"}, "colour"),
        ({"sport": "cmj", "athlete_height_m": 1.8, "options": {"camera": "x"}}, "options.camera"),
        ({"sport": "cmj", "athlete_height_m": 1.8, "athlete_id": "a\x00b"}, "control characters"),
        ({"sport": "cmj", "athlete_height_m": 1.8, "athlete_id": "a\x07b"}, "control characters"),
        ({"sport": "cmj", "athlete_height_m": 1.8, "athlete_id": ""}, "athlete_id"),
    ],
)
def test_create_refuses_what_the_analysis_would(
    api: Api, body: dict[str, Any], reason: str
) -> None:
    key = api.new_key()
    with api.client(key) as client:
        response = client.post(api.url("/analyses"), json=body)
    assert response.status_code == 422
    assert reason in response.json()["detail"]
    assert analyses_of(api, key) == 0


@pytest.mark.parametrize(
    "content", [b"{not json", b"[]", b'{"sport": "cmj", "athlete_height_m": NaN}', b""]
)
def test_create_refuses_malformed_bodies(api: Api, content: bytes) -> None:
    key = api.new_key()
    with api.client(key) as client:
        response = client.post(
            api.url("/analyses"), content=content, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


def test_a_body_over_the_limit_is_refused_with_413(api: Api) -> None:
    key = api.new_key()
    body = json.dumps({"sport": "cmj", "athlete_height_m": 1.8, "athlete_id": "x" * 70_000})

    def chunks() -> Iterator[bytes]:
        yield body.encode()

    with api.client(key) as client:
        sized = client.post(
            api.url("/analyses"), content=body, headers={"Content-Type": "application/json"}
        )
        chunked = client.post(
            api.url("/analyses"), content=chunks(), headers={"Content-Type": "application/json"}
        )
    for response in (sized, chunked):
        assert response.status_code == 413, response.text
        assert response.json() == {"detail": "request body too large: the limit is 65536 bytes"}, (
            response.text
        )
    assert "content-length" not in chunked.request.headers
    assert analyses_of(api, key) == 0


def test_a_100_mb_body_is_refused_before_it_is_sent(api: Api) -> None:
    # Only the head and a few bytes are sent: the answer comes without the rest.
    host, port = api.server.base_url.removeprefix("http://").split(":")
    head = (
        f"POST /api/v1/analyses HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {api.new_key()}\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000000\r\n\r\n{"
    )
    with socket.create_connection((host, int(port)), timeout=20) as conn:
        conn.sendall(head.encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            chunk = conn.recv(4096)
            assert chunk, answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 "), answer
    assert answer.endswith(b'{"detail":"request body too large: the limit is 65536 bytes"}')


def test_keys_are_required_and_checked(api: Api) -> None:
    key = api.new_key()
    analysis_id = api.create_analysis(key)["analysis_id"]
    url = api.url(f"/analyses/{analysis_id}")
    revoked = api.new_key()
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        revoke_key(conn, key_id(revoked))

    with api.client() as client:
        assert client.get(url, headers={"X-API-Key": key}).status_code == 200
        for headers in (
            {},
            {"Authorization": "Bearer nonsense"},
            {"Authorization": f"Bearer {key[:-1]}x"},
            {"Authorization": f"Bearer ks_{'0' * 16}_{key.split('_', 2)[2]}"},
            {"Authorization": f"Bearer {revoked}"},
            {"Authorization": f"Basic {key}"},
            {"X-API-Key": "ks_"},
        ):
            response = client.get(url, headers=headers)
            assert response.status_code == 401, headers
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["detail"]


def test_another_keys_analysis_is_not_found(api: Api) -> None:
    owner, other = api.new_key(), api.new_key()
    analysis_id = api.create_analysis(owner)["analysis_id"]
    with api.client(other) as client:
        for method, path in (
            ("GET", ""),
            ("GET", "/events"),
            ("POST", "/stop"),
        ):
            response = client.request(method, api.url(f"/analyses/{analysis_id}{path}"))
            assert response.status_code == 404, path
            assert response.json() == {"detail": "analysis not found"}
        unknown = client.get(api.url(f"/analyses/{uuid.uuid4()}"))
        assert unknown.status_code == 404
    assert [type(m) for m in control_messages(api, analysis_id)] == [wire.StartMessage]


def test_rate_limit_holds_across_api_instances(api: Api) -> None:
    key = api.new_key(rate_per_minute=4)
    bystander = api.new_key(rate_per_minute=4)
    with running_server(api.settings) as second, api.client(key) as client:
        urls = [api.url("/webhooks"), f"{second.base_url}/api/v1/webhooks"]
        within_one_minute()
        statuses = [client.get(urls[i % 2]).status_code for i in range(6)]
        refused = client.get(urls[0])
    assert statuses == [200, 200, 200, 200, 429, 429]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json() == {"detail": "rate limit reached: 4 requests per minute for this key"}
    with api.client(bystander) as client:
        assert client.get(api.url("/webhooks")).status_code == 200


def test_concurrent_stream_limit(api: Api) -> None:
    key = api.new_key(max_streams=2)
    first = api.create_analysis(key)["analysis_id"]
    api.create_analysis(key)
    with api.client(key) as client:
        refused = client.post(api.url("/analyses"), json={"sport": "cmj", "athlete_height_m": 1.8})
        assert refused.status_code == 429
        assert "2 active analyses" in refused.json()["detail"]
        # The dataflow ends one (idle timeout, end message): a slot frees up.
        with psycopg.connect(api.database_url, autocommit=True) as conn:
            conn.execute("UPDATE analyses SET status = 'idle' WHERE analysis_id = %s", (first,))
        accepted = client.post(api.url("/analyses"), json={"sport": "cmj", "athlete_height_m": 1.8})
        assert accepted.status_code == 201
    assert analyses_of(api, key) == 3


def _event(stream_id: str, position: int, event_type: str = "metric_update") -> AnalysisEvent:
    payloads: dict[str, dict[str, Any]] = {
        "metric_update": {"phase": "standing", "com_height_m": 0.0, "com_velocity_m_s": 0.0},
        "rep_complete": {
            "rep": 1,
            "sport": "cmj",
            "metrics": {"jump_height_m": 0.41, "flight_time_s": 0.578},
            "quality": {"fps": 60.0},
        },
        "session_summary": {
            "sport": "cmj",
            "reps": 1,
            "frames": 100,
            "dropped_frames": 0,
            "duration_s": 3.3,
            "best": {"jump_height_m": 0.41},
            "reason": "end",
        },
    }
    return AnalysisEvent(
        event_type,  # type: ignore[arg-type]
        stream_id,
        position,
        1_760_000_000.0 + position / 60,
        payloads[event_type],
        position=position,
    )


def _session(analysis: dict[str, Any], token: str) -> wire.StartMessage:
    return wire.StartMessage(
        analysis["stream_id"],
        Sport.CMJ,
        1.8,
        analysis_id=analysis["analysis_id"],
        api_key_id=key_id(token),
    )


def test_event_history_pages_by_position(api: Api) -> None:
    key = api.new_key()
    analysis = api.create_analysis(key)
    stream = analysis["stream_id"]
    events = [_event(stream, p) for p in range(9)] + [_event(stream, 9, "rep_complete")]
    session = _session(analysis, key)
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        write_session_events(conn, [SessionEvent(stream, session, e) for e in events])
    url = api.url(f"/analyses/{analysis['analysis_id']}/events")

    pages: list[list[int]] = []
    after = -1
    with api.client(key) as client:
        while True:
            page = client.get(url, params={"after": after, "limit": 4}).json()
            pages.append([item["position"] for item in page["events"]])
            if page["next"] is None:
                break
            after = page["next"]
        last = page["events"][-1]
        reps = client.get(url, params={"types": "rep_complete,session_summary"}).json()
        repeated = client.get(url, params=[("types", "rep_complete"), ("types", "error")]).json()
        bad = [
            client.get(url, params=params)
            for params in ({"types": "rep_completed"}, {"after": -2}, {"limit": 0}, {"limit": 1001})
        ]

    assert pages == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert last["event"] == {
        "schema_version": 1,
        "event_id": events[9].event_id,
        "event_type": "rep_complete",
        "stream_id": stream,
        "seq": 9,
        "index": 0,
        "position": 9,
        "capture_time_s": pytest.approx(events[9].capture_time_s, abs=1e-6),
        "payload": events[9].payload,
    }
    assert [item["position"] for item in reps["events"]] == [9]
    assert [item["position"] for item in repeated["events"]] == [9]
    assert [r.status_code for r in bad] == [422] * 4
    assert "rep_completed" in bad[0].json()["detail"]


def test_read_shows_reps_and_summary(api: Api) -> None:
    key = api.new_key()
    analysis = api.create_analysis(key)
    stream = analysis["stream_id"]
    session = _session(analysis, key)
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        write_session_events(
            conn,
            [
                SessionEvent(stream, session, None),
                SessionEvent(stream, session, _event(stream, 0, "rep_complete")),
                SessionEvent(stream, session, _event(stream, 1, "session_summary")),
            ],
        )
    with api.client(key) as client:
        read = client.get(api.url(f"/analyses/{analysis['analysis_id']}")).json()
    assert read["status"] == "ended"
    assert read["ended_at"] is not None
    assert [(r["rep"], r["metrics"]["jump_height_m"]) for r in read["reps"]] == [(1, 0.41)]
    assert read["summary"]["best"] == {"jump_height_m": 0.41}
    assert read["created_at"].startswith(analysis["created_at"][:19])


def test_stop_publishes_the_end_message_once(api: Api) -> None:
    key = api.new_key()
    analysis_id = api.create_analysis(key)["analysis_id"]
    url = api.url(f"/analyses/{analysis_id}/stop")
    with api.client(key) as client:
        first = client.post(url, json={"last_seq": 41})
        second = client.post(url)
        bad = client.post(url, json={"last_seq": -1})
    assert first.status_code == second.status_code == 202
    assert first.json()["stop_requested_at"] is not None
    assert second.json()["stop_requested_at"] == first.json()["stop_requested_at"]
    assert bad.status_code == 422
    assert control_messages(api, analysis_id)[1:] == [wire.EndMessage(analysis_id, 41)]


@pytest.mark.parametrize("last_seq", [True, "12", 1.5, -1])
def test_stop_refuses_a_last_seq_that_is_no_sequence_number(api: Api, last_seq: Any) -> None:
    key = api.new_key()
    analysis_id = api.create_analysis(key)["analysis_id"]
    with api.client(key) as client:
        response = client.post(
            api.url(f"/analyses/{analysis_id}/stop"), json={"last_seq": last_seq}
        )
        read = client.get(api.url(f"/analyses/{analysis_id}")).json()
    assert response.status_code == 422, response.text
    assert "last_seq" in response.json()["detail"], response.text
    assert read["stop_requested_at"] is None, read


def test_stop_after_the_end_publishes_nothing(api: Api) -> None:
    key = api.new_key()
    analysis_id = api.create_analysis(key)["analysis_id"]
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE analyses SET status = 'ended', last_seq = 99 WHERE analysis_id = %s",
            (analysis_id,),
        )
    with api.client(key) as client:
        response = client.post(api.url(f"/analyses/{analysis_id}/stop"))
    assert response.status_code == 202
    assert response.json()["status"] == "ended"
    assert response.json()["stop_requested_at"] is None
    assert len(control_messages(api, analysis_id)) == 1


def test_stop_defaults_to_the_last_frame_delivered(api: Api) -> None:
    key = api.new_key()
    analysis_id = api.create_analysis(key)["analysis_id"]
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        conn.execute("UPDATE analyses SET last_seq = 1234 WHERE analysis_id = %s", (analysis_id,))
    with api.client(key) as client:
        assert client.post(api.url(f"/analyses/{analysis_id}/stop")).status_code == 202
    assert control_messages(api, analysis_id)[-1] == wire.EndMessage(analysis_id, 1234)


def test_nothing_is_half_written_when_kafka_is_down(api: Api) -> None:
    key = api.new_key()
    existing = api.create_analysis(key)["analysis_id"]
    settings = replace(api.settings, brokers="127.0.0.1:9", kafka_timeout_s=0.5)
    with running_server(settings) as down, api.client(key) as client:
        created = client.post(
            f"{down.base_url}/api/v1/analyses", json={"sport": "cmj", "athlete_height_m": 1.8}
        )
        stopped = client.post(f"{down.base_url}/api/v1/analyses/{existing}/stop")
    assert created.status_code == 503
    assert "Kafka" in created.json()["detail"]
    assert stopped.status_code == 503
    assert analyses_of(api, key) == 1
    with api.client(key) as client:
        assert client.get(api.url(f"/analyses/{existing}")).json()["stop_requested_at"] is None


def test_webhook_url_makes_a_webhook_of_the_analysis(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KINESTREAM_WEBHOOKS_ALLOW_PRIVATE", "1")
    key = api.new_key()
    created = api.create_analysis(key, webhook_url="http://127.0.0.1:9/hook")
    webhook = created["webhook"]
    assert len(webhook["secret"]) >= 32
    with api.client(key) as client:
        read = client.get(api.url(f"/webhooks/{webhook['webhook_id']}")).json()
        refused = client.post(
            api.url("/analyses"),
            json={"sport": "cmj", "athlete_height_m": 1.8, "webhook_url": "ftp://example.com/x"},
        )
    assert read["analysis_id"] == created["analysis_id"]
    assert read["url"] == "http://127.0.0.1:9/hook"
    assert read["event_types"] == ["rep_complete", "session_summary"]
    assert "secret" not in read
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("webhook_url: ")
    assert analyses_of(api, key) == 1
