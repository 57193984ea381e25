"""Physics of flight: sub-frame takeoff and touchdown instants, and ballistic checks.

Between frames the foot's height near takeoff or touchdown is modelled as ballistic,
``h(t) = a + b*t - g*t^2/2``: only ``a`` and ``b`` are fitted (the curvature is gravity),
from the two or three airborne frames next to the ground contact, and the instant is the
root of that parabola, kept inside the interval between the last frame on the ground and
the first frame in the air.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt

GRAVITY_M_S2: Final = 9.81

Points: TypeAlias = Sequence[float] | npt.NDArray[np.float64]


def flight_height_m(flight_time_s: float) -> float:
    """Jump height from flight time: h = g*T^2/8."""
    return GRAVITY_M_S2 * flight_time_s**2 / 8.0


def ballistic_crossing(
    times: Points,
    heights: Points,
    ground_t: float,
    ground_h: float,
    rising: bool,
    slack_s: float = 0.0,
) -> float:
    """Instant at which a ballistic path through the airborne points is at height 0.

    ``rising`` (takeoff) looks for the root between the ground frame and the first airborne
    point; otherwise (touchdown) between the last airborne point and the ground frame. With
    one point, or when the fit has no root there, the crossing is interpolated linearly
    between the ground frame and the nearest airborne frame. ``slack_s`` widens the search
    beyond the ground frame, which near the threshold may itself be just off the ground.
    """
    t = np.asarray(times, dtype=np.float64)
    h = np.asarray(heights, dtype=np.float64)
    nearest = 0 if rising else -1
    near_t, near_h = float(t[nearest]), float(h[nearest])
    lower, upper = (ground_t - slack_s, near_t) if rising else (near_t, ground_t + slack_s)
    span = near_h - ground_h
    share = (0.0 - ground_h) / span if span > 1e-9 else 0.5
    fallback = ground_t + min(max(share, 0.0), 1.0) * (near_t - ground_t)
    if t.size < 2:
        return fallback
    tau = t - near_t
    y = h + 0.5 * GRAVITY_M_S2 * tau**2
    design = np.stack([np.ones_like(tau), tau], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
    disc = b * b + 2.0 * GRAVITY_M_S2 * a
    if disc < 0:
        return fallback
    root = math.sqrt(disc)
    tau0 = (b - root) / GRAVITY_M_S2 if rising else (b + root) / GRAVITY_M_S2
    crossing = near_t + float(tau0)
    if not lower - 1e-9 <= crossing <= upper + 1e-9:
        return fallback
    return crossing


@dataclass(frozen=True, slots=True)
class ParabolaFit:
    """Least-squares parabola ``z = c0 + c1*tau + c2*tau^2`` with ``tau = t - t0``."""

    t0: float
    c0: float
    c1: float
    c2: float
    rms_m: float

    @property
    def acceleration_m_s2(self) -> float:
        """Fitted vertical acceleration (about -g for a ballistic body)."""
        return 2.0 * self.c2

    def value(self, t: float) -> float:
        """Height at time ``t``."""
        tau = t - self.t0
        return self.c0 + self.c1 * tau + self.c2 * tau * tau

    @property
    def apex_time_s(self) -> float:
        """Time of the parabola's vertex (meaningful when ``c2 < 0``)."""
        return self.t0 - self.c1 / (2.0 * self.c2)

    @property
    def apex_m(self) -> float:
        """Highest point of the parabola (its vertex; meaningful when ``c2 < 0``)."""
        return self.c0 - self.c1 * self.c1 / (4.0 * self.c2)


def fit_parabola(times: Points, heights: Points) -> ParabolaFit | None:
    """Fit a free parabola; ``None`` with fewer than four points."""
    if len(times) < 4:
        return None
    t = np.asarray(times, dtype=np.float64)
    z = np.asarray(heights, dtype=np.float64)
    t0 = float(t[0])
    tau = t - t0
    design = np.stack([np.ones_like(tau), tau, tau * tau], axis=1)
    coef, *_ = np.linalg.lstsq(design, z, rcond=None)
    rms = float(np.sqrt(np.mean((design @ coef - z) ** 2)))
    return ParabolaFit(t0, float(coef[0]), float(coef[1]), float(coef[2]), rms)
