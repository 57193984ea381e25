"""Wire formats: round trips and rejection of bad input."""

from __future__ import annotations

import dataclasses
import json
import struct
from collections.abc import Callable

import numpy as np
import pytest

from kinestream import wire
from kinestream.events import AnalysisEvent
from kinestream.operators.pose import PoseSample
from kinestream.sports import Sport

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32 + b"\xff\xd9"


def _sample(seq: int = 7, *, world: bool = True, person: bool = True) -> PoseSample:
    rng = np.random.default_rng(seq)
    landmarks = rng.random((33, 4)).astype(np.float32).astype(np.float64) if person else None
    world_lm = rng.random((33, 3)).astype(np.float32).astype(np.float64) if world else None
    return PoseSample(seq, 1.25 + seq / 30, 1280, 720, landmarks, world_lm)


@pytest.mark.parametrize(("world", "person"), [(True, True), (False, True), (False, False)])
def test_pose_round_trip(world: bool, person: bool) -> None:
    sample = _sample(world=world, person=person)
    key, value, headers = wire.encode_pose("cam-1", sample, fps=30.0)
    assert key == b"cam-1"
    decoded = wire.decode_pose(key, value, headers)
    assert decoded.seq == sample.seq
    assert decoded.timestamp_s == sample.timestamp_s
    assert (decoded.image_width, decoded.image_height) == (1280, 720)
    if person:
        assert decoded.landmarks is not None
        assert sample.landmarks is not None
        np.testing.assert_array_equal(decoded.landmarks, sample.landmarks)
    else:
        assert decoded.landmarks is None
    if world:
        assert decoded.world is not None
        assert sample.world is not None
        np.testing.assert_array_equal(decoded.world, sample.world)
    else:
        assert decoded.world is None


def test_pose_is_compact() -> None:
    _, value, _ = wire.encode_pose("s", _sample(world=False))
    assert len(value) < 33 * 4 * 4 + 40


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "too short"),
        (b"KP", "too short"),
        (b"XX" + b"\x00" * 40, "b'KP'"),
        (struct.pack("<2sBBqdfII", b"KP", 9, 0, 1, 0.0, 30.0, 10, 10), "version"),
        (struct.pack("<2sBBqdfII", b"KP", 1, 8, 1, 0.0, 30.0, 10, 10), "flags"),
        (struct.pack("<2sBBqdfII", b"KP", 1, 1, 1, 0.0, 30.0, 10, 10), "expected"),
        (struct.pack("<2sBBqdfII", b"KP", 1, 0, 1, float("nan"), 30.0, 10, 10), "finite"),
        (struct.pack("<2sBBqdfII", b"KP", 1, 0, 1, 0.0, 30.0, 0, 10), "size"),
    ],
)
def test_pose_rejects_bad_values(value: bytes | None, message: str) -> None:
    with pytest.raises(wire.WireError, match=message):
        wire.decode_pose(b"s", value, [])


def test_pose_packet_carries_its_fps_and_out_of_range_values_are_wire_errors() -> None:
    packet = wire.decode_pose_packet(wire.encode_pose_value(_sample(), 59.94))
    assert packet.fps == pytest.approx(59.94, rel=1e-6)
    assert packet.sample.seq == _sample().seq
    with pytest.raises(wire.WireError, match="sequence number") as refused:
        wire.encode_pose_value(dataclasses.replace(_sample(), seq=2**63))
    assert refused.value.code == "bad_seq"


def test_pose_rejects_missing_key_and_mismatched_seq() -> None:
    key, value, headers = wire.encode_pose("s", _sample())
    with pytest.raises(wire.WireError, match="no key"):
        wire.decode_pose(None, value, headers)
    with pytest.raises(wire.WireError, match="UTF-8"):
        wire.decode_pose(b"\xff\xfe", value, headers)
    bad = [(n, b"99" if n == wire.HEADER_SEQ else v) for n, v in headers]
    with pytest.raises(wire.WireError, match="ks-seq"):
        wire.decode_pose(key, value, bad)
    bad = [(n, b"2" if n == wire.HEADER_SCHEMA else v) for n, v in headers]
    with pytest.raises(wire.WireError, match="schema version"):
        wire.decode_pose(key, value, bad)


