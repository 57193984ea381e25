"""One stream's BlazePose tracking state: plain, picklable values.

MediaPipe's ``PoseLandmarkCpu`` graph (video mode) runs the detector only when the previous
frame left no ROI; otherwise the ROI comes from the previous frame's two auxiliary landmarks.
Those are always smoothed (``pose_landmark_filtering.pbtxt``, whatever ``smooth_landmarks``
says) by a one-euro filter with ``min_cutoff: 0.01 beta: 10 derivate_cutoff: 1``, on pixel
coordinates, velocities divided by the object scale; a frame without a pose resets it
(``LandmarksSmoothingCalculator``). The filter (``one_euro_filter.cc``) runs on MediaPipe's
clock, which the Python solution simulates at 30 fps (33333 µs a frame, the first frame at
33333 µs: ``solution_base.py`` adds the step before it sends a frame), so the same clock is
kept here: the stream's frame count, whatever the frames' real timestamps. Its low-pass
filters keep their values in float, so this filter does too.
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
# the options' floats, which OneEuroFilter keeps as doubles
MIN_CUTOFF_HZ: Final = float(np.float32(0.01))
BETA: Final = 10.0
DERIVATE_CUTOFF_HZ: Final = 1.0
MIN_OBJECT_SCALE: Final = float(np.float32(1e-6))  # min_allowed_object_scale default


def _alpha(cutoff_hz: FloatArray | float, frequency_hz: float) -> npt.NDArray[np.float32]:
    """``OneEuroFilter::GetAlpha`` in double, as the float ``LowPassFilter`` keeps it."""
    te = 1.0 / frequency_hz
    tau = 1.0 / (2 * math.pi * np.asarray(cutoff_hz, dtype=np.float64))
    return np.asarray(1.0 / (1.0 + tau / te)).astype(np.float32)


def _low_pass(
    value: npt.NDArray[np.float32], alpha: npt.NDArray[np.float32], stored: FloatArray
) -> npt.NDArray[np.float32]:
    """``LowPassFilter::Apply``: ``alpha * value`` in float plus ``(1.0 - alpha) * stored``
    in double, stored as a float."""
    return ((alpha * value).astype(np.float64) + (1.0 - alpha.astype(np.float64)) * stored).astype(
        np.float32
    )


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
        """Filter ``values`` (pixels, floats) at ``time_ns``; return them and the filter's
        next state."""
        if object_scale < MIN_OBJECT_SCALE or self.last_time_ns >= time_ns:
            return values, self  # MediaPipe passes such values through untouched
        frequency = self.frequency_hz
        if self.last_time_ns != 0 and time_ns != 0:
            frequency = 1.0 / ((time_ns - self.last_time_ns) * 1e-9)
        value = values.astype(np.float32)
        if self.raw is None or self.smoothed is None or self.derivative is None:
            derivative = np.zeros_like(value)
            smoothed = value
        else:
            value_scale = float(np.float32(1.0) / np.float32(object_scale))
            change = (value.astype(np.float64) - np.array(self.raw)) * value_scale * frequency
            a = _alpha(DERIVATE_CUTOFF_HZ, frequency)
            derivative = _low_pass(change.astype(np.float32), a, np.array(self.derivative))
            cutoff = MIN_CUTOFF_HZ + BETA * np.abs(derivative.astype(np.float64))
            smoothed = _low_pass(value, _alpha(cutoff, frequency), np.array(self.smoothed))
        state = AuxiliaryFilter(
            time_ns,
            frequency,
            tuple(value.tolist()),
            tuple(smoothed.tolist()),
            tuple(derivative.tolist()),
        )
        return smoothed.astype(np.float64), state


@dataclass(frozen=True, slots=True)
class PoseTrack:
    """A stream's tracking state: the ROI for its next frame (``None``: detect), the
    auxiliary-landmark filter and the number of frames seen (MediaPipe's clock)."""

    roi: Roi | None = None
    aux_filter: AuxiliaryFilter = field(default_factory=AuxiliaryFilter)
    frames: int = 0

    @property
    def time_ns(self) -> int:
        """The simulated timestamp of the stream's next frame (the first at one step)."""
        return (self.frames + 1) * FRAME_NS
