"""The ingest WebSocket on a real server and broker: pose and frame packets land on their
topics, keyed and with headers; bad input is answered, not fatal; Kafka's pace is the
client's."""

from __future__ import annotations

import json
import struct
import time
from dataclasses import replace
from typing import Any

import numpy as np
import psycopg
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from kinestream import wire
from kinestream.api.server import running_server
from kinestream.operators.pose import PoseSample
from tests.api.conftest import Api, close_of, headers_of, messages_of

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"
T0 = 1_760_000_000.0


@pytest.fixture(scope="module")
def api_settings_overrides() -> dict[str, Any]:
    return {"max_frame_bytes": 64 * 1024, "max_bad_messages": 5}


def pose(seq: int) -> PoseSample:
    rng = np.random.default_rng(seq)
    landmarks = rng.random((33, 4)).astype(np.float32).astype(np.float64)
    return PoseSample(seq, T0 + seq / 60, 1280, 720, landmarks)


def frame(stream_id: str, seq: int) -> wire.Frame:
    return wire.Frame(stream_id, seq, T0 + seq / 30, 30.0, 640, 480, JPEG)


def ingest(api: Api, key: str, analysis_id: str, query: str = "") -> ClientConnection:
    return connect(
        api.ws_url(f"/analyses/{analysis_id}/ingest{query}"),
        subprotocols=[Subprotocol("kinestream.v1"), Subprotocol(f"bearer.{key}")],
        open_timeout=10,
        max_size=None,
    )


def replies(ws: ClientConnection, count: int, timeout_s: float = 20.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    return [
        json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic()))) for _ in range(count)
    ]


def closed(ws: ClientConnection, timeout_s: float = 20.0) -> tuple[int, str]:
    try:
        while True:
            ws.recv(timeout=timeout_s)
    except ConnectionClosed as closing:
        return close_of(closing)


def test_pose_packets_land_on_the_poses_topic(api: Api) -> None:
    key = api.new_key()
    stream = api.create_analysis(key)["analysis_id"]
    packets = [wire.encode_pose_value(pose(seq), fps=60.0) for seq in range(10)]
    with ingest(api, key, stream) as ws:
        for packet in packets:
            ws.send(packet)
        acks = replies(ws, 10)
    assert sorted(ack["seq"] for ack in acks) == list(range(10))
    assert {(ack["type"], ack["kind"]) for ack in acks} == {("ack", "pose")}

    messages = messages_of(api.brokers, api.topics.poses, stream)
    assert [m.value() for m in messages] == packets
    for seq, message in enumerate(messages):
        sample = pose(seq)
        headers = headers_of(message)
        assert headers == wire.frame_headers(seq, sample.timestamp_s, 60.0, 1280, 720)
        decoded = wire.decode_pose(message.key(), message.value(), headers)
        assert decoded.seq == seq
        assert decoded.landmarks is not None
        assert sample.landmarks is not None
        np.testing.assert_array_equal(decoded.landmarks, sample.landmarks)


def test_frame_packets_land_on_the_frames_topic(api: Api) -> None:
    key = api.new_key()
    stream = api.create_analysis(key)["analysis_id"]
    frames = [frame(stream, seq) for seq in range(3)]
    with ingest(api, key, stream) as ws:
        for item in frames:
            ws.send(wire.encode_frame_packet(item))
        acks = replies(ws, 3)
    assert sorted((a["seq"], a["kind"]) for a in acks) == [(0, "frame"), (1, "frame"), (2, "frame")]
    messages = messages_of(api.brokers, api.topics.frames, stream)
    decoded = [wire.decode_frame(m.key(), m.value(), headers_of(m)) for m in messages]
    assert decoded == frames
    assert headers_of(messages[0]) == wire.encode_frame(frames[0])[2]


def test_bad_messages_are_answered_and_the_socket_stays_open(api: Api) -> None:
    key = api.new_key()
    stream = api.create_analysis(key)["analysis_id"]
    oversize_frame = wire.encode_frame_packet(replace(frame(stream, 9), jpeg=JPEG * 40))
    with ingest(api, key, stream) as ws:
        ws.send(b"hello")
        ws.send("a text message")
        ws.send(b"KP\x01")
        ws.send(b"KP" + b"\x00" * 5000)
        errors = replies(ws, 4)
        # five in a row would close the socket; a good packet resets the count
        ws.send(wire.encode_pose_value(pose(0)))
        ack = replies(ws, 1)[0]
        ws.send(oversize_frame)
        errors += replies(ws, 1)
    assert [(e["type"], e["code"]) for e in errors] == [
        ("error", "bad_packet"),
        ("error", "not_binary"),
        ("error", "bad_packet"),
        ("error", "too_large"),
        ("error", "too_large"),
    ]
    assert all(e["message"] and e["seq"] is None for e in errors)
    assert "b'KP' (pose) or b'KF' (frame)" in errors[0]["message"]
    assert "5002 bytes (limit 4096)" in errors[3]["message"]
    assert f"{len(oversize_frame)} bytes (limit 65536)" in errors[4]["message"]
    assert ack == {"type": "ack", "seq": 0, "kind": "pose"}
    assert [m.value() for m in messages_of(api.brokers, api.topics.poses, stream)] == [
        wire.encode_pose_value(pose(0))
    ]


