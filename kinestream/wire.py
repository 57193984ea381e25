"""Every Kafka topic kinestream uses, and the format of every message on it.

This module is the one source of truth for bytes on the wire: producers (cameras, the API,
the benchmark) and the dataflow import their encoders and decoders from here. Every
decoder raises :class:`WireError` (and nothing else) with a readable message and a reason
``code`` on input it cannot accept; it never returns a half-decoded value. The dataflow
turns that into an ``error`` event of the stream, with the same code.

Every value is checked at this edge, so nothing a producer sends can overflow the
analysis or the database further on (the limits are the constants below):

- capture times (and a start's ``started_at_s``) are finite Unix seconds from 0 to
  :data:`MAX_CLOCK_AHEAD_S` ahead of this machine's clock (code ``bad_capture_time``). That
  window lies inside PostgreSQL's timestamp range and Python's (years 1-9999), refuses
  milli- or microseconds sent as seconds, and leaves room for a device clock that is off
  by a time zone. Times before 2001 are a relative clock, accepted with a warning from the
  flow (``relative_clock``);
- sequence numbers are 0 to 2**63 - 1 (code ``bad_seq``);
- sizes are bounded (code ``too_large``): stream ids :data:`MAX_STREAM_ID_BYTES`, other
  ids :data:`MAX_ID_CHARS`, control messages :data:`MAX_CONTROL_BYTES`, JPEG images
  :data:`MAX_JPEG_BYTES`, image sides :data:`MAX_IMAGE_SIDE_PX`, a frame's pixels
  :data:`MAX_FRAME_PIXELS` (the JPEG's own header is checked against it again before
  decoding, :mod:`kinestream.connectors.jpeg`), frame rates :data:`MAX_FPS`;
- landmarks are finite; ids are UTF-8 text without control characters (code
  ``bad_message``, like every other malformed message).

Topics (names configurable, see :class:`Topics`; defaults in parentheses). Every message is
keyed by the stream id (UTF-8), so one stream's messages stay in one partition, in order.

``frames`` (``kinestream.frames``)
    Value: one JPEG image. Headers (all required, ASCII decimal values):
    ``ks-schema`` (:data:`WIRE_SCHEMA_VERSION`), ``ks-seq`` (frame sequence number, int),
    ``ks-ts`` (capture timestamp, Unix seconds, float), ``ks-fps`` (nominal frame rate, float),
    ``ks-width`` / ``ks-height`` (image size in pixels, int).

``poses`` (``kinestream.poses``)
    Value: one pose sample in a compact little-endian binary layout (self-contained; the
    headers above are also set, for routing and inspection, and checked when present)::

        magic      2 bytes  b"KP"
        version    uint8    WIRE_SCHEMA_VERSION
        flags      uint8    bit 0: landmarks present; bit 1: world landmarks present
        seq        int64
        timestamp  float64  capture time, Unix seconds
        fps        float32  nominal frame rate (0 when unknown)
        width      uint32   image width, pixels
        height     uint32   image height, pixels
        landmarks  float32 x 33 x 4   (only with flag bit 0): x, y, z, visibility
        world      float32 x 33 x 3   (only with flag bit 1): metres

``KF`` frame packets (no topic of their own)
    One JPEG frame and its facts in one binary message, as a browser or phone sends it to
    the API's ingest WebSocket, which republishes it on ``frames``; little-endian::

        magic      2 bytes  b"KF"
        version    uint8    WIRE_SCHEMA_VERSION
        seq        int64
        timestamp  float64  capture time, Unix seconds
        fps        float32  nominal frame rate (0 when unknown)
        width      uint32   image width, pixels
        height     uint32   image height, pixels
        jpeg       the rest: the JPEG image (starts with FF D8)

``control`` (``kinestream.control``)
    Value: UTF-8 JSON object with ``schema_version``, ``type`` and ``stream_id``.
    ``type: "start"`` (:class:`StartMessage`) opens an analysis: ``sport``,
    ``athlete_height_m``, optional ``box_height_m``, ``athlete_id``, ``analysis_id``,
    ``api_key_id`` (the API key that owns the analysis), ``started_at_s`` (Unix seconds),
    ``echo_pose`` (bool, default false: each ``metric_update`` carries its frame's pose, for
    drawing the skeleton live), ``belt_speed_m_s`` (running on a treadmill: its belt speed;
    present only when given).
    ``type: "end"`` (:class:`EndMessage`) closes it; optional ``last_seq`` tells the flow
    which frame is the last, so an end that overtakes the stream's last poses (they travel
    on another topic) waits for them.

``events`` (``kinestream.events``)
    Value: :meth:`kinestream.events.AnalysisEvent.to_json`. Headers ``ks-schema`` (the
    event schema version) and ``ks-event-type``.

``webhooks`` (``kinestream.webhooks``)
    Value: UTF-8 JSON :class:`WebhookEvent`: an event that webhooks may subscribe to (every
    type but the per-frame ``metric_update`` and ``metric_updates``) of a session owned by an
    API key, with the session facts a subscription filters on (``analysis_id``,
    ``api_key_id``, ``sport``, ``athlete_id``).
    The flow cannot know the registered webhooks; the dispatcher (``kinestream webhooks``)
    matches each event against them and makes one delivery per matching webhook.

``deadletter`` (``kinestream.deadletter``)
    What the dataflow set aside so that it could go on (:class:`QuarantinedMessage`): an
    input message a worker died on, quarantined when the flow restarted (reason
    ``worker_died``), or an output row the database refused (``database_row``). Key and
    value are the message's own (for a database row: the stream id and the event's JSON),
    so it can be inspected or sent again; its headers are the original ones plus
    ``ks-dl-reason``, ``ks-dl-error`` (what went wrong, UTF-8 text) and, for an input
    message, where it was: ``ks-dl-topic``, ``ks-dl-partition``, ``ks-dl-offset``.

``webhooks.dead`` (``kinestream.webhooks.dead``)
    Deliveries the dispatcher gave up on after its last try (see the dispatcher's module).
    Value: UTF-8 JSON :class:`DeadLetter` with ``schema_version``, ``delivery_id``,
    ``webhook_id``, ``stream_id``, ``event_id`` (UUIDs but the stream id), ``event_type``,
    ``attempts`` (int), ``last_error`` (str), ``last_status_code`` (int | null: the last
    HTTP status, null when no response came) and ``body`` (the JSON object that was POSTed).
"""