def test_frame_round_trip_and_bad_input() -> None:
    frame = wire.Frame("cam-2", 3, 0.1, 30.0, 640, 480, JPEG)
    key, value, headers = wire.encode_frame(frame)
    assert wire.decode_frame(key, value, headers) == frame
    assert wire.header_seq(headers) == 3
    with pytest.raises(wire.WireError, match="JPEG"):
        wire.decode_frame(key, b"PNG...", headers)
    with pytest.raises(wire.WireError, match="missing header 'ks-width'"):
        wire.decode_frame(key, value, [h for h in headers if h[0] != wire.HEADER_WIDTH])
    with pytest.raises(wire.WireError, match="not a valid int"):
        wire.decode_frame(
            key, value, [(n, b"x" if n == wire.HEADER_SEQ else v) for n, v in headers]
        )
    with pytest.raises(wire.WireError, match="missing header 'ks-schema'"):
        wire.decode_frame(key, value, headers[1:])
    with pytest.raises(wire.WireError):
        wire.encode_frame(wire.Frame("cam-2", 3, 0.1, 30.0, 640, 480, b"nope"))


def test_control_round_trip() -> None:
    start = wire.StartMessage(
        stream_id="s1",
        sport=Sport.DROP_JUMP,
        athlete_height_m=1.8,
        box_height_m=0.3,
        athlete_id="ath-9",
        analysis_id="8a0c8f0e-0000-4000-8000-000000000001",
        api_key_id="k1",
        started_at_s=1_700_000_000.5,
        echo_pose=True,
    )
    assert wire.decode_control(*wire.encode_control(start)) == start
    minimal = wire.StartMessage("s2", Sport.CMJ, 1.7)
    assert wire.decode_control(*wire.encode_control(minimal)) == minimal
    assert (
        minimal.effective_analysis_id
        == wire.StartMessage("s2", Sport.CMJ, 1.6).effective_analysis_id
    )
    end = wire.EndMessage("s1", last_seq=41)
    assert wire.decode_control(*wire.encode_control(end)) == end


def _control(body: dict[str, object]) -> bytes:
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"", "empty"),
        (b"{not json", "JSON"),
        (b"[1]", "object"),
        (_control({"schema_version": 2, "stream_id": "s", "type": "end"}), "schema version"),
        (_control({"schema_version": 1, "stream_id": "t", "type": "end"}), "match its key"),
        (_control({"schema_version": 1, "stream_id": "s", "type": "pause"}), "unknown control"),
        (_control({"schema_version": 1, "stream_id": "s", "type": "start"}), "lacks 'sport'"),
        (
            _control(
                {
                    "schema_version": 1,
                    "stream_id": "s",
                    "type": "start",
                    "sport": "golf",
                    "athlete_height_m": 1.8,
                }
            ),
            "golf",
        ),
        (
            _control(
                {
                    "schema_version": 1,
                    "stream_id": "s",
                    "type": "start",
                    "sport": "cmj",
                    "athlete_height_m": 18,
                }
            ),
            "plausible",
        ),
        (
            _control(
                {
                    "schema_version": 1,
                    "stream_id": "s",
                    "type": "start",
                    "sport": "cmj",
                    "athlete_height_m": "1.8",
                }
            ),
            "number",
        ),
        (
            _control(
                {
                    "schema_version": 1,
                    "stream_id": "s",
                    "type": "start",
                    "sport": "cmj",
                    "athlete_height_m": 1.8,
                    "analysis_id": "nope",
                }
            ),
            "UUID",
        ),
        (
            _control({"schema_version": 1, "stream_id": "s", "type": "end", "last_seq": 1.5}),
            "integer",
        ),
        (
            _control(
                {
                    "schema_version": 1,
                    "stream_id": "s",
                    "type": "start",
                    "sport": "cmj",
                    "athlete_height_m": 1.8,
                    "echo_pose": "yes",
                }
            ),
            "true or false",
        ),
    ],
)
def test_control_rejects_bad_input(value: bytes, message: str) -> None:
    with pytest.raises(wire.WireError, match=message):
        wire.decode_control(b"s", value)


def _event() -> AnalysisEvent:
    return AnalysisEvent(
        "rep_complete", "s1", 120, 4.0, {"rep": 1, "metrics": {"jump_height_m": 0.31}}
    )


