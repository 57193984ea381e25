"""Quiet-standing calibration: floor level, standing CoM, pixel-to-metre scale, noise.

The analysis needs one stretch of at least ``WINDOW_S`` (0.3 s) in which the athlete stands
still and upright in view (on the box for a drop jump); it may come before or after the
jump (see :class:`~kinestream.operators.analyzer.StreamAnalyzer`'s look-back). From that
stretch the analysis takes the floor (where the flat feet meet it), the standing CoM height,
the scale (athlete height over the standing height in pixels, see
:mod:`kinestream.operators.anthropometry`) and the measurement noise that sets its detection
thresholds. Upright means eye height at least ``MIN_UPRIGHT`` leg lengths (2.0 standing,
about 1.6 in a squat), so that a held squat is never taken for standing.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from kinestream.operators.anthropometry import BodyMeasurement, standing_height_px
from kinestream.operators.ballistics import GRAVITY_M_S2

WINDOW_S: Final = 0.3
MIN_FRAMES: Final = 8
MIN_UPRIGHT: Final = 1.8
# Body-height-relative stillness limits (a 1.80 m athlete: 11 mm, 18 mm, 81 mm of feet:
# a planted foot's landmark slides up to 0.041 body heights in 0.3 s on real footage,
# bench/results/landmark_noise.txt).
MAX_COM_STD: Final = 0.006
MAX_SWAY_STD: Final = 0.010
MAX_FOOT_RANGE: Final = 0.045
STRAY_MADS: Final = 4.0


@dataclass(frozen=True, slots=True)
class Calibration:
    """Reference values of one stretch of quiet standing.

    ``time_s`` is where the analysis with this calibration begins: the end of the quiet
    stretch, or the first frame of the look-back analysed with it.
    """

    time_s: float
    floor_y_px: float
    com_y_px: float
    com_x_px: float
    m_per_px: float
    leg_length_px: float
    fps: float
    com_noise_m: float
    foot_noise_m: float

    def height_m(self, y_px: float) -> float:
        """Height above the standing CoM of an image row."""
        return (self.com_y_px - y_px) * self.m_per_px

    def above_floor_m(self, y_px: float) -> float:
        """Height above the calibrated floor of an image row."""
        return (self.floor_y_px - y_px) * self.m_per_px


class QuietStandingDetector:
    """Watches measurements until the athlete has stood still and upright for ``WINDOW_S``."""

    def __init__(self, athlete_height_m: float) -> None:
        if not 0.5 < athlete_height_m < 2.6:
            raise ValueError("athlete height must be between 0.5 m and 2.6 m")
        self.athlete_height_m = athlete_height_m
        self._window: deque[tuple[float, BodyMeasurement]] = deque()

    def reset(self) -> None:
        """Forget what was seen."""
        self._window.clear()

    def push(self, time_s: float, body: BodyMeasurement) -> Calibration | None:
        """Add one measurement; return a calibration once quiet standing is seen."""
        window = self._window
        window.append((time_s, body))
        # The shortest run of latest frames that spans WINDOW_S.
        while len(window) > 1 and time_s - window[1][0] >= WINDOW_S - 1e-6:
            window.popleft()
        if len(window) < MIN_FRAMES or time_s - window[0][0] < WINDOW_S - 1e-6:
            return None
        times = np.array([t for t, _ in window])
        bodies = [b for _, b in window]
        foot = np.array([b.foot_y_px for b in bodies])
        eye = np.array([b.eye_y_px for b in bodies])
        if np.isnan(foot).mean() > 0.2 or np.isnan(eye).mean() > 0.2:
            return None
        com_y = np.array([b.com_y_px for b in bodies])
        com_x = np.array([b.com_x_px for b in bodies])
        floor = float(np.nanmedian([b.contact_y_px for b in bodies]))
        height_px = standing_height_px(floor, float(np.nanmedian(eye)))
        leg_px = float(np.median([b.leg_length_px for b in bodies]))
        if height_px < MIN_UPRIGHT * leg_px:
            return None
        if (
            com_y.std() > MAX_COM_STD * height_px
            or com_x.std() > MAX_SWAY_STD * height_px
            or np.nanmax(foot) - np.nanmin(foot) > MAX_FOOT_RANGE * height_px
        ):
            return None
        m_per_px = self.athlete_height_m / height_px
        fps = 1.0 / float(np.median(np.diff(times)))
        self._window.clear()
        return Calibration(
            time_s=time_s,
            floor_y_px=floor,
            com_y_px=float(com_y.mean()),
            com_x_px=float(com_x.mean()),
            m_per_px=m_per_px,
            leg_length_px=leg_px,
            fps=fps,
            com_noise_m=float(com_y.std() * m_per_px),
            foot_noise_m=_spread_without_strays_px(foot) * m_per_px,
        )


STANDING_COM_RATIO: Final = 0.57
"""Standing CoM height over body height (Winter 2009: 0.55-0.57)."""
AIRBORNE_LEGS: Final = 0.1
"""Feet this many leg lengths above the floor are in the air (9 cm for a 1.80 m athlete)."""
MIN_FLIGHT_FRAMES: Final = 5
FLOOR_PERCENTILE: Final = 90.0
"""The floor without standing: this percentile of the contacts on the ground (lowest in
the image). Feet on the ground read higher whenever a heel or the toe landmark rises in
a push-off, a bounce or a landing, never lower; the spread of a still foot's noise puts
it 1.3 noise sigmas low."""


def calibration_without_standing(
    frames: list[tuple[float, BodyMeasurement]], athlete_height_m: float
) -> Calibration | None:
    """A calibration for a stream in which the athlete never stood still: the floor where
    the feet were most of the time (``FLOOR_PERCENTILE`` of the contacts near their 75th
    percentile), the noise from their frame-to-frame jitter there, and the scale from the
    CoM's parabola in the longest flight (``g`` over its curvature in pixels). ``None``
    without a flight of ``MIN_FLIGHT_FRAMES`` that gives a plausible scale: then there is
    neither a scale to trust nor a jump to find (walking, a stream that only moves about).
    Less exact than quiet standing: the standing CoM comes from anthropometry."""
    feet = [(t, b) for t, b in frames if not np.isnan(b.contact_y_px)]
    if len(feet) < MIN_FRAMES:
        return None
    leg_px = float(np.median([b.leg_length_px for _, b in feet]))
    contact = np.array([b.contact_y_px for _, b in feet])
    ground = contact[np.abs(contact - np.percentile(contact, 75)) < AIRBORNE_LEGS * leg_px]
    floor = float(np.percentile(ground, FLOOR_PERCENTILE))
    noise_px = _jitter_px(contact, np.abs(contact - floor) < AIRBORNE_LEGS * leg_px)
    m_per_px = _ballistic_scale(feet, floor, leg_px, athlete_height_m)
    if m_per_px is None:
        return None
    times = np.array([t for t, _ in frames])
    return Calibration(
        time_s=float(times[0]),
        floor_y_px=floor,
        com_y_px=floor - STANDING_COM_RATIO * athlete_height_m / m_per_px,
        com_x_px=float(np.median([b.com_x_px for _, b in frames])),
        m_per_px=m_per_px,
        leg_length_px=leg_px,
        fps=1.0 / float(np.median(np.diff(times))),
        com_noise_m=noise_px * m_per_px,
        foot_noise_m=noise_px * m_per_px,
    )


def _spread_without_strays_px(values: npt.NDArray[np.float64]) -> float:
    """Standard deviation of a landmark's height over the frames within ``STRAY_MADS``
    robust spreads (1.4826 median absolute deviations) of its median: a stray frame (a
    pose model's heel and toe exchanged for one frame, centimetres off) leaves it, a
    landmark sliding steadily stays in it (all of a linear drift lies within three robust
    spreads of its median)."""
    seen = values[~np.isnan(values)]
    deviation = np.abs(seen - np.median(seen))
    spread = 1.4826 * float(np.median(deviation))
    return float(np.std(seen[deviation <= STRAY_MADS * spread]))


def _jitter_px(values: npt.NDArray[np.float64], on_ground: npt.NDArray[np.bool_]) -> float:
    """Frame-to-frame jitter of a landmark height: the robust spread of its second
    differences over runs of three frames on the ground, over sqrt(6) (white noise). Not
    the spread of the heights themselves, which a moving body (a bounce, heels rising)
    widens far beyond the landmark's noise."""
    runs = on_ground[:-2] & on_ground[1:-1] & on_ground[2:]
    second = (values[2:] - 2.0 * values[1:-1] + values[:-2])[runs]
    if second.size < 3:
        return 1.4826 * float(np.median(np.abs(values[on_ground] - np.median(values[on_ground]))))
    return 1.4826 * float(np.median(np.abs(second))) / math.sqrt(6.0)


def _ballistic_scale(
    feet: list[tuple[float, BodyMeasurement]],
    floor_y_px: float,
    leg_px: float,
    athlete_height_m: float,
) -> float | None:
    """Metres per pixel from the CoM's fall in the longest run of airborne frames."""
    best: list[tuple[float, BodyMeasurement]] = []
    run: list[tuple[float, BodyMeasurement]] = []
    for t, b in feet:
        if floor_y_px - b.foot_y_px > AIRBORNE_LEGS * leg_px:
            run.append((t, b))
            best = max(best, run, key=len)
        else:
            run = []
    if len(best) < MIN_FLIGHT_FRAMES:
        return None
    times = np.array([time_s for time_s, _ in best])
    com_y = np.array([b.com_y_px for _, b in best])
    curvature = float(np.polyfit(times - times[0], com_y, 2)[0])
    if curvature <= 0:
        return None
    m_per_px = GRAVITY_M_S2 / (2.0 * curvature)
    # A plausible body: thigh plus shank 0.49 of body height (Winter 2009), shorter in the
    # image when the legs are bent towards the camera.
    return m_per_px if 0.3 < leg_px * m_per_px / athlete_height_m < 0.6 else None