from __future__ import annotations

import json
import math
import os
import struct
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import numpy as np

from kinestream.events import EVENT_TYPES, PER_FRAME_TYPES, AnalysisEvent
from kinestream.operators.pose import NUM_LANDMARKS, FloatArray, PoseSample, checked_sample
from kinestream.sports import Sport

WIRE_SCHEMA_VERSION: Final = 1

DEFAULT_FRAMES_TOPIC: Final = "kinestream.frames"
DEFAULT_POSES_TOPIC: Final = "kinestream.poses"
DEFAULT_CONTROL_TOPIC: Final = "kinestream.control"
DEFAULT_EVENTS_TOPIC: Final = "kinestream.events"
DEFAULT_WEBHOOKS_TOPIC: Final = "kinestream.webhooks"
DEFAULT_DEAD_LETTERS_TOPIC: Final = "kinestream.webhooks.dead"
DEFAULT_DEADLETTER_TOPIC: Final = "kinestream.deadletter"

HEADER_SCHEMA: Final = "ks-schema"
HEADER_SEQ: Final = "ks-seq"
HEADER_TIMESTAMP: Final = "ks-ts"
HEADER_FPS: Final = "ks-fps"
HEADER_WIDTH: Final = "ks-width"
HEADER_HEIGHT: Final = "ks-height"
HEADER_EVENT_TYPE: Final = "ks-event-type"

Headers = Sequence[tuple[str, bytes]]
"""Kafka message headers as confluent-kafka and Bytewax pass them."""

_POSE_MAGIC: Final = b"KP"
_POSE_HEADER = struct.Struct("<2sBBqdfII")
_POSE_CHECKED_HEADERS: Final = (HEADER_SCHEMA, HEADER_SEQ)
_SCHEMA_TEXT: Final = str(WIRE_SCHEMA_VERSION).encode()
_FLAG_LANDMARKS: Final = 1
_FLAG_WORLD: Final = 2
_LANDMARKS_BYTES: Final = NUM_LANDMARKS * 4 * 4
_WORLD_BYTES: Final = NUM_LANDMARKS * 3 * 4
_ANALYSIS_NAMESPACE: Final = uuid.UUID("0b7f3d1e-5c2a-4e61-8f0d-9a4b2c6e1d37")

MAX_CLOCK_AHEAD_S: Final = 86_400.0
"""How far ahead of this machine's clock a capture time may be: a day, more than any time
zone mistake (14 h) or drifting device clock, far less than milliseconds sent as seconds."""
MAX_SEQ: Final = 2**63 - 1
"""Sequence numbers are int64 (the ``KP``/``KF`` layout and the database's bigint)."""
MAX_STREAM_ID_BYTES: Final = 256
MAX_ID_CHARS: Final = 256
"""Athlete and API key ids in a start message."""
MAX_CONTROL_BYTES: Final = 64 * 1024
MAX_JPEG_BYTES: Final = 16 * 1024 * 1024
MAX_IMAGE_SIDE_PX: Final = 16_384
"""Widest or tallest image a pose or frame may claim (16K; 8K video is 7680x4320)."""
MAX_FRAME_PIXELS: Final = 4096 * 4096
"""Largest frame the dataflow decodes: 16.8 megapixels, 48 MiB as RGB (4K video is 8.3 MP).
MediaPipe works on a 256x256 input whatever the frame's size, so more pixels add nothing
but decoding time and memory (a 20000x20000 JPEG took 7.8 s and 2.5 GiB)."""
MAX_FPS: Final = 1000.0

BAD_MESSAGE: Final = "bad_message"
BAD_CAPTURE_TIME: Final = "bad_capture_time"
BAD_SEQ: Final = "bad_seq"
TOO_LARGE: Final = "too_large"