def test_event_round_trip_and_bad_input() -> None:
    event = _event()
    key, value, headers = wire.encode_event(event)
    assert dict(headers)[wire.HEADER_EVENT_TYPE] == b"rep_complete"
    assert wire.decode_event(key, value) == event
    with pytest.raises(wire.WireError, match="match its key"):
        wire.decode_event(b"other", value)
    tampered = json.loads(value)
    tampered["seq"] = 121
    with pytest.raises(wire.WireError, match="event_id"):
        wire.decode_event(key, json.dumps(tampered).encode())
    with pytest.raises(wire.WireError, match="unknown event type"):
        wire.decode_event(key, json.dumps({**tampered, "event_type": "x"}).encode())
    with pytest.raises(wire.WireError, match="JSON-encodable"):
        wire.encode_event(AnalysisEvent("error", "s1", 1, 0.0, {"v": float("nan")}))


def test_webhook_round_trip_and_bad_input() -> None:
    item = wire.WebhookEvent(_event(), "a-1", "key-1", Sport.CMJ, athlete_id="ath")
    key, value = wire.encode_webhook(item)
    assert wire.decode_webhook(key, value) == item
    body = json.loads(value)
    without_key = {k: v for k, v in body.items() if k != "api_key_id"}
    with pytest.raises(wire.WireError, match="lacks 'api_key_id'"):
        wire.decode_webhook(key, json.dumps(without_key).encode())
    with pytest.raises(wire.WireError, match="not an object"):
        wire.decode_webhook(key, json.dumps({**body, "event": 3}).encode())
    with pytest.raises(wire.WireError, match="invalid webhook event"):
        wire.decode_webhook(key, json.dumps({**body, "sport": "curling"}).encode())
    with pytest.raises(wire.WireError, match="match its key"):
        wire.decode_webhook(b"other-stream", value)
    per_frame = AnalysisEvent("metric_update", "s1", 3, 0.0, {})
    with pytest.raises(wire.WireError, match="not delivered to webhooks"):
        wire.WebhookEvent(per_frame, "a-1", "key-1", Sport.CMJ)
    with pytest.raises(wire.WireError, match="API key"):
        wire.WebhookEvent(_event(), "a-1", "", Sport.CMJ)


def test_dead_letter_round_trip_and_bad_input() -> None:
    letter = wire.DeadLetter(
        delivery_id="3f91f354-ca83-5cad-be26-b1cfb52bc882",
        webhook_id="92dea09b-0521-44ab-a464-0a0f9f8265da",
        stream_id="s1",
        event_id=_event().event_id,
        event_type="rep_complete",
        attempts=8,
        last_error="HTTP 500: boom",
        last_status_code=500,
        body={"delivery_id": "3f91f354-ca83-5cad-be26-b1cfb52bc882", "event": {"rep": 1}},
    )
    key, value = wire.encode_dead_letter(letter)
    assert key == b"s1"
    assert wire.decode_dead_letter(key, value) == letter
    timed_out = dataclasses.replace(letter, last_status_code=None, last_error="timed out")
    assert wire.decode_dead_letter(*wire.encode_dead_letter(timed_out)) == timed_out
    body = json.loads(value)
    changes: list[tuple[dict[str, object], str]] = [
        ({"schema_version": 9}, "unsupported dead letter schema version 9"),
        ({"attempts": "8"}, "expected an integer"),
        ({"attempts": 0}, "at least one attempt"),
        ({"last_error": None}, "expected a string"),
        ({"last_status_code": 500.5}, "expected an integer"),
        ({"webhook_id": "hook-1"}, "webhook_id must be a UUID"),
        ({"event_type": "metric_update"}, "not delivered to webhooks"),
        ({"body": [1]}, "body is not an object"),
    ]
    for change, message in changes:
        with pytest.raises(wire.WireError, match=message):
            wire.decode_dead_letter(key, json.dumps({**body, **change}).encode())
    without = {k: v for k, v in body.items() if k != "delivery_id"}
    with pytest.raises(wire.WireError, match="lacks 'delivery_id'"):
        wire.decode_dead_letter(key, json.dumps(without).encode())
    with pytest.raises(wire.WireError, match="match its key"):
        wire.decode_dead_letter(b"other-stream", value)


def test_topics_defaults_and_overrides() -> None:
    assert wire.Topics().poses == "kinestream.poses"
    topics = wire.Topics.from_env({"KINESTREAM_TOPIC_EVENTS": "ev"}, prefix="t1.")
    assert topics.events == "ev"
    assert topics.frames == "t1.kinestream.frames"
    assert wire.Topics.prefixed("x.").webhooks == "x.kinestream.webhooks"
    assert wire.Topics().deadletter == "kinestream.deadletter"
    assert wire.Topics.from_env({"KINESTREAM_TOPIC_DEADLETTER": "dl"}).deadletter == "dl"


