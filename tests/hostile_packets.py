"""The packets of the reliability probe that once stopped the dataflow, built the same way.

- a 660-byte ``KF`` packet whose JPEG header claims 65500x65500 pixels (OpenCV raised
  ``cv2.error``), and one claiming 20000x20000 (decoded in 7.8 s and 2.5 GiB);
- a pose whose capture time is 1e15 (microseconds sent as seconds: PostgreSQL's timestamp
  overflowed in the database sink) or 1e300 (the smoother's least squares raised
  ``numpy.linalg.LinAlgError``).
"""

from __future__ import annotations

import struct

import numpy as np

from kinestream import wire
from kinestream.connectors.jpeg import encode_jpeg
from kinestream.operators.pose import FloatArray, PoseSample

_SOF = (0xC0, 0xC1, 0xC2)


def small_jpeg() -> bytes:
    """A real 16x16 JPEG (629 bytes with OpenCV)."""
    return encode_jpeg(np.full((16, 16, 3), 128, dtype=np.uint8), 85)


def jpeg_claiming(width: int, height: int, jpeg: bytes | None = None) -> bytes:
    """``jpeg`` (default :func:`small_jpeg`) with its frame header rewritten to claim
    ``width`` x ``height`` pixels; the rest of the file is unchanged."""
    out = bytearray(jpeg if jpeg is not None else small_jpeg())
    at = 2
    while at < len(out):
        marker, length = out[at + 1], int.from_bytes(out[at + 2 : at + 4], "big")
        if marker in _SOF:
            out[at + 5 : at + 7] = height.to_bytes(2, "big")
            out[at + 7 : at + 9] = width.to_bytes(2, "big")
            return bytes(out)
        at += 2 + length
    raise AssertionError("no frame header in the JPEG")


def bomb_packet(width: int, height: int, *, seq: int = 0, timestamp_s: float = 0.0) -> bytes:
    """A ``KF`` packet of a small JPEG that claims ``width`` x ``height`` pixels; the packet's
    own size fields say 640x480, as the probe's did."""
    header = struct.pack("<2sBqdfII", b"KF", 1, seq, timestamp_s, 30.0, 640, 480)
    return header + jpeg_claiming(width, height)


def raw_pose_packet(seq: int, timestamp_s: float, landmarks: FloatArray | None = None) -> bytes:
    """A ``KP`` packet packed by hand, so that values the encoder refuses can be sent."""
    flags = 1 if landmarks is not None else 0
    header = struct.pack("<2sBBqdfII", b"KP", 1, flags, seq, timestamp_s, 30.0, 640, 480)
    body = landmarks.astype("<f4").tobytes() if landmarks is not None else b""
    return header + body


def standing_landmarks() -> FloatArray:
    """Landmarks of a person standing in the middle of the image."""
    return np.full((33, 4), 0.5)


def headers_for(seq: int, timestamp_s: float) -> list[tuple[str, bytes]]:
    """The headers a pose message carries, for any values."""
    return [
        (wire.HEADER_SCHEMA, b"1"),
        (wire.HEADER_SEQ, str(seq).encode()),
        (wire.HEADER_TIMESTAMP, repr(timestamp_s).encode()),
        (wire.HEADER_FPS, b"30.0"),
        (wire.HEADER_WIDTH, b"640"),
        (wire.HEADER_HEIGHT, b"480"),
    ]


def pose(seq: int, timestamp_s: float) -> PoseSample:
    """A standing pose (the analyzer's input, past the wire's checks)."""
    return PoseSample(seq, timestamp_s, 640, 480, standing_landmarks())
