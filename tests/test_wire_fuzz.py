"""A time-boxed fuzz of the wire decoders (hypothesis): ``KP`` pose packets, ``KF`` frame
packets with the JPEG decoder behind them, frame and pose messages with their headers, and
control JSON. The property: whatever the bytes, a decoder returns a value or raises its own
documented error (:class:`~kinestream.wire.WireError`, :class:`JpegError`), never anything
else, which would escape the dataflow's step.

Inputs are random bytes, and valid messages with fields drawn from the whole range of their
types (NaN, infinities, negative and huge numbers, odd sizes and flags) or with bytes
flipped, cut or added. ``KINESTREAM_FUZZ_EXAMPLES`` sets the examples per test (default 200:
a few seconds in all); a longer run::

    KINESTREAM_FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/test_wire_fuzz.py \\
        --hypothesis-show-statistics
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
from typing import Any, Final

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinestream import wire
from kinestream.connectors.jpeg import JpegError, decode_jpeg
from tests.hostile_packets import small_jpeg

EXAMPLES: Final = int(os.environ.get("KINESTREAM_FUZZ_EXAMPLES", "200"))
NOW: Final = 1_800_000_000.0

fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

int64 = st.integers(-(2**63), 2**63 - 1)
uint32 = st.integers(0, 2**32 - 1)
uint8 = st.integers(0, 255)
any_float = st.floats(allow_nan=True, allow_infinity=True)
float32 = st.floats(width=32, allow_nan=True, allow_infinity=True)
small_sides = st.sampled_from([0, 1, 16, 480, 640, 4096, 4097, 16384, 16385, 65500, 2**32 - 1])
times = st.one_of(
    any_float,
    st.sampled_from([0.0, -1.0, NOW, NOW + 86_401, NOW * 1000, 1e15, 1e300, 12.5]),
)
JPEG: Final = small_jpeg()


@st.composite
def mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` with a few bytes flipped, cut or added."""
    out = bytearray(valid)
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(["flip", "cut", "add"]))
        at = draw(st.integers(0, max(len(out) - 1, 0)))
        if action == "flip" and out:
            out[at] = draw(uint8)
        elif action == "cut":
            del out[at : at + draw(st.integers(1, 64))]
        else:
            out[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(out)


def _body_with(count: int, at: int, value: float) -> bytes:
    """Landmarks of a standing person with one value replaced."""
    body = np.full(count, 0.5, dtype="<f4")
    if count:
        body[at] = value
    return body.tobytes()


@st.composite
def pose_packets(draw: st.DrawFn) -> bytes:
    flags = draw(st.one_of(st.sampled_from([0, 1, 2, 3]), uint8))
    header = struct.pack(
        "<2sBBqdfII",
        draw(st.sampled_from([b"KP", b"KF", b"\x00\x00"])),
        draw(st.one_of(st.just(1), uint8)),
        flags,
        draw(int64),
        draw(times),
        draw(float32),
        draw(st.one_of(small_sides, uint32)),
        draw(st.one_of(small_sides, uint32)),
    )
    count = (33 * 4 if flags & 1 else 0) + (33 * 3 if flags & 2 else 0)
    body = draw(
        st.one_of(
            st.just(np.full(count, 0.5, dtype="<f4").tobytes()),  # a valid body
            st.tuples(st.integers(0, max(count - 1, 0)), float32).map(
                lambda at_value: _body_with(count, *at_value)
            ),
            st.binary(min_size=count * 4, max_size=count * 4),  # NaN, inf, anything
        )
    )
    return draw(st.one_of(st.just(header + body), mutated(header + body)))


@st.composite
def frame_packets(draw: st.DrawFn) -> bytes:
    header = struct.pack(
        "<2sBqdfII",
        draw(st.sampled_from([b"KF", b"KP"])),
        draw(st.one_of(st.just(1), uint8)),
        draw(int64),
        draw(times),
        draw(float32),
        draw(small_sides),
        draw(small_sides),
    )
    jpeg = draw(
        st.one_of(
            st.just(JPEG),
            mutated(JPEG),
            st.binary(max_size=64).map(lambda b: b"\xff\xd8" + b),
        )
    )
    return draw(st.one_of(st.just(header + jpeg), mutated(header + jpeg)))


header_names = st.sampled_from(
    [
        wire.HEADER_SCHEMA,
        wire.HEADER_SEQ,
        wire.HEADER_TIMESTAMP,
        wire.HEADER_FPS,
        wire.HEADER_WIDTH,
        wire.HEADER_HEIGHT,
        "other",
    ]
)
header_values = st.one_of(
    st.binary(max_size=48),
    st.sampled_from([b"1", b"-5", b"nan", b"inf", b"1e400", b"1e15", b"9" * 30, b"0x10"]),
    st.integers().map(lambda n: str(n).encode()),
    st.floats().map(lambda f: repr(f).encode()),
)
headers = st.lists(st.tuples(header_names, header_values), max_size=8)
keys = st.one_of(
    st.none(),
    st.binary(max_size=300),
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
)

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
CONTROL_FIELDS: Final = [
    "schema_version",
    "stream_id",
    "type",
    "sport",
    "athlete_height_m",
    "box_height_m",
    "athlete_id",
    "analysis_id",
    "api_key_id",
    "started_at_s",
    "echo_pose",
    "last_seq",
]
VALID_START: Final[dict[str, Any]] = {
    "schema_version": 1,
    "stream_id": "s",
    "type": "start",
    "sport": "cmj",
    "athlete_height_m": 1.8,
    "started_at_s": NOW,
}


@st.composite
def control_values(draw: st.DrawFn) -> bytes:
    body = dict(VALID_START)
    for name in draw(st.lists(st.sampled_from(CONTROL_FIELDS), max_size=4)):
        body[name] = draw(st.one_of(json_values, times.filter(lambda t: t == t and abs(t) < 1e308)))
    raw = json.dumps(body).encode()
    return draw(
        st.one_of(
            st.just(raw),
            mutated(raw),
            st.binary(max_size=200),
            st.integers(1, 5000).map(lambda depth: b"[" * depth + b"]" * depth),
        )
    )


@fuzz
@given(pose_packets())
def test_pose_packets_decode_or_raise_wire_errors(value: bytes) -> None:
    with contextlib.suppress(wire.WireError):
        wire.decode_pose_packet(value)


@fuzz
@given(keys, st.one_of(pose_packets(), st.binary(max_size=700)), headers)
def test_pose_messages_decode_or_raise_wire_errors(
    key: bytes | None, value: bytes, message_headers: list[tuple[str, bytes]]
) -> None:
    with contextlib.suppress(wire.WireError):
        wire.decode_pose(key, value, message_headers)


@fuzz
@given(frame_packets())
def test_frame_packets_and_their_jpegs_decode_or_raise_their_errors(value: bytes) -> None:
    try:
        frame = wire.decode_frame_packet("cam-1", value)
    except wire.WireError:
        return
    with contextlib.suppress(JpegError):
        decode_jpeg(frame.jpeg)  # what the dataflow does next with the frame


@fuzz
@given(keys, st.one_of(st.just(JPEG), mutated(JPEG), st.binary(max_size=64)), headers)
def test_frame_messages_decode_or_raise_wire_errors(
    key: bytes | None, value: bytes, message_headers: list[tuple[str, bytes]]
) -> None:
    with contextlib.suppress(wire.WireError):
        wire.decode_frame(key, value, message_headers)


@fuzz
@given(st.one_of(st.just(b"s"), keys), control_values())
def test_control_messages_decode_or_raise_wire_errors(key: bytes | None, value: bytes) -> None:
    with contextlib.suppress(wire.WireError):
        wire.decode_control(key, value)