def test_quarantined_message_round_trip() -> None:
    key, value, headers = wire.encode_pose("cam-1", _sample(), 30.0)
    letter = wire.QuarantinedMessage(
        "worker_died",
        "the worker died while processing this message",
        key,
        value,
        tuple(headers),
        topic="kinestream.poses",
        partition=3,
        offset=1234,
    )
    out_key, out_value, out_headers = wire.encode_quarantined(letter)
    assert (out_key, out_value) == (key, value)  # the message as it was, to send again
    assert (wire.HEADER_DL_OFFSET, b"1234") in out_headers
    assert wire.decode_quarantined(out_key, out_value, out_headers) == letter
    row = wire.QuarantinedMessage("database_row", "x" * 5000, b"s1", b"{}")
    decoded = wire.decode_quarantined(*wire.encode_quarantined(row))
    assert (decoded.topic, decoded.partition, decoded.offset) == (None, None, None)
    assert len(decoded.error) == wire.MAX_DL_ERROR_CHARS
    with pytest.raises(wire.WireError, match="ks-dl-reason"):
        wire.decode_quarantined(b"s1", b"{}", [])


def _frame(seq: int = 3) -> wire.Frame:
    return wire.Frame("cam-1", seq, 12.5, 59.94, 1920, 1080, JPEG)


def test_frame_packet_round_trip() -> None:
    frame = _frame()
    packet = wire.encode_frame_packet(frame)
    assert packet.startswith(b"KF")
    assert packet.endswith(JPEG)
    decoded = wire.decode_frame_packet("cam-1", packet)
    assert decoded.fps == pytest.approx(59.94)  # a float32 on the wire
    assert decoded == wire.Frame("cam-1", 3, 12.5, decoded.fps, 1920, 1080, JPEG)
    assert wire.decode_frame_packet("cam-1", wire.encode_frame_packet(decoded)) == decoded


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "too short"),
        (b"KF\x01", "too short"),
        (b"KP" + wire.encode_frame_packet(_frame())[2:], "b'KF'"),
        (b"KF\x09" + wire.encode_frame_packet(_frame())[3:], "version"),
        (wire.encode_frame_packet(_frame())[:31] + b"not a jpeg", "JPEG"),
        (wire.encode_frame_packet(_frame())[:31], "JPEG"),
        (struct.pack("<2sBqdfII", b"KF", 1, 0, 0.0, 30.0, 0, 10) + JPEG, "image size"),
        (struct.pack("<2sBqdfII", b"KF", 1, 0, float("nan"), 30.0, 10, 10) + JPEG, "timestamp"),
        (struct.pack("<2sBqdfII", b"KF", 1, 0, 0.0, -1.0, 10, 10) + JPEG, "fps"),
    ],
)
def test_frame_packet_rejects(value: bytes | None, message: str) -> None:
    with pytest.raises(wire.WireError, match=message):
        wire.decode_frame_packet("cam-1", value)


@pytest.mark.parametrize(
    "frame",
    [
        wire.Frame("cam-1", 0, 0.0, 30.0, 640, 480, b"not a jpeg"),
        wire.Frame("cam-1", 2**63, 0.0, 30.0, 640, 480, JPEG),
        wire.Frame("cam-1", 0, 0.0, 1e300, 640, 480, JPEG),
    ],
)
def test_frame_packet_refuses_to_encode(frame: wire.Frame) -> None:
    with pytest.raises(wire.WireError):
        wire.encode_frame_packet(frame)


NOW = 1_800_000_000.0


def _kp(seq: int = 1, timestamp_s: float = NOW, fps: float = 30.0, size: int = 640) -> bytes:
    return struct.pack("<2sBBqdfII", b"KP", 1, 0, seq, timestamp_s, fps, size, size)


def _kf(seq: int = 1, timestamp_s: float = NOW, width: int = 640, height: int = 480) -> bytes:
    return struct.pack("<2sBqdfII", b"KF", 1, seq, timestamp_s, 30.0, width, height) + JPEG


