"""Which way the camera looks at the athlete: side, oblique or frontal (or rear).

In a side view the left and right shoulders (and hips) overlap in the image; seen from the
front or the back they are apart. MediaPipe puts them at the joint centres: from the front,
shoulders 0.62 and hips 0.37 of the trunk's length apart, a ratio of their mean width to
the trunk length of 0.50 (median over the demo clip's frontal hops, quartiles 0.44-0.53;
side-on 0.1-0.2; ``bench/measure_frontal_feet.py``). Below ``SIDE_MAX`` a side view, above
``FRONTAL_MIN`` a frontal (or rear) one (within about 35 degrees of facing the camera),
oblique in between. It is a running median over the last ``WINDOW`` frames, so a turn of
the body between jumps shows.

What a view makes unreliable: flight time, jump height from it, takeoff and landing come
from the feet's vertical motion and hold in every view. Depths, CoM rise and CoM velocities
come from the segmental CoM, whose limbs are foreshortened when they point at the camera,
and from a scale that assumes the athlete upright across the image. What a view changes:
from the front a pose model cannot see the foot's pitch, and the lowest foot landmark
reads centimetres above the surface while the toes are on it (:data:`TOE_STAND_LIFT`).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Final

from kinestream.operators.pose import FloatArray, Landmark, PoseSample

SIDE_MAX: Final = 0.2
FRONTAL_MIN: Final = 0.4
WINDOW: Final = 31
MIN_VISIBILITY: Final = 0.3
CHANGE_EVERY: Final = 8
CHANGES_KEPT: Final = 32
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
TOE_STAND_LIFT: Final = {"side": 0.0, "oblique": 0.022, "frontal": 0.044}
"""Per view, how high the lowest foot point (heels and toes merged over both feet) reads
above the floor, in standing body heights, while the feet stand on their toes at a takeoff
or a landing. From the side the foot's pitch shows and the toe landmark stays on the
floor. From the front MediaPipe moves it with the ankle: by 0.76 of the ankle's rise as the
heel comes up (median of 20 feet, ``bench/measure_frontal_feet.py``), and the ankle rises
0.058 body heights with the heel 35 degrees up, so 0.044. At the demo clip's frontal
contact frames it read 0.041 (median of 10, quartiles 0.036-0.047), the frame before the
toes leave or after they land, lower than at those instants. Oblique: half."""
_TRUNK: Final = [
    Landmark.LEFT_SHOULDER,
    Landmark.RIGHT_SHOULDER,
    Landmark.LEFT_HIP,
    Landmark.RIGHT_HIP,
]


_NOT_MEASURED: Final = object()


def width_ratio(sample: PoseSample) -> float | None:
    """Mean shoulder and hip width over trunk length in one frame; ``None`` if unseen.

    A sample measured in a batch (:class:`~kinestream.operators.anthropometry.MeasuredSample`)
    carries its ratio, taken by :func:`width_ratios`."""
    measured = getattr(sample, "width_ratio", _NOT_MEASURED)
    if measured is not _NOT_MEASURED:
        return measured  # type: ignore[return-value]
    lm = sample.landmarks
    if lm is None:
        return None
    trunk_points = lm[_TRUNK]
    if float(trunk_points[:, 3].min()) < MIN_VISIBILITY:
        return None
    (ls, rs, lh, rh) = (trunk_points[:, :2] * (sample.image_width, sample.image_height)).tolist()
    return _ratio(ls, rs, lh, rh)


def width_ratios(landmarks: FloatArray, size: FloatArray) -> list[float | None]:
    """:func:`width_ratio` of many frames, ``landmarks`` (n, 33, 4) in images of ``size``
    (n, 2) pixels: the same numbers, the array work done once for the batch."""
    trunk = landmarks[:, _TRUNK]
    seen = (trunk[:, :, 3].min(axis=1) >= MIN_VISIBILITY).tolist()
    points = (trunk[:, :, :2] * size[:, None, :]).tolist()
    return [_ratio(*p) if ok else None for p, ok in zip(points, seen, strict=True)]


def _ratio(ls: list[float], rs: list[float], lh: list[float], rh: list[float]) -> float | None:
    shoulders = math.dist(ls, rs)
    hips = math.dist(lh, rh)
    trunk = math.dist((ls[0] + rs[0], ls[1] + rs[1]), (lh[0] + rh[0], lh[1] + rh[1]))
    if trunk < 1e-6:
        return None
    return (shoulders + hips) / trunk  # mean width over the midpoints' distance


class ViewTracker:
    """The camera view over the last ``WINDOW`` frames with the trunk in sight, and when it
    last changed (every ``CHANGE_EVERY`` such frames, ``CHANGES_KEPT`` changes), so that
    frames analysed late (a stream's look-back) are taken in the view they were filmed in.
    """

    _changes: deque[tuple[float, str]] | None = None
    """(time, view) at each change of view; a class default for trackers snapshotted
    before it existed."""
    _pushed = 0

    def __init__(self) -> None:
        self._ratios: deque[float] = deque(maxlen=WINDOW)

    def push(self, sample: PoseSample) -> None:
        """Take one frame's shoulders and hips into account."""
        ratio = width_ratio(sample)
        if ratio is None:
            return
        self._ratios.append(ratio)
        self._pushed += 1
        if self._pushed % CHANGE_EVERY == 1 or self._changes is None:
            if self._changes is None:
                self._changes = deque(maxlen=CHANGES_KEPT)
            view = self.view
            if not self._changes or self._changes[-1][1] != view:
                self._changes.append((sample.timestamp_s, view))

    def view_at(self, time_s: float) -> str:
        """The view at capture time ``time_s`` (the first one known for earlier times; the
        current one without a record)."""
        found = None
        for since, view in self._changes or ():
            if since > time_s:
                break
            found = view
        if found is None:
            return self._changes[0][1] if self._changes else self.view
        return found

    @property
    def view(self) -> str:
        """``side``, ``oblique`` or ``frontal`` (``side`` until the trunk was seen)."""
        if not self._ratios:
            return "side"
        ratio = sorted(self._ratios)[len(self._ratios) // 2]
        if ratio < SIDE_MAX:
            return "side"
        return "frontal" if ratio > FRONTAL_MIN else "oblique"
