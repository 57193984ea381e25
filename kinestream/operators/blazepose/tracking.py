"""One stream's BlazePose tracking state: plain, picklable values.

MediaPipe's ``PoseLandmarkCpu`` graph (video mode) runs the detector only when the previous
frame left no ROI; otherwise the ROI comes from the previous frame's two auxiliary landmarks.
Those are always smoothed (``pose_landmark_filtering.pbtxt``, whatever ``smooth_landmarks``
says) by a one-euro filter with ``min_cutoff: 0.01 beta: 10 derivate_cutoff: 1``, on pixel
coordinates, velocities divided by the object scale; a frame without a pose resets it
(``LandmarksSmoothingCalculator``). The filter (``one_euro_filter.cc``) runs on MediaPipe's
clock, which the Python solution simulates at 30 fps (33333 µs a frame, from 0), so the
same clock is kept here: the stream's frame count, whatever the frames' real timestamps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from kinestream.operators.blazepose.geometry import Roi

FloatArray = npt.NDArray[np.float64]

FRAME_NS: Final = 33_333_000  # mediapipe/python/solution_base.py: 33333 µs a frame
DEFAULT_FREQUENCY_HZ: Final = 30.0  # OneEuroFilterOptions.frequency default
MIN_CUTOFF_HZ: Final = 0.01
BETA: Final = 10.0
DERIVATE_CUTOFF_HZ: Final = 1.0
MIN_OBJECT_SCALE: Final = 1e-6  # OneEuroFilterOptions.min_allowed_object_scale default


def _alpha(cutoff_hz: FloatArray | float, frequency_hz: float) -> FloatArray:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz, dtype=np.float64))
    return np.asarray(1.0 / (1.0 + tau * frequency_hz), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class AuxiliaryFilter:
    """The one-euro filter of the auxiliary landmarks' pixel coordinates (fresh by default).

    ``raw``, ``smoothed`` and ``derivative`` are the last input, output and smoothed
    derivative, ``None`` until the filter has seen a value.
    """

    last_time_ns: int = 0
    frequency_hz: float = DEFAULT_FREQUENCY_HZ
    raw: tuple[float, ...] | None = None
    smoothed: tuple[float, ...] | None = None
    derivative: tuple[float, ...] | None = None

    def apply(
        self, values: FloatArray, time_ns: int, object_scale: float
    ) -> tuple[FloatArray, AuxiliaryFilter]:
        """Filter ``values`` (pixels) at ``time_ns``; return them and the filter's next state."""
        if object_scale < MIN_OBJECT_SCALE or self.last_time_ns >= time_ns:
            return values, self  # MediaPipe passes such values through untouched
        frequency = self.frequency_hz
        if self.last_time_ns != 0 and time_ns != 0:
            frequency = 1e9 / (time_ns - self.last_time_ns)
        if self.raw is None or self.smoothed is None or self.derivative is None:
            derivative = np.zeros_like(values)
            smoothed = values
        else:
            velocity = (values - np.array(self.raw)) / object_scale * frequency
            a = _alpha(DERIVATE_CUTOFF_HZ, frequency)
            derivative = a * velocity + (1.0 - a) * np.array(self.derivative)
            a = _alpha(MIN_CUTOFF_HZ + BETA * np.abs(derivative), frequency)
            smoothed = a * values + (1.0 - a) * np.array(self.smoothed)
        state = AuxiliaryFilter(
            time_ns,
            frequency,
            tuple(values.tolist()),
            tuple(smoothed.tolist()),
            tuple(derivative.tolist()),
        )
        return smoothed, state


@dataclass(frozen=True, slots=True)
class PoseTrack:
    """A stream's tracking state: the ROI for its next frame (``None``: detect), the
    auxiliary-landmark filter and the number of frames seen (MediaPipe's clock)."""

    roi: Roi | None = None
    aux_filter: AuxiliaryFilter = field(default_factory=AuxiliaryFilter)
    frames: int = 0

    @property
    def time_ns(self) -> int:
        """The simulated timestamp of the stream's next frame."""
        return self.frames * FRAME_NS