@pytest.mark.parametrize(
    ("timestamp_s", "accepted"),
    [
        (NOW, True),
        (NOW + 3600.0, True),  # a device clock an hour ahead
        (NOW + wire.MAX_CLOCK_AHEAD_S - 1.0, True),
        (12.5, True),  # a relative clock (the flow warns once)
        (0.0, True),
        (NOW + wire.MAX_CLOCK_AHEAD_S + 1.0, False),
        (NOW * 1000, False),  # milliseconds
        (1e15, False),  # microseconds: beyond PostgreSQL's timestamps
        (1e300, False),
        (-1.0, False),
        (float("inf"), False),
        (float("nan"), False),
    ],
)
def test_capture_times_are_checked_at_the_edge(timestamp_s: float, accepted: bool) -> None:
    frame_headers = [
        (n, repr(timestamp_s).encode() if n == wire.HEADER_TIMESTAMP else v)
        for n, v in wire.frame_headers(1, NOW, 30.0, 640, 480)
    ]
    decoders: list[Callable[[], object]] = [
        lambda: wire.decode_pose_packet(_kp(timestamp_s=timestamp_s), now_s=NOW),
        lambda: wire.decode_pose(b"s", _kp(timestamp_s=timestamp_s), [], now_s=NOW),
        lambda: wire.decode_frame_packet("s", _kf(timestamp_s=timestamp_s), now_s=NOW),
        lambda: wire.decode_frame(b"s", JPEG, frame_headers, now_s=NOW),
    ]
    for decode in decoders:
        if accepted:
            decode()
        else:
            with pytest.raises(wire.WireError, match="capture timestamp") as refused:
                decode()
            assert refused.value.code == "bad_capture_time"


def test_sequence_numbers_must_not_be_negative() -> None:
    for decode in (
        lambda: wire.decode_pose_packet(_kp(seq=-5), now_s=NOW),
        lambda: wire.decode_frame_packet("s", _kf(seq=-5), now_s=NOW),
        lambda: wire.decode_control(
            b"s", _control({"schema_version": 1, "stream_id": "s", "type": "end", "last_seq": -1})
        ),
    ):
        with pytest.raises(wire.WireError) as refused:
            decode()
        assert refused.value.code == "bad_seq"
    headers = [
        (n, str(2**63).encode() if n == wire.HEADER_SEQ else v)
        for n, v in wire.frame_headers(1, NOW, 30.0, 640, 480)
    ]
    with pytest.raises(wire.WireError, match="sequence number") as refused:
        wire.decode_frame(b"s", JPEG, headers, now_s=NOW)
    assert refused.value.code == "bad_seq"


@pytest.mark.parametrize(
    "decode",
    [
        lambda: wire.decode_frame_packet("s", _kf(width=20000, height=20000), now_s=NOW),
        lambda: wire.decode_frame_packet("s", _kf(width=4097, height=4096), now_s=NOW),
        lambda: wire.decode_pose_packet(_kp(size=wire.MAX_IMAGE_SIDE_PX + 1), now_s=NOW),
        lambda: wire.decode_frame(
            b"s",
            JPEG + b"\x00" * wire.MAX_JPEG_BYTES,
            wire.frame_headers(1, NOW, 30, 64, 48),
            now_s=NOW,
        ),
        lambda: wire.decode_key(b"s" * (wire.MAX_STREAM_ID_BYTES + 1)),
        lambda: wire.decode_control(b"s", b" " * (wire.MAX_CONTROL_BYTES + 1)),
        lambda: wire.StartMessage("s", Sport.CMJ, 1.8, athlete_id="a" * 257),
    ],
)
def test_sizes_are_bounded(decode: Callable[[], object]) -> None:
    with pytest.raises(wire.WireError) as refused:
        decode()
    assert refused.value.code == "too_large"


def test_frame_rate_and_landmarks_must_be_sane() -> None:
    with pytest.raises(wire.WireError, match="fps"):
        wire.decode_pose_packet(_kp(fps=1e6), now_s=NOW)
    value = bytearray(wire.encode_pose_value(_sample(world=False)))
    value[-4:] = struct.pack("<f", float("nan"))
    with pytest.raises(wire.WireError, match="finite"):
        wire.decode_pose_packet(bytes(value))


_START: dict[str, object] = {
    "schema_version": 1,
    "stream_id": "s",
    "type": "start",
    "sport": "cmj",
    "athlete_height_m": 1.8,
}


@pytest.mark.parametrize(
    "text",
    ["a\x00b", "tab\there", "\x7f", "\x9b[31m", "\ud800"],
)
def test_ids_are_text_a_database_and_a_log_can_take(text: str) -> None:
    with pytest.raises(wire.WireError):
        wire.StartMessage("s", Sport.CMJ, 1.8, athlete_id=text)
    with pytest.raises(wire.WireError):
        wire.encode_key(text)
    with pytest.raises(wire.WireError):
        wire.decode_key(text.encode("utf-8", "surrogatepass"))
    with pytest.raises(wire.WireError):
        wire.decode_control(b"s", _control({**_START, "api_key_id": text}))
    assert wire.decode_key("athlète-7 ✓".encode()) == "athlète-7 ✓"


