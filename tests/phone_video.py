"""Clips stored as phones store them: rotated in the file, with variable frame timing.

A phone held upright records its sensor's landscape frames and marks the track with a
display matrix (the MP4 ``tkhd`` box) that players apply; each frame keeps its own capture
time (the ``stts`` box's per-frame durations). :func:`write_phone_clip` writes frames with
OpenCV's mp4v writer and then edits those two boxes, so the tests need no encoder beyond
OpenCV's.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]

_STORED = {
    0: None,
    90: cv2.ROTATE_90_COUNTERCLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_CLOCKWISE,
}
"""How a frame shown upright is stored under each display rotation (clockwise degrees)."""
_ONE = 1 << 16  # 1.0 in the matrix's 16.16 fixed point
_MATRIX = {
    0: (_ONE, 0, 0, 0, _ONE),
    90: (0, _ONE, 0, -_ONE, 0),
    180: (-_ONE, 0, 0, 0, -_ONE),
    270: (0, -_ONE, 0, _ONE, 0),
}
"""The display matrix's a, b, u, c, d (ISO/IEC 14496-12 ``tkhd``) of each rotation."""
_CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl")


def write_phone_clip(
    path: Path, frames: Sequence[Image], times_s: Sequence[float], rotation_deg: int = 0
) -> Path:
    """Write BGR ``frames`` as shown upright, stored rotated by ``rotation_deg`` (0, 90, 180
    or 270, clockwise on display) and captured at ``times_s`` (the file's presentation
    times are ``times_s`` less the first)."""
    if len(frames) != len(times_s) or len(frames) < 2:
        raise ValueError("one capture time per frame, and at least two frames")
    turn = _STORED[rotation_deg]
    stored = [f if turn is None else cv2.rotate(f, turn) for f in frames]
    height, width = stored[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 30.0, (width, height))
    assert writer.isOpened(), "OpenCV cannot write mp4v here (is it built with FFmpeg?)"
    for frame in stored:
        writer.write(frame)
    writer.release()
    data = bytearray(path.read_bytes())
    _set_matrix(data, rotation_deg)
    _set_frame_times(data, times_s)
    path.write_bytes(bytes(data))
    return path


def _box(data: bytearray, kind: bytes) -> int:
    """Offset of the first ``kind`` box (the file has one video track)."""
    at = data.find(kind) - 4
    if at < 0:
        raise ValueError(f"no {kind.decode()} box")
    return at


def _set_matrix(data: bytearray, rotation_deg: int) -> None:
    tkhd = _box(data, b"tkhd")
    version = data[tkhd + 8]
    matrix = tkhd + 12 + (32 if version == 1 else 20) + 16
    a, b, u, c, d = _MATRIX[rotation_deg]
    data[matrix : matrix + 36] = struct.pack(">9i", a, b, u, c, d, 0, 0, 0, 1 << 30)


def _set_frame_times(data: bytearray, times_s: Sequence[float]) -> None:
    """Replace the one-entry ``stts`` with each frame's duration in the track's timescale.

    OpenCV's writer puts ``moov`` after ``mdat``, so growing it moves no sample offsets. The
    edit list, which would cut the track at its old duration, becomes a ``free`` box."""
    if data.find(b"moov") < data.find(b"mdat"):
        raise ValueError("moov before mdat: sample offsets would move")
    mdhd = _box(data, b"mdhd")
    if data[mdhd + 8] != 0:
        raise ValueError("a version 1 mdhd is not handled")
    (timescale,) = struct.unpack(">I", data[mdhd + 20 : mdhd + 24])
    ticks = np.round(np.asarray(times_s, dtype=np.float64) * timescale).astype(np.int64)
    durations = [*np.diff(ticks).tolist(), int(np.median(np.diff(ticks)))]
    if min(durations) <= 0:
        raise ValueError("capture times must increase by at least one tick")
    data[mdhd + 24 : mdhd + 28] = struct.pack(">I", sum(durations))
    edts = data.find(b"edts")
    if edts >= 0:
        data[edts : edts + 4] = b"free"
    entries = b"".join(struct.pack(">II", 1, int(d)) for d in durations)
    payload = struct.pack(">II", 0, len(durations)) + entries
    stts = _box(data, b"stts")
    (old,) = struct.unpack(">I", data[stts : stts + 4])
    data[stts : stts + old] = struct.pack(">I4s", 8 + len(payload), b"stts") + payload
    grown = 8 + len(payload) - old
    for kind in _CONTAINERS:
        at = _box(data, kind)
        (size,) = struct.unpack(">I", data[at : at + 4])
        data[at : at + 4] = struct.pack(">I", size + grown)