def test_negative_sequence_numbers_are_refused(api: Api) -> None:
    key = api.new_key()
    stream = api.create_analysis(key)["analysis_id"]
    # The packets' seq is a little-endian int64 after b"KP", version, flags (pose) or after
    # b"KF", version (frame): see kinestream.wire.
    pose_packet = bytearray(wire.encode_pose_value(pose(0)))
    struct.pack_into("<q", pose_packet, 4, -5)
    frame_packet = bytearray(wire.encode_frame_packet(frame(stream, 0)))
    struct.pack_into("<q", frame_packet, 3, -1)
    with ingest(api, key, stream) as ws:
        ws.send(bytes(pose_packet))
        ws.send(bytes(frame_packet))
        answers = replies(ws, 2)
    assert [(a["type"], a["code"]) for a in answers] == [("error", "bad_packet")] * 2, answers
    assert "sequence number -5" in answers[0]["message"], answers
    assert "sequence number -1" in answers[1]["message"], answers
    assert messages_of(api.brokers, api.topics.poses, stream) == []
    assert messages_of(api.brokers, api.topics.frames, stream) == []


def test_repeated_garbage_closes_the_socket(api: Api) -> None:
    key = api.new_key()
    stream = api.create_analysis(key)["analysis_id"]
    with ingest(api, key, stream) as ws:
        for _ in range(5):
            ws.send(b"\x00" * 64)
        assert [r["code"] for r in replies(ws, 5)] == ["bad_packet"] * 5
        assert closed(ws) == (1007, "5 invalid messages in a row")


def test_a_message_beyond_the_socket_limit_closes_it(api: Api) -> None:
    key = api.new_key()
    stream = api.create_analysis(key)["analysis_id"]
    with ingest(api, key, stream) as ws:
        ws.send(b"KF" + b"\x00" * (api.settings.ws_max_size + 1))
        assert closed(ws)[0] == 1009


def test_end_on_close_ends_the_analysis_after_the_last_frame(api: Api) -> None:
    key = api.new_key()
    stream = api.create_analysis(key)["analysis_id"]
    with ingest(api, key, stream, "?end_on_close=1") as ws:
        for seq in (0, 1, 2, 4, 3):
            ws.send(wire.encode_pose_value(pose(seq)))
        replies(ws, 5)
    deadline = time.monotonic() + 20
    while True:
        control = messages_of(api.brokers, api.topics.control, stream)
        if len(control) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert wire.decode_control(control[-1].key(), control[-1].value()) == wire.EndMessage(stream, 4)
    with psycopg.connect(api.database_url) as conn:
        row = conn.execute(
            "SELECT last_seq, stop_requested_at IS NOT NULL FROM analyses WHERE analysis_id = %s",
            (stream,),
        ).fetchone()
    assert row == (4, True)


def test_a_stop_closes_the_socket(api: Api) -> None:
    key = api.new_key()
    stream = api.create_analysis(key)["analysis_id"]
    with ingest(api, key, stream) as ws, api.client(key) as client:
        ws.send(wire.encode_pose_value(pose(0)))
        replies(ws, 1)
        assert client.post(api.url(f"/analyses/{stream}/stop")).status_code == 202
        deadline = time.monotonic() + 10
        closing = None
        for seq in range(1, 100):
            try:
                ws.send(wire.encode_pose_value(pose(seq)))
                replies(ws, 1)
            except ConnectionClosed as error:
                closing = close_of(error)
                break
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert closing == (1000, "analysis stopped")


def test_a_stop_closes_a_quiet_socket(api: Api) -> None:
    key = api.new_key()
    stream = api.create_analysis(key)["analysis_id"]
    with ingest(api, key, stream) as ws, api.client(key) as client:
        assert client.post(api.url(f"/analyses/{stream}/stop")).status_code == 202
        assert closed(ws) == (1000, "analysis stopped")


def test_the_client_waits_while_kafka_does_not_take_its_packets(api: Api) -> None:
    key = api.new_key()
    stream = api.create_analysis(key)["analysis_id"]
    settings = replace(
        api.settings, brokers="127.0.0.1:9", kafka_timeout_s=1.0, ingest_max_in_flight=2
    )
    with (
        running_server(settings) as down,
        connect(f"{down.ws_url}/api/v1/analyses/{stream}/ingest?token={key}") as ws,
    ):
        started = time.monotonic()
        for seq in range(3):
            ws.send(wire.encode_pose_value(pose(seq)))
        answers = replies(ws, 4)
        waited = time.monotonic() - started
    assert answers[0] == {"type": "backpressure", "in_flight": 2}
    assert [(a["type"], a["code"], a["seq"]) for a in answers[1:]] == [
        ("error", "kafka_unavailable", 0),
        ("error", "kafka_unavailable", 1),
        ("error", "kafka_unavailable", 2),
    ]
    assert waited >= 2.0  # the third packet was read only once a slot freed up
