"""Pose samples: the input of the per-stream analysis, whatever produced the landmarks.

Landmarks follow MediaPipe Pose's 33-point topology. Normalized image coordinates: ``x``
grows to the right over the image width, ``y`` grows downwards over the image height.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from kinestream.slots import field_setters

NUM_LANDMARKS = 33

FloatArray = npt.NDArray[np.float64]


class Landmark(IntEnum):
    """Indices of the MediaPipe Pose landmarks the analysis uses."""

    NOSE = 0
    LEFT_EYE = 2
    RIGHT_EYE = 5
    LEFT_EAR = 7
    RIGHT_EAR = 8
    LEFT_SHOULDER = 11
    RIGHT_SHOULDER = 12
    LEFT_ELBOW = 13
    RIGHT_ELBOW = 14
    LEFT_WRIST = 15
    RIGHT_WRIST = 16
    LEFT_HIP = 23
    RIGHT_HIP = 24
    LEFT_KNEE = 25
    RIGHT_KNEE = 26
    LEFT_ANKLE = 27
    RIGHT_ANKLE = 28
    LEFT_HEEL = 29
    RIGHT_HEEL = 30
    LEFT_FOOT_INDEX = 31
    RIGHT_FOOT_INDEX = 32


@dataclass(frozen=True, slots=True)
class PoseSample:
    """One frame's pose of one stream.

    ``landmarks`` has shape (33, 4): normalized ``x``, ``y``, relative depth ``z`` and
    ``visibility`` in [0, 1]; it is ``None`` when no person was found in the frame.
    ``world`` optionally holds MediaPipe's metric world coordinates, shape (33, 3).
    """

    seq: int
    timestamp_s: float
    image_width: int
    image_height: int
    landmarks: FloatArray | None
    world: FloatArray | None = None

    def __post_init__(self) -> None:
        if self.image_width <= 0 or self.image_height <= 0:
            raise ValueError("image size must be positive")
        if self.landmarks is not None and self.landmarks.shape != (NUM_LANDMARKS, 4):
            raise ValueError(f"landmarks must have shape (33, 4), got {self.landmarks.shape}")
        if self.world is not None and self.world.shape != (NUM_LANDMARKS, 3):
            raise ValueError(f"world landmarks must have shape (33, 3), got {self.world.shape}")
        if not np.isfinite(self.timestamp_s):
            raise ValueError("timestamp must be finite")

    def pixels(self) -> FloatArray:
        """Return landmark positions in pixels, shape (33, 2); requires a detected person."""
        if self.landmarks is None:
            raise ValueError("no person in this sample")
        scale = np.array([self.image_width, self.image_height], dtype=np.float64)
        return self.landmarks[:, :2] * scale


_new: Final = object.__new__
_set_seq, _set_timestamp, _set_width, _set_height, _set_landmarks, _set_world = field_setters(
    PoseSample
)


def checked_sample(
    seq: int,
    timestamp_s: float,
    image_width: int,
    image_height: int,
    landmarks: FloatArray | None,
    world: FloatArray | None = None,
    *,
    cls: type[PoseSample] = PoseSample,
) -> Any:
    """A sample (of ``cls``, :class:`PoseSample` or a subclass, whose own fields are left
    for the caller to set) of values already checked as :class:`PoseSample` checks them
    (positive size, finite time, arrays of the right shapes), built without checking them
    again: the checks and a frozen dataclass's field-by-field ``__init__`` cost more than
    the rest of a decoded pose."""
    sample = _new(cls)
    _set_seq(sample, seq)
    _set_timestamp(sample, timestamp_s)
    _set_width(sample, image_width)
    _set_height(sample, image_height)
    _set_landmarks(sample, landmarks)
    _set_world(sample, world)
    return sample


DRAWABLE_VISIBILITY = 0.5


def drawable_pose(sample: PoseSample) -> dict[str, Any] | None:
    """The sample's pose for drawing a skeleton, compact and JSON-ready.

    ``{"width": w, "height": h, "landmarks": [[x, y] | None, ...]}``: the 33 landmarks'
    normalized coordinates rounded to 4 decimals, ``None`` where a landmark's visibility is
    below ``DRAWABLE_VISIBILITY``; ``None`` when no person was found.
    """
    if sample.landmarks is None:
        return None
    xy: list[list[float]] = np.round(sample.landmarks[:, :2], 4).tolist()
    visible: list[bool] = (sample.landmarks[:, 3] >= DRAWABLE_VISIBILITY).tolist()
    points = [point if seen else None for point, seen in zip(xy, visible, strict=True)]
    return {"width": sample.image_width, "height": sample.image_height, "landmarks": points}


class PoseEstimator(Protocol):
    """Turns one stream's frames into pose samples, in capture order.

    One estimator serves one stream (it may track the person between frames). A backend
    that batches frames of many streams on an accelerator implements this per stream on
    top of a shared batcher; the analysis only ever sees :class:`PoseSample`.
    """

    def estimate(self, rgb: npt.NDArray[np.uint8], seq: int, timestamp_s: float) -> PoseSample:
        """Estimate the pose in one RGB frame of shape (height, width, 3)."""
        ...

    def close(self) -> None:
        """Release the estimator's resources."""
        ...
