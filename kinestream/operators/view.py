"""Which way the camera looks at the athlete: side, oblique or frontal (or rear).

In a side view the left and right shoulders (and hips) overlap in the image; seen from the
front or the back they are a shoulder width apart, about 0.9 of the trunk's length (Winter
2009: biacromial breadth 0.259, shoulder to hip 0.288 of body height). The ratio of the
mean of shoulder and hip width to the trunk length tells the view: below ``SIDE_MAX`` a
side view, above ``FRONTAL_MIN`` a frontal (or rear) one, oblique in between. It is a
running median over the last ``WINDOW`` frames, so a turn of the body between jumps shows.

What a view makes unreliable: flight time, jump height from it, takeoff and landing come
from the feet's vertical motion and hold in every view. Depths, CoM rise and CoM velocities
come from the segmental CoM, whose limbs are foreshortened when they point at the camera,
and from a scale that assumes the athlete upright across the image.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Final

from kinestream.operators.pose import Landmark, PoseSample

SIDE_MAX: Final = 0.3
FRONTAL_MIN: Final = 0.6
WINDOW: Final = 31
MIN_VISIBILITY: Final = 0.3
UNRELIABLE: Final = {
    "side": (),
    "oblique": ("countermovement_depth_m", "squat_depth_m"),
    "frontal": (
        "countermovement_depth_m",
        "squat_depth_m",
        "jump_height_com_m",
        "peak_eccentric_velocity_m_s",
        "peak_concentric_velocity_m_s",
        "drop_height_measured_m",
    ),
}
"""Per view, the metrics it makes unreliable."""
_TRUNK: Final = [
    Landmark.LEFT_SHOULDER,
    Landmark.RIGHT_SHOULDER,
    Landmark.LEFT_HIP,
    Landmark.RIGHT_HIP,
]


def width_ratio(sample: PoseSample) -> float | None:
    """Mean shoulder and hip width over trunk length in one frame; ``None`` if unseen."""
    lm = sample.landmarks
    if lm is None:
        return None
    trunk_points = lm[_TRUNK]
    if float(trunk_points[:, 3].min()) < MIN_VISIBILITY:
        return None
    (ls, rs, lh, rh) = (trunk_points[:, :2] * (sample.image_width, sample.image_height)).tolist()
    shoulders = math.dist(ls, rs)
    hips = math.dist(lh, rh)
    trunk = math.dist((ls[0] + rs[0], ls[1] + rs[1]), (lh[0] + rh[0], lh[1] + rh[1]))
    if trunk < 1e-6:
        return None
    return (shoulders + hips) / trunk  # mean width over the midpoints' distance


class ViewTracker:
    """The camera view over the last ``WINDOW`` frames with the trunk in sight."""

    def __init__(self) -> None:
        self._ratios: deque[float] = deque(maxlen=WINDOW)

    def push(self, sample: PoseSample) -> None:
        """Take one frame's shoulders and hips into account."""
        ratio = width_ratio(sample)
        if ratio is not None:
            self._ratios.append(ratio)

    @property
    def view(self) -> str:
        """``side``, ``oblique`` or ``frontal`` (``side`` until the trunk was seen)."""
        if not self._ratios:
            return "side"
        ratio = sorted(self._ratios)[len(self._ratios) // 2]
        if ratio < SIDE_MAX:
            return "side"
        return "frontal" if ratio > FRONTAL_MIN else "oblique"
