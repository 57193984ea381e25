"""Frames from a video file or a camera, with OpenCV, and the poses a pose estimator sees.

:class:`VideoReader` yields :class:`VideoFrame` tuples ``(seq, timestamp_s, rgb)`` in
capture order. ``seq`` counts frames from 0. For a file, ``timestamp_s`` is the frame's
presentation time from the container (``CAP_PROP_POS_MSEC``), falling back to the previous
timestamp plus one frame period (from the container's fps) where the container gives none or
one that does not increase; for a camera it is the time since the camera was opened, on the
monotonic clock. A file's frames come upright as players show them: a phone held upright
stores landscape frames and a display rotation in the container, which is applied here
(OpenCV 4.11 no longer does by default, and a sideways athlete has no vertical to jump
along). Frames are downscaled so that their long side is at most ``max_dimension`` pixels
(aspect kept, never upscaled). :func:`estimate_poses` pairs each frame with its pose
(:class:`PosedFrame`, for drawing on it); :func:`poses_from_video` yields the poses alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Final, NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

from kinestream.operators.pose import PoseEstimator, PoseSample

DEFAULT_MAX_DIMENSION: Final = 1280
FALLBACK_FPS: Final = 30.0
_UPRIGHT: Final = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}
"""How a stored frame is turned for each display rotation (clockwise degrees, as OpenCV's
``CAP_PROP_ORIENTATION_META`` gives the container's display matrix)."""

RgbFrame = npt.NDArray[np.uint8]


class VideoError(OSError):
    """A video source could not be opened or read."""


class VideoFrame(NamedTuple):
    """One decoded frame: its sequence number, capture time and RGB pixels (h, w, 3)."""

    seq: int
    timestamp_s: float
    rgb: RgbFrame


def scaled_size(width: int, height: int, max_dimension: int | None) -> tuple[int, int]:
    """Size ``(width, height)`` after shrinking the long side to ``max_dimension``."""
    if max_dimension is None or max(width, height) <= max_dimension:
        return width, height
    scale = max_dimension / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


class VideoReader:
    """Frames of one video file (path) or camera (integer index), as :class:`VideoFrame`.

    Iterate it once; it is also a context manager that releases the capture. ``fps``,
    ``frame_count`` (``None`` for a camera or when the container does not say), the display
    rotation applied (``rotation_deg``), the source size (upright) and the output size are
    known once it is open, for progress reports.
    """

    def __init__(
        self, source: str | Path | int, max_dimension: int | None = DEFAULT_MAX_DIMENSION
    ) -> None:
        if max_dimension is not None and max_dimension < 16:
            raise ValueError(f"max_dimension must be at least 16 pixels, got {max_dimension}")
        self.source = source
        self.is_camera = isinstance(source, int)
        if isinstance(source, int):
            capture = cv2.VideoCapture(source)
        else:
            path = Path(source)
            if not path.is_file():
                raise FileNotFoundError(f"video file not found: {path}")
            capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not capture.isOpened():
            capture.release()
            what = f"camera {source}" if self.is_camera else f"video file {source}"
            raise VideoError(f"cannot open {what}: OpenCV found no decodable video stream in it")
        self._capture: Any = capture
        self.rotation_deg = 0
        if not self.is_camera:
            # Turned here, not by OpenCV: its default changed between releases (on up to
            # 4.10, off in 4.11) and 4.6 turned the wrong way.
            capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
            meta = float(capture.get(cv2.CAP_PROP_ORIENTATION_META))
            self.rotation_deg = round(meta) % 360 if math.isfinite(meta) else 0
            if self.rotation_deg not in _UPRIGHT:
                self.rotation_deg = 0
        self.source_width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.source_height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if self.rotation_deg in (90, 270):
            self.source_width, self.source_height = self.source_height, self.source_width
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        self.fps_known = math.isfinite(fps) and 0.0 < fps < 10_000.0
        self.fps = fps if self.fps_known else FALLBACK_FPS
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count: int | None = count if count > 0 and not self.is_camera else None
        self.max_dimension = max_dimension
        self.width, self.height = scaled_size(self.source_width, self.source_height, max_dimension)
        self._started = False

    def __iter__(self) -> Iterator[VideoFrame]:
        if self._started:
            raise RuntimeError("a VideoReader can be iterated only once")
        self._started = True
        return self._frames()

    def _frames(self) -> Iterator[VideoFrame]:
        capture = self._capture
        if capture is None:
            raise RuntimeError("this VideoReader is closed")
        period = 1.0 / self.fps
        opened = time.monotonic()
        previous: float | None = None
        seq = 0
        while True:
            ok, bgr = capture.read()
            if not ok or bgr is None:
                return
            if self.is_camera:
                timestamp = time.monotonic() - opened
            else:
                timestamp = float(capture.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
            if previous is not None and not (math.isfinite(timestamp) and timestamp > previous):
                timestamp = previous + period
            elif previous is None and not (math.isfinite(timestamp) and timestamp >= 0.0):
                timestamp = 0.0
            previous = timestamp
            yield VideoFrame(seq, timestamp, self._to_rgb(bgr))
            seq += 1

    def _to_rgb(self, bgr: npt.NDArray[np.uint8]) -> RgbFrame:
        height, width = bgr.shape[:2]
        target = scaled_size(width, height, self.max_dimension)
        if target != (width, height):
            bgr = np.asarray(cv2.resize(bgr, target, interpolation=cv2.INTER_AREA), np.uint8)
        if self.rotation_deg:
            bgr = np.asarray(cv2.rotate(bgr, _UPRIGHT[self.rotation_deg]), np.uint8)
        return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.uint8)

    def close(self) -> None:
        """Release the capture; closing twice is harmless."""
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def read_frames(
    source: str | Path | int,
    max_dimension: int | None = DEFAULT_MAX_DIMENSION,
    limit: int | None = None,
) -> Iterator[VideoFrame]:
    """Yield the frames of ``source`` (at most ``limit``), releasing it at the end.

    Opening errors (:class:`FileNotFoundError`, :class:`VideoError`) are raised at the call,
    not at the first ``next``.
    """
    reader = VideoReader(source, max_dimension)
    return _limited(reader, limit)


def _limited(reader: VideoReader, limit: int | None) -> Iterator[VideoFrame]:
    with reader:
        for frame in reader:
            if limit is not None and frame.seq >= limit:
                return
            yield frame


class PosedFrame(NamedTuple):
    """One decoded frame and the pose an estimator found in it."""

    sample: PoseSample
    rgb: RgbFrame


def estimate_poses(frames: Iterable[VideoFrame], estimator: PoseEstimator) -> Iterator[PosedFrame]:
    """Yield each frame with the pose ``estimator`` finds in it, in order."""
    for seq, timestamp_s, rgb in frames:
        yield PosedFrame(estimator.estimate(rgb, seq, timestamp_s), rgb)


def poses_from_video(
    source: str | Path | int,
    estimator: PoseEstimator,
    *,
    max_dimension: int | None = DEFAULT_MAX_DIMENSION,
    limit: int | None = None,
) -> Iterator[PoseSample]:
    """Yield the pose ``estimator`` finds in each frame of ``source``, in capture order.

    Opening errors are raised at the call. The estimator is not closed here: it belongs to
    the caller.
    """
    frames = read_frames(source, max_dimension, limit)
    return (posed.sample for posed in estimate_poses(frames, estimator))