@pytest.mark.parametrize(
    ("value", "code", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "too_large", "limit"),
        (b"[" * 50_000 + b"]" * 10_000, "bad_message", "nested too deeply"),
        (b'{"schema_version": ' + b"1" * 5000 + b"}", "bad_message", "JSON"),  # 5000 digits
        (_control({**_START, "started_at_s": 1e15}), "bad_capture_time", "capture timestamp"),
        (_control({**_START, "athlete_id": {"nested": True}}), "bad_message", "a string"),
    ],
)
def test_hostile_control_messages_are_wire_errors(value: bytes, code: str, message: str) -> None:
    with pytest.raises(wire.WireError, match=message) as refused:
        wire.decode_control(b"s", value)
    assert refused.value.code == code


def _with_value(value: bytes, at: int, fmt: str, item: float | bytes) -> bytes:
    out = bytearray(value)
    struct.pack_into(fmt, out, at, item)
    return bytes(out)


def _decode_one(
    key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
) -> PoseSample | wire.WireError:
    try:
        return wire.decode_pose(key, value, headers, now_s=NOW)
    except wire.WireError as exc:
        return exc


def _header(headers: list[tuple[str, bytes]], name: str, raw: bytes) -> list[tuple[str, bytes]]:
    return [(n, raw if n == name else v) for n, v in headers]


def test_poses_decoded_together_as_one_by_one() -> None:
    """``decode_poses`` gives each message what ``decode_pose`` gives it (the sample, or
    the same error), and the stacked landmarks of those with a person, in order."""
    messages = [wire.encode_pose(f"s{seq}", _sample(seq, world=False), 30.0) for seq in range(12)]
    nan_at = wire._POSE_HEADER.size + 4 * 13  # a landmark's y
    key, value, headers = messages[1]
    messages[1] = (key, _with_value(value, nan_at, "<f", float("inf")), headers)
    key, value, headers = messages[2]
    messages[2] = (key, value, _header(headers, wire.HEADER_SEQ, b"99"))
    key, value, headers = messages[3]  # both: the landmarks' error comes first
    messages[3] = (
        key,
        _with_value(value, nan_at, "<f", float("nan")),
        _header(headers, wire.HEADER_SCHEMA, b"2"),
    )
    key, value, headers = messages[5]
    messages[5] = (key, _with_value(value, 0, "<2s", b"XX"), headers)
    key, value, headers = messages[6]
    messages[6] = (key, _with_value(value, 12, "<d", -1.0), headers)  # capture time
    messages[7] = wire.encode_pose("w", _sample(7, world=True), 30.0)  # world landmarks
    messages[8] = wire.encode_pose("n", _sample(8, world=False, person=False), 30.0)
    key, value, headers = messages[9]
    messages[9] = (key, value, _header(headers, wire.HEADER_SEQ, b" 9"))
    inputs: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = list(messages)
    inputs[4] = (None, messages[4][1], messages[4][2])
    decoded, landmarks = wire.decode_poses(inputs, now_s=NOW)
    assert len(decoded) == len(inputs)
    expected = []
    for (key_or_none, value_or_none, headers), got in zip(inputs, decoded, strict=True):
        one = _decode_one(key_or_none, value_or_none, headers)
        if isinstance(one, wire.WireError):
            assert isinstance(got, wire.WireError)
            assert (str(got), got.code) == (str(one), one.code)
            continue
        assert isinstance(got, PoseSample)
        assert (got.seq, got.timestamp_s, got.image_width, got.image_height) == (
            one.seq,
            one.timestamp_s,
            one.image_width,
            one.image_height,
        )
        for ours, theirs in ((got.landmarks, one.landmarks), (got.world, one.world)):
            assert (ours is None) == (theirs is None)
            if ours is not None and theirs is not None:
                np.testing.assert_array_equal(ours, theirs)
        if one.landmarks is not None:
            expected.append(one.landmarks)
    assert [type(d).__name__ for d in decoded].count("PoseSample") == 6  # 0, 7, 8, 9, 10, 11
    np.testing.assert_array_equal(landmarks, np.stack(expected))


def test_poses_decoded_together_without_any() -> None:
    decoded, landmarks = wire.decode_poses([])
    assert decoded == []
    assert landmarks.shape == (0, 33, 4)