class WireError(ValueError):
    """A message that does not follow its topic's wire format.

    ``code`` says which rule it broke: :data:`BAD_CAPTURE_TIME`, :data:`BAD_SEQ`,
    :data:`TOO_LARGE` or :data:`BAD_MESSAGE` (anything else).
    """

    def __init__(self, message: str, code: str = BAD_MESSAGE) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Topics:
    """The names of kinestream's topics."""

    frames: str = DEFAULT_FRAMES_TOPIC
    poses: str = DEFAULT_POSES_TOPIC
    control: str = DEFAULT_CONTROL_TOPIC
    events: str = DEFAULT_EVENTS_TOPIC
    webhooks: str = DEFAULT_WEBHOOKS_TOPIC
    dead_letters: str = DEFAULT_DEAD_LETTERS_TOPIC
    """Webhook deliveries the dispatcher gave up on."""
    deadletter: str = DEFAULT_DEADLETTER_TOPIC
    """Messages the dataflow set aside (:class:`QuarantinedMessage`)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, prefix: str = "") -> Topics:
        """Read overrides from ``KINESTREAM_TOPIC_FRAMES`` … ``KINESTREAM_TOPIC_DEADLETTER``.

        ``prefix`` is put in front of every default name (a test's private namespace).
        """
        env = os.environ if environ is None else environ

        def pick(name: str, default: str) -> str:
            return env.get(f"KINESTREAM_TOPIC_{name.upper()}", prefix + default)

        return cls(
            frames=pick("frames", DEFAULT_FRAMES_TOPIC),
            poses=pick("poses", DEFAULT_POSES_TOPIC),
            control=pick("control", DEFAULT_CONTROL_TOPIC),
            events=pick("events", DEFAULT_EVENTS_TOPIC),
            webhooks=pick("webhooks", DEFAULT_WEBHOOKS_TOPIC),
            dead_letters=pick("dead_letters", DEFAULT_DEAD_LETTERS_TOPIC),
            deadletter=pick("deadletter", DEFAULT_DEADLETTER_TOPIC),
        )

    @classmethod
    def prefixed(cls, prefix: str) -> Topics:
        """Return the default names with ``prefix`` in front of each."""
        return cls.from_env({}, prefix)


# --- keys and headers ---------------------------------------------------------------------


def encode_key(stream_id: str) -> bytes:
    """Encode a stream id as a message key."""
    if not stream_id:
        raise WireError("stream id must not be empty")
    if stream_id.isprintable():  # no control characters, no lone surrogates: only the size
        key = stream_id.encode()
        if len(key) <= MAX_STREAM_ID_BYTES:
            return key
    return check_stream_id(stream_id).encode()


def decode_key(key: bytes | None) -> str:
    """Decode a message key into a stream id."""
    if not key:
        raise WireError("message has no key (the stream id)")
    if len(key) > MAX_STREAM_ID_BYTES:
        raise WireError(f"stream id of {len(key)} bytes (limit {MAX_STREAM_ID_BYTES})", TOO_LARGE)
    try:
        stream_id = key.decode()
    except UnicodeDecodeError as exc:
        raise WireError("message key is not UTF-8") from exc
    if stream_id.isprintable():  # text decoded from UTF-8 of a checked length: nothing else
        return stream_id
    return check_stream_id(stream_id)


def check_stream_id(stream_id: str) -> str:
    """Return ``stream_id`` if it is a usable stream id (see :func:`_check_text`)."""
    if len(stream_id.encode("utf-8", "surrogatepass")) > MAX_STREAM_ID_BYTES:
        raise WireError(f"stream id longer than {MAX_STREAM_ID_BYTES} bytes", TOO_LARGE)
    return check_text(stream_id, "stream id")


def check_text(value: str, what: str) -> str:
    """Refuse text that the database cannot store or that would garble logs and URLs:
    control characters (NUL among them) and lone surrogates."""
    if not value.isprintable() and any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise WireError(f"{what} contains control characters")
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        raise WireError(f"{what} is not valid Unicode text") from exc
    return value


def _header_map(headers: Headers | None) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name, value in headers or ():
        out[name] = value if isinstance(value, bytes) else bytes(value or b"")
    return out


def _header_number(headers: Mapping[str, bytes], name: str, kind: type[int] | type[float]) -> Any:
    if name not in headers:
        raise WireError(f"missing header {name!r}")
    raw = headers[name]
    if len(raw) > 40:  # more digits than any int64 or float needs
        raise WireError(f"header {name!r} is not a valid {kind.__name__}")
    try:
        value = kind(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError(f"header {name!r} is not a valid {kind.__name__}") from exc
    return value  # floats may be inf or nan: the checks of the value they carry refuse them


def _check_schema(headers: Mapping[str, bytes], *, required: bool) -> None:
    if HEADER_SCHEMA not in headers and not required:
        return
    version = _header_number(headers, HEADER_SCHEMA, int)
    if version != WIRE_SCHEMA_VERSION:
        raise WireError(f"unsupported wire schema version {version}")


def frame_headers(
    seq: int, timestamp_s: float, fps: float, width: int, height: int
) -> list[tuple[str, bytes]]:
    """Return the headers every frame and pose message carries."""
    return [
        (HEADER_SCHEMA, str(WIRE_SCHEMA_VERSION).encode()),
        (HEADER_SEQ, str(int(seq)).encode()),
        (HEADER_TIMESTAMP, repr(float(timestamp_s)).encode()),
        (HEADER_FPS, repr(float(fps)).encode()),
        (HEADER_WIDTH, str(int(width)).encode()),
        (HEADER_HEIGHT, str(int(height)).encode()),
    ]


def header_seq(headers: Headers | None) -> int | None:
    """Return the ``ks-seq`` header when present and valid (for error reporting)."""
    try:
        seq = int(_header_number(_header_map(headers), HEADER_SEQ, int))
    except WireError:
        return None
    return seq if 0 <= seq <= MAX_SEQ else None


# --- frames --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    """One camera frame of one stream, still JPEG-encoded."""

    stream_id: str
    seq: int
    timestamp_s: float
    fps: float
    width: int
    height: int
    jpeg: bytes
    produced_s: float | None = None
    """When Kafka got the message (its timestamp, Unix seconds), set by the flow's decode
    step; not sent (``None``: unknown). The pose stage measures how far behind live it is."""


def encode_frame(frame: Frame) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Return the key, value and headers of a frame message."""
    _check_frame(frame.seq, frame.timestamp_s, frame.fps, frame.width, frame.height, frame.jpeg)
    headers = frame_headers(frame.seq, frame.timestamp_s, frame.fps, frame.width, frame.height)
    return encode_key(frame.stream_id), frame.jpeg, headers


def decode_frame(
    key: bytes | None, value: bytes | None, headers: Headers | None, *, now_s: float | None = None
) -> Frame:
    """Decode a frame message (``now_s``: this machine's clock, for the capture time check)."""
    stream_id = decode_key(key)
    h = _header_map(headers)
    _check_schema(h, required=True)
    if not value or not value.startswith(b"\xff\xd8"):
        raise WireError("frame value is not a JPEG image")
    frame = Frame(
        stream_id=stream_id,
        seq=_header_number(h, HEADER_SEQ, int),
        timestamp_s=_header_number(h, HEADER_TIMESTAMP, float),
        fps=_header_number(h, HEADER_FPS, float),
        width=_header_number(h, HEADER_WIDTH, int),
        height=_header_number(h, HEADER_HEIGHT, int),
        jpeg=bytes(value),
    )
    _check_frame(
        frame.seq, frame.timestamp_s, frame.fps, frame.width, frame.height, frame.jpeg, now_s
    )
    return frame


def check_capture_time(timestamp_s: float, now_s: float | None = None) -> None:
    """Refuse a capture time outside [0, now + :data:`MAX_CLOCK_AHEAD_S`] (Unix seconds)."""
    if not math.isfinite(timestamp_s):
        raise WireError("capture timestamp must be finite", BAD_CAPTURE_TIME)
    if timestamp_s < 0.0:
        raise WireError(
            f"capture timestamp {timestamp_s!r} is negative (send Unix seconds)", BAD_CAPTURE_TIME
        )
    now = time.time() if now_s is None else now_s
    if timestamp_s > now + MAX_CLOCK_AHEAD_S:
        raise WireError(
            f"capture timestamp {timestamp_s!r} is more than {MAX_CLOCK_AHEAD_S:.0f} s ahead of "
            f"this machine's clock ({now:.0f}); send Unix seconds, not milli- or microseconds",
            BAD_CAPTURE_TIME,
        )


def _check_sample(
    seq: int, timestamp_s: float, fps: float, width: int, height: int, now_s: float | None = None
) -> None:
    """The checks every pose and frame passes: sequence number, capture time, frame rate
    and image size."""
    if not 0 <= seq <= MAX_SEQ:
        raise WireError(f"sequence number {seq} is not between 0 and 2**63 - 1", BAD_SEQ)
    check_capture_time(timestamp_s, now_s)
    if not (math.isfinite(fps) and 0.0 <= fps <= MAX_FPS):
        raise WireError(f"fps must be between 0 and {MAX_FPS:g}, got {fps!r}")
    if width <= 0 or height <= 0:
        raise WireError(f"image size must be positive, got {width}x{height}")
    if width > MAX_IMAGE_SIDE_PX or height > MAX_IMAGE_SIDE_PX:
        raise WireError(
            f"image size {width}x{height} exceeds {MAX_IMAGE_SIDE_PX} pixels a side", TOO_LARGE
        )


def _check_frame(
    seq: int,
    timestamp_s: float,
    fps: float,
    width: int,
    height: int,
    jpeg: bytes,
    now_s: float | None = None,
) -> None:
    if not jpeg.startswith(b"\xff\xd8"):
        raise WireError("frame is not a JPEG image")
    _check_sample(seq, timestamp_s, fps, width, height, now_s)
    if width * height > MAX_FRAME_PIXELS:
        raise WireError(
            f"frame of {width}x{height} pixels exceeds the limit of {MAX_FRAME_PIXELS} (4096x4096)",
            TOO_LARGE,
        )
    if len(jpeg) > MAX_JPEG_BYTES:
        raise WireError(f"JPEG of {len(jpeg)} bytes (limit {MAX_JPEG_BYTES})", TOO_LARGE)


# --- poses ---------------------------------------------------------------------------------


_LANDMARKS_PACKET_BYTES: Final = _POSE_HEADER.size + _LANDMARKS_BYTES
_HEADER_FLOATS: Final = _POSE_HEADER.size // 4
_FINITE_ERROR: Final = "pose landmarks must be finite numbers"
_UNDECIDED: Final = WireError("undecided")


def encode_pose(
    stream_id: str, sample: PoseSample, fps: float = 0.0
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Return the key, value and headers of a pose message."""
    return (
        encode_key(stream_id),
        encode_pose_value(sample, fps),
        frame_headers(sample.seq, sample.timestamp_s, fps, sample.image_width, sample.image_height),
    )


def encode_pose_value(sample: PoseSample, fps: float = 0.0) -> bytes:
    """Encode a pose sample in the binary layout described in the module docstring."""
    _check_sample(sample.seq, sample.timestamp_s, fps, sample.image_width, sample.image_height)
    flags = (_FLAG_LANDMARKS if sample.landmarks is not None else 0) | (
        _FLAG_WORLD if sample.world is not None else 0
    )
    try:
        header = _POSE_HEADER.pack(
            _POSE_MAGIC,
            WIRE_SCHEMA_VERSION,
            flags,
            sample.seq,
            sample.timestamp_s,
            fps,
            sample.image_width,
            sample.image_height,
        )
    except (struct.error, OverflowError) as exc:
        raise WireError(f"pose does not fit the KP packet: {exc}") from exc
    parts = [header]
    if sample.landmarks is not None:
        parts.append(np.ascontiguousarray(sample.landmarks, dtype="<f4").tobytes())
    if sample.world is not None:
        parts.append(np.ascontiguousarray(sample.world, dtype="<f4").tobytes())
    return b"".join(parts)


def decode_pose(
    key: bytes | None, value: bytes | None, headers: Headers | None, *, now_s: float | None = None
) -> PoseSample:
    """Decode a pose message; the stream id is the key (see :func:`decode_key`)."""
    decode_key(key)
    sample = decode_pose_packet(value, now_s=now_s).sample
    _check_pose_headers(headers, sample.seq)
    return sample


class PosePacket(NamedTuple):
    """A decoded pose packet: the sample and the nominal frame rate it carries."""

    sample: PoseSample
    fps: float


def decode_pose_value(value: bytes | None) -> PoseSample:
    """Decode the binary pose layout."""
    return decode_pose_packet(value).sample


def decode_pose_packet(value: bytes | None, *, now_s: float | None = None) -> PosePacket:
    """Decode the binary pose layout, with the frame rate it carries (0 when unknown).

    ``now_s`` is this machine's clock (default: now), for the capture time check."""
    if value is None or len(value) < _POSE_HEADER.size:
        raise WireError("pose message is too short")
    magic, version, flags, seq, timestamp_s, fps, width, height = _POSE_HEADER.unpack_from(value)
    if magic != _POSE_MAGIC:
        raise WireError("pose message does not start with b'KP'")
    if version != WIRE_SCHEMA_VERSION:
        raise WireError(f"unsupported pose schema version {version}")
    if flags & ~(_FLAG_LANDMARKS | _FLAG_WORLD):
        raise WireError(f"unknown pose flags {flags:#x}")
    expected = _POSE_HEADER.size
    expected += _LANDMARKS_BYTES if flags & _FLAG_LANDMARKS else 0
    expected += _WORLD_BYTES if flags & _FLAG_WORLD else 0
    if len(value) != expected:
        raise WireError(f"pose message has {len(value)} bytes, expected {expected}")
    _check_sample(seq, timestamp_s, float(fps), width, height, now_s)
    landmarks = world = None
    if expected > _POSE_HEADER.size:
        body = np.frombuffer(value, dtype="<f4", offset=_POSE_HEADER.size).astype(np.float64)
        # One check for both arrays: float32 values sum to at most ~1e41 in float64, so the
        # sum is finite exactly when every value is (a NaN or an infinity carries through).
        if not math.isfinite(np.add.reduce(body)):
            raise WireError(_FINITE_ERROR)
        offset = 0
        if flags & _FLAG_LANDMARKS:
            landmarks = body[: NUM_LANDMARKS * 4].reshape(NUM_LANDMARKS, 4)
            offset = NUM_LANDMARKS * 4
        if flags & _FLAG_WORLD:
            world = body[offset:].reshape(NUM_LANDMARKS, 3)
    # Checked above as PoseSample checks its values (size, time, the arrays' shapes).
    return PosePacket(checked_sample(seq, timestamp_s, width, height, landmarks, world), float(fps))


def decode_poses(
    messages: Sequence[tuple[bytes | None, bytes | None, Headers | None]],
    *,
    now_s: float | None = None,
) -> tuple[list[PoseSample | WireError], FloatArray]:
    """Decode many pose messages, ``(key, value, headers)`` each, at once.

    Returns, for each message, the sample :func:`decode_pose` returns for it or the
    :class:`WireError` it raises; and the landmarks of the samples that have them, in
    order, stacked (n, 33, 4). The landmarks of a batch are converted and checked in one
    array (each such sample's ``landmarks`` is a row of it) and the clock is read once:
    a few microseconds a message less than :func:`decode_pose` each.
    """
    now = time.time() if now_s is None else now_s
    out: list[PoseSample | WireError] = []
    rows: list[tuple[int, int, float, int, int, WireError | None]] = []
    values: list[bytes] = []
    others = False  # samples decoded one by one, landmarks and all (world landmarks)
    for key, value, headers in messages:
        try:
            if value is None or len(value) != _LANDMARKS_PACKET_BYTES:
                sample = decode_pose(key, value, headers, now_s=now)
                others = others or sample.landmarks is not None
                out.append(sample)
                continue
            decode_key(key)
            magic, version, flags, seq, timestamp_s, fps, width, height = _POSE_HEADER.unpack_from(
                value
            )
            if magic != _POSE_MAGIC or version != WIRE_SCHEMA_VERSION or flags != _FLAG_LANDMARKS:
                sample = decode_pose(key, value, headers, now_s=now)  # its error, or the sample
                others = others or sample.landmarks is not None
                out.append(sample)
                continue
            _check_sample(seq, timestamp_s, float(fps), width, height, now)
        except WireError as exc:
            out.append(exc)
            continue
        try:
            _check_pose_headers(headers, seq)
            refused = None
        except WireError as exc:  # after the landmarks' check, as in decode_pose
            refused = exc
        rows.append((len(out), seq, timestamp_s, width, height, refused))
        values.append(value)
        out.append(_UNDECIDED)  # the landmarks' check decides, below
    landmarks = np.empty((0, NUM_LANDMARKS, 4))
    if rows:
        packed = np.frombuffer(b"".join(values), dtype="<f4").reshape(len(rows), -1)
        landmarks = packed[:, _HEADER_FLOATS:].astype(np.float64).reshape(-1, NUM_LANDMARKS, 4)
        finite: list[bool] = np.isfinite(landmarks).all(axis=(1, 2)).tolist()
        kept: list[bool] = []
        for (at, seq, timestamp_s, width, height, refused), ok, row in zip(
            rows, finite, landmarks, strict=True
        ):
            if not ok:
                out[at] = WireError(_FINITE_ERROR)
            elif refused is not None:
                out[at] = refused
            else:
                out[at] = checked_sample(seq, timestamp_s, width, height, row)
            kept.append(ok and refused is None)
        if not all(kept):
            landmarks = landmarks[kept]
    if others:
        found = [s.landmarks for s in out if isinstance(s, PoseSample) and s.landmarks is not None]
        landmarks = np.stack(found)
    return out, landmarks


def _check_pose_headers(headers: Headers | None, seq: int) -> None:
    """The header checks of :func:`decode_pose`: schema version and ``ks-seq`` (the last
    of each, when present)."""
    schema = seq_text = None
    for name, raw in headers or ():
        if name == HEADER_SEQ:
            seq_text = raw
        elif name == HEADER_SCHEMA:
            schema = raw
    if (schema is None or schema == _SCHEMA_TEXT) and (
        seq_text is None or seq_text == str(seq).encode()
    ):
        return  # what frame_headers writes
    h = _header_map([(name, raw) for name, raw in headers or () if name in _POSE_CHECKED_HEADERS])
    if h.get(HEADER_SCHEMA, _SCHEMA_TEXT) != _SCHEMA_TEXT:
        _check_schema(h, required=False)
    seq_raw = h.get(HEADER_SEQ)
    if (
        seq_raw is not None
        and seq_raw != str(seq).encode()
        and _header_number(h, HEADER_SEQ, int) != seq
    ):
        raise WireError("ks-seq header does not match the pose's sequence number")


# --- frame packets -------------------------------------------------------------------------

_FRAME_PACKET_MAGIC: Final = b"KF"
_FRAME_PACKET_HEADER = struct.Struct("<2sBqdfII")


def encode_frame_packet(frame: Frame) -> bytes:
    """Encode a frame as one ``KF`` packet (layout in the module docstring)."""
    _check_frame(frame.seq, frame.timestamp_s, frame.fps, frame.width, frame.height, frame.jpeg)
    try:
        header = _FRAME_PACKET_HEADER.pack(
            _FRAME_PACKET_MAGIC,
            WIRE_SCHEMA_VERSION,
            frame.seq,
            frame.timestamp_s,
            frame.fps,
            frame.width,
            frame.height,
        )
    except (struct.error, OverflowError) as exc:
        raise WireError(f"frame does not fit the KF packet: {exc}") from exc
    return header + frame.jpeg


def decode_frame_packet(
    stream_id: str, value: bytes | None, *, now_s: float | None = None
) -> Frame:
    """Decode a ``KF`` packet into a frame of ``stream_id`` (``now_s``: this machine's
    clock, for the capture time check)."""
    if not stream_id:
        raise WireError("stream id must not be empty")
    check_stream_id(stream_id)
    if value is None or len(value) < _FRAME_PACKET_HEADER.size:
        raise WireError("frame packet is too short")
    magic, version, seq, timestamp_s, fps, width, height = _FRAME_PACKET_HEADER.unpack_from(value)
    if magic != _FRAME_PACKET_MAGIC:
        raise WireError("frame packet does not start with b'KF'")
    if version != WIRE_SCHEMA_VERSION:
        raise WireError(f"unsupported frame packet version {version}")
    jpeg = bytes(value[_FRAME_PACKET_HEADER.size :])
    if not jpeg.startswith(b"\xff\xd8"):
        raise WireError("frame packet does not hold a JPEG image")
    _check_frame(seq, timestamp_s, float(fps), width, height, jpeg, now_s)
    return Frame(stream_id, seq, timestamp_s, float(fps), width, height, jpeg)


# --- control -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartMessage:
    """Opens the analysis of one stream; also the session facts the outputs need."""

    stream_id: str
    sport: Sport
    athlete_height_m: float
    box_height_m: float | None = None
    athlete_id: str | None = None
    analysis_id: str | None = None
    api_key_id: str | None = None
    started_at_s: float | None = None
    echo_pose: bool = False
    belt_speed_m_s: float | None = None

    def __post_init__(self) -> None:
        if not self.stream_id:
            raise WireError("stream id must not be empty")
        check_stream_id(self.stream_id)
        if self.belt_speed_m_s is not None and not (
            math.isfinite(self.belt_speed_m_s) and 0.0 < self.belt_speed_m_s <= 12.0
        ):
            raise WireError(f"belt speed {self.belt_speed_m_s!r} m/s is not plausible")
        for name in ("athlete_id", "api_key_id"):
            value = getattr(self, name)
            if value is not None:
                if len(value) > MAX_ID_CHARS:
                    raise WireError(f"{name} longer than {MAX_ID_CHARS} characters", TOO_LARGE)
                check_text(value, name)
        if self.started_at_s is not None:
            check_capture_time(self.started_at_s)
        if not (math.isfinite(self.athlete_height_m) and 0.5 < self.athlete_height_m < 3.0):
            raise WireError(f"athlete height {self.athlete_height_m!r} m is not plausible")
        if self.box_height_m is not None and not (
            math.isfinite(self.box_height_m) and 0.0 <= self.box_height_m < 2.0
        ):
            raise WireError(f"box height {self.box_height_m!r} m is not plausible")
        if self.analysis_id is not None:
            try:
                uuid.UUID(self.analysis_id)
            except ValueError as exc:
                raise WireError("analysis id must be a UUID") from exc

    @property
    def effective_analysis_id(self) -> str:
        """The analysis id, or one derived from the stream id when the producer gave none."""
        if self.analysis_id is not None:
            return self.analysis_id
        return str(uuid.uuid5(_ANALYSIS_NAMESPACE, f"analysis\x1f{self.stream_id}"))


@dataclass(frozen=True, slots=True)
class EndMessage:
    """Closes the analysis of one stream; ``last_seq`` is the last frame's sequence number."""

    stream_id: str
    last_seq: int | None = None

    def __post_init__(self) -> None:
        if not self.stream_id:
            raise WireError("stream id must not be empty")
        if self.last_seq is not None and not 0 <= self.last_seq <= MAX_SEQ:
            raise WireError(f"last_seq {self.last_seq} is not between 0 and 2**63 - 1", BAD_SEQ)


ControlMessage = StartMessage | EndMessage


def encode_control(message: ControlMessage) -> tuple[bytes, bytes]:
    """Return the key and value of a control message."""
    body: dict[str, Any] = {"schema_version": WIRE_SCHEMA_VERSION, "stream_id": message.stream_id}
    if isinstance(message, StartMessage):
        body.update(
            type="start",
            sport=message.sport.value,
            athlete_height_m=message.athlete_height_m,
            box_height_m=message.box_height_m,
            athlete_id=message.athlete_id,
            analysis_id=message.analysis_id,
            api_key_id=message.api_key_id,
            started_at_s=message.started_at_s,
            echo_pose=message.echo_pose,
        )
        if message.belt_speed_m_s is not None:
            body["belt_speed_m_s"] = message.belt_speed_m_s
    else:
        body.update(type="end", last_seq=message.last_seq)
    return encode_key(message.stream_id), _dump(body)


def decode_control(key: bytes | None, value: bytes | None) -> ControlMessage:
    """Decode a control message; its ``stream_id`` must match the key."""
    stream_id = decode_key(key)
    if value is not None and len(value) > MAX_CONTROL_BYTES:
        raise WireError(
            f"control message of {len(value)} bytes (limit {MAX_CONTROL_BYTES})", TOO_LARGE
        )
    body = _load_object(value, "control message")
    if body.get("schema_version") != WIRE_SCHEMA_VERSION:
        raise WireError(f"unsupported control schema version {body.get('schema_version')!r}")
    if body.get("stream_id") != stream_id:
        raise WireError("control message stream_id does not match its key")
    kind = body.get("type")
    try:
        if kind == "start":
            return StartMessage(
                stream_id=stream_id,
                sport=Sport(body["sport"]),
                athlete_height_m=_float(body["athlete_height_m"]),
                box_height_m=_opt(body.get("box_height_m"), _float),
                athlete_id=_opt(body.get("athlete_id"), _text),
                analysis_id=_opt(body.get("analysis_id"), _text),
                api_key_id=_opt(body.get("api_key_id"), _text),
                started_at_s=_opt(body.get("started_at_s"), _float),
                echo_pose=_bool(body.get("echo_pose", False)),
                belt_speed_m_s=_opt(body.get("belt_speed_m_s"), _float),
            )
        if kind == "end":
            return EndMessage(stream_id=stream_id, last_seq=_opt(body.get("last_seq"), _int))
    except KeyError as exc:
        raise WireError(f"control message lacks {exc.args[0]!r}") from exc
    except (TypeError, ValueError) as exc:
        if isinstance(exc, WireError):
            raise
        raise WireError(f"invalid control message: {exc}") from exc
    raise WireError(f"unknown control message type {kind!r}")


# --- events and webhooks -------------------------------------------------------------------


def encode_event(event: AnalysisEvent) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Return the key, value and headers of an events-topic message."""
    headers = [
        (HEADER_SCHEMA, str(event.schema_version).encode()),
        (HEADER_EVENT_TYPE, event.event_type.encode()),
    ]
    try:
        value = event.to_json()
    except ValueError as exc:
        raise WireError(f"event is not JSON-encodable: {exc}") from exc
    return encode_key(event.stream_id), value, headers


def decode_event(key: bytes | None, value: bytes | None) -> AnalysisEvent:
    """Decode an events-topic message."""
    stream_id = decode_key(key)
    try:
        event = AnalysisEvent.from_dict(_load_object(value, "event"))
    except WireError:
        raise
    except ValueError as exc:
        raise WireError(str(exc)) from exc
    if event.stream_id != stream_id:
        raise WireError("event stream_id does not match its key")
    return event


WEBHOOK_EVENT_TYPES: Final[frozenset[str]] = frozenset(EVENT_TYPES) - PER_FRAME_TYPES
"""The event types a webhook may subscribe to (per-frame updates are for the WebSocket)."""


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """An event for the webhook dispatcher, with the facts of the session it belongs to."""

    event: AnalysisEvent
    analysis_id: str
    api_key_id: str
    sport: Sport
    athlete_id: str | None = None

    def __post_init__(self) -> None:
        if self.event.event_type not in WEBHOOK_EVENT_TYPES:
            raise WireError(f"{self.event.event_type} events are not delivered to webhooks")
        if not self.api_key_id:
            raise WireError("a webhook event needs the API key that owns its session")


def encode_webhook(item: WebhookEvent) -> tuple[bytes, bytes]:
    """Return the key (stream id) and value of a webhooks-topic message."""
    body = {
        "schema_version": WIRE_SCHEMA_VERSION,
        "analysis_id": item.analysis_id,
        "api_key_id": item.api_key_id,
        "sport": item.sport.value,
        "athlete_id": item.athlete_id,
        "event": item.event.to_dict(),
    }
    return encode_key(item.event.stream_id), _dump(body)


def decode_webhook(key: bytes | None, value: bytes | None) -> WebhookEvent:
    """Decode a webhooks-topic message."""
    stream_id = decode_key(key)
    body = _load_object(value, "webhook event")
    if body.get("schema_version") != WIRE_SCHEMA_VERSION:
        raise WireError(f"unsupported webhook schema version {body.get('schema_version')!r}")
    try:
        event_body = body["event"]
        if not isinstance(event_body, dict):
            raise WireError("webhook event's event is not an object")
        item = WebhookEvent(
            event=AnalysisEvent.from_dict(event_body),
            analysis_id=str(body["analysis_id"]),
            api_key_id=str(body["api_key_id"]),
            sport=Sport(body["sport"]),
            athlete_id=_opt(body.get("athlete_id"), str),
        )
    except KeyError as exc:
        raise WireError(f"webhook event lacks {exc.args[0]!r}") from exc
    except ValueError as exc:
        if isinstance(exc, WireError):
            raise
        raise WireError(f"invalid webhook event: {exc}") from exc
    if item.event.stream_id != stream_id:
        raise WireError("webhook event stream_id does not match its key")
    return item


# --- webhook dead letters ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A webhook delivery the dispatcher gave up on: why, and the body it POSTed."""

    delivery_id: str
    webhook_id: str
    stream_id: str
    event_id: str
    event_type: str
    attempts: int
    last_error: str
    last_status_code: int | None
    body: dict[str, Any]

    def __post_init__(self) -> None:
        for name in ("delivery_id", "webhook_id", "event_id"):
            try:
                uuid.UUID(getattr(self, name))
            except (ValueError, TypeError, AttributeError) as exc:
                raise WireError(f"dead letter's {name} must be a UUID") from exc
        if not self.stream_id:
            raise WireError("stream id must not be empty")
        if self.event_type not in WEBHOOK_EVENT_TYPES:
            raise WireError(f"{self.event_type!r} events are not delivered to webhooks")
        if self.attempts < 1:
            raise WireError("a dead letter has at least one attempt")


def encode_dead_letter(letter: DeadLetter) -> tuple[bytes, bytes]:
    """Return the key (stream id) and value of a dead-letter message."""
    body = {
        "schema_version": WIRE_SCHEMA_VERSION,
        "delivery_id": letter.delivery_id,
        "webhook_id": letter.webhook_id,
        "stream_id": letter.stream_id,
        "event_id": letter.event_id,
        "event_type": letter.event_type,
        "attempts": letter.attempts,
        "last_error": letter.last_error,
        "last_status_code": letter.last_status_code,
        "body": letter.body,
    }
    return encode_key(letter.stream_id), _dump(body)


def decode_dead_letter(key: bytes | None, value: bytes | None) -> DeadLetter:
    """Decode a dead-letter message."""
    stream_id = decode_key(key)
    body = _load_object(value, "dead letter")
    if body.get("schema_version") != WIRE_SCHEMA_VERSION:
        raise WireError(f"unsupported dead letter schema version {body.get('schema_version')!r}")
    try:
        posted = body["body"]
        if not isinstance(posted, dict):
            raise WireError("dead letter's body is not an object")
        letter = DeadLetter(
            delivery_id=_text(body["delivery_id"]),
            webhook_id=_text(body["webhook_id"]),
            stream_id=_text(body["stream_id"]),
            event_id=_text(body["event_id"]),
            event_type=_text(body["event_type"]),
            attempts=_int(body["attempts"]),
            last_error=_text(body["last_error"]),
            last_status_code=_opt(body.get("last_status_code"), _int),
            body=posted,
        )
    except KeyError as exc:
        raise WireError(f"dead letter lacks {exc.args[0]!r}") from exc
    if letter.stream_id != stream_id:
        raise WireError("dead letter stream_id does not match its key")
    return letter


# --- the dataflow's dead letters -----------------------------------------------------------

HEADER_DL_REASON: Final = "ks-dl-reason"
HEADER_DL_ERROR: Final = "ks-dl-error"
HEADER_DL_TOPIC: Final = "ks-dl-topic"
HEADER_DL_PARTITION: Final = "ks-dl-partition"
HEADER_DL_OFFSET: Final = "ks-dl-offset"
_DL_PREFIX: Final = "ks-dl-"
MAX_DL_ERROR_CHARS: Final = 2000
"""A dead letter's error text is cut to this many characters."""


@dataclass(frozen=True, slots=True)
class QuarantinedMessage:
    """A message the dataflow set aside on the ``deadletter`` topic, and why.

    ``reason`` says what happened (``worker_died``: a worker died while processing this
    input message, so the next start skipped it; ``database_row``: the database refused
    the row). ``topic``, ``partition`` and ``offset`` say where an input message was.
    """

    reason: str
    error: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None

    def __post_init__(self) -> None:
        if not self.reason:
            raise WireError("a dead letter needs a reason")


def encode_quarantined(
    message: QuarantinedMessage,
) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
    """Return the key, value and headers of a ``deadletter`` message."""
    headers = [(n, v) for n, v in message.headers if not n.startswith(_DL_PREFIX)]
    headers.append((HEADER_DL_REASON, message.reason.encode()))
    headers.append((HEADER_DL_ERROR, message.error[:MAX_DL_ERROR_CHARS].encode()))
    if message.topic is not None:
        headers.append((HEADER_DL_TOPIC, message.topic.encode()))
    if message.partition is not None:
        headers.append((HEADER_DL_PARTITION, str(int(message.partition)).encode()))
    if message.offset is not None:
        headers.append((HEADER_DL_OFFSET, str(int(message.offset)).encode()))
    return message.key, message.value, headers


def decode_quarantined(
    key: bytes | None, value: bytes | None, headers: Headers | None
) -> QuarantinedMessage:
    """Decode a ``deadletter`` message."""
    h = _header_map(headers)
    if HEADER_DL_REASON not in h:
        raise WireError(f"dead letter lacks the {HEADER_DL_REASON!r} header")
    try:
        reason = h[HEADER_DL_REASON].decode()
        error = h.get(HEADER_DL_ERROR, b"").decode()
        topic = h[HEADER_DL_TOPIC].decode() if HEADER_DL_TOPIC in h else None
    except UnicodeDecodeError as exc:
        raise WireError("dead letter header is not UTF-8") from exc
    partition = _header_number(h, HEADER_DL_PARTITION, int) if HEADER_DL_PARTITION in h else None
    offset = _header_number(h, HEADER_DL_OFFSET, int) if HEADER_DL_OFFSET in h else None
    original = tuple(
        (name, value if isinstance(value, bytes) else bytes(value or b""))
        for name, value in headers or ()
        if not name.startswith(_DL_PREFIX)
    )
    return QuarantinedMessage(reason, error, key, value, original, topic, partition, offset)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise WireError(f"expected a string, got {value!r}")
    return value


# --- helpers -------------------------------------------------------------------------------


def _dump(body: Mapping[str, Any]) -> bytes:
    try:
        return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    except ValueError as exc:
        raise WireError(f"message is not JSON-encodable: {exc}") from exc


def _load_object(value: bytes | None, what: str) -> dict[str, Any]:
    if not value:
        raise WireError(f"{what} is empty")
    try:
        body = json.loads(value)
    except (UnicodeDecodeError, ValueError) as exc:  # ValueError: also an int of 4300+ digits
        raise WireError(f"{what} is not valid UTF-8 JSON: {exc}") from exc
    except RecursionError as exc:
        raise WireError(f"{what} is nested too deeply") from exc
    if not isinstance(body, dict):
        raise WireError(f"{what} is not a JSON object")
    return body


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WireError(f"expected a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise WireError("expected a finite number")
    return out


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise WireError(f"expected true or false, got {value!r}")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireError(f"expected an integer, got {value!r}")
    return value


def _opt(value: Any, convert: Any) -> Any:
    return None if value is None else convert(value)
