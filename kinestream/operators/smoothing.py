"""Causal smoothing of one signal over a bounded window (a ring buffer).

:class:`LocalQuadraticSmoother` fits a quadratic by least squares to the last ``2*L + 1``
samples and reports the fitted value and slope at the middle one. It is causal: the
estimate for a frame is ready ``L`` frames after it, which is the lag it adds (``L / fps``
seconds; with the analyzer's default of about 40 ms of half-window, 67 ms at 30 fps and
33-42 ms at 60-240 fps). In exchange the estimate has no phase error: a quadratic (for
example the centre of mass in flight) passes through unchanged, and velocity peaks are not
shifted in time. The fit uses the frames' real timestamps, so dropped frames only widen the
window; memory is constant.
"""

from __future__ import annotations

import math
from collections import deque
from functools import cache
from itertools import islice
from operator import mul, sub

import numpy as np

from kinestream.operators.pose import FloatArray

HALF_WINDOW_S = 0.04


def half_window(fps: float) -> int:
    """Frames on each side of the estimated frame: about ``HALF_WINDOW_S``, at least 2."""
    return max(2, round(HALF_WINDOW_S * fps))


def slope_noise(value_noise: float, fps: float) -> float:
    """Standard deviation of the smoothed slope for white noise of ``value_noise``."""
    half = half_window(fps)
    return value_noise * fps / math.sqrt(half * (half + 1) * (2 * half + 1) / 3.0)


def _quadratic_center(times: FloatArray, values: FloatArray, at: float) -> tuple[float, float]:
    """Value and slope at ``at`` of the least-squares quadratic through the points."""
    tau = times - at
    design = np.stack([np.ones_like(tau), tau, tau * tau], axis=1)
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    return float(coef[0]), float(coef[1])


@cache
def _kernels(half: int) -> tuple[list[float], list[float]]:
    """The value and slope kernels of a uniform window of ``2*half + 1`` frames (shared by
    the smoothers of that size, which only read them)."""
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    design = np.stack([np.ones_like(offsets), offsets, offsets**2], axis=1)
    pinv = np.linalg.pinv(design)
    return pinv[0].tolist(), pinv[1].tolist()


class LocalQuadraticSmoother:
    """Quadratic least-squares smoother and differentiator with a fixed lag of ``half`` frames."""

    def __init__(self, half: int) -> None:
        if half < 1:
            raise ValueError("half window must be at least one frame")
        self.half = half
        self.size = 2 * half + 1
        self._primed = False
        self._times: deque[float] = deque(maxlen=self.size)
        self._values: deque[float] = deque(maxlen=self.size)
        self._tags: deque[int] = deque(maxlen=self.size)
        self._value_kernel, self._slope_kernel = _kernels(half)

    def push(self, time_s: float, value: float, tag: int) -> list[tuple[int, float, float, float]]:
        """Add a sample; return (tag, time, value, slope) of each frame that became ready.

        Usually that is the frame ``half`` back; when the window first fills, the frames
        before it come too (from one-sided fits), so that no frame goes unreported.
        """
        self._times.append(time_s)
        self._values.append(value)
        self._tags.append(tag)
        count = len(self._times)
        if count < self.size:
            return []
        out = []
        if not self._primed:
            self._primed = True
            times = np.fromiter(self._times, dtype=np.float64, count=count)
            values = np.fromiter(self._values, dtype=np.float64, count=count)
            for i in range(self.half):
                head_value, head_slope = _quadratic_center(times, values, float(times[i]))
                out.append((self._tags[i], float(times[i]), head_value, head_slope))
        center = self.half
        raw = self._times
        step = (raw[-1] - raw[0]) / (count - 1)
        tolerance = 0.2 * step
        # Every gap within the tolerance of the mean step: the extreme gaps are (rounding
        # is monotonic, so the extremes of ``gap - step`` are those of the gaps).
        gaps = list(map(sub, islice(raw, 1, None), raw))
        if max(gaps) - step < tolerance and step - min(gaps) < tolerance:
            # The kernels' products summed in order (the window holds ``size`` values).
            center_value = sum(map(mul, self._value_kernel, self._values))
            slope = sum(map(mul, self._slope_kernel, self._values)) / step
        else:
            times = np.fromiter(raw, dtype=np.float64, count=count)
            values = np.fromiter(self._values, dtype=np.float64, count=count)
            center_value, slope = _quadratic_center(times, values, float(times[center]))
        out.append((self._tags[center], raw[center], center_value, slope))
        return out

    def flush(self) -> list[tuple[int, float, float, float]]:
        """Estimates for the frames still waiting for later samples (one-sided fits)."""
        count = len(self._times)
        if count < 3:
            return []
        times = np.fromiter(self._times, dtype=np.float64, count=count)
        values = np.fromiter(self._values, dtype=np.float64, count=count)
        first = self.half + 1 if self._primed else 0
        out = []
        for i in range(first, count):
            value, slope = _quadratic_center(times, values, float(times[i]))
            out.append((self._tags[i], float(times[i]), value, slope))
        self._times.clear()
        self._values.clear()
        self._tags.clear()
        self._primed = False
        return out
