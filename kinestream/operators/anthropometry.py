"""Body measurements from one frame's landmarks: centre of mass, feet, eye level, leg length.

The centre of mass is the segmental method with Winter's (2009) mass fractions and CoM
locations. In a side view the left and right limbs overlap; each bilateral landmark pair is
merged into one point weighted by visibility, and landmarks below ``MIN_VISIBILITY`` are
ignored. Eye height is 0.936 of standing height (Drillis & Contini), which gives the
pixel-to-metre scale from the athlete's height.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from kinestream.operators.pose import Landmark, PoseSample

MIN_VISIBILITY: Final = 0.5
EYE_HEIGHT_RATIO: Final = 0.936
FLAT_FOOT: Final = 0.02
"""Heel and toe within this share of the leg length of each other: the foot is flat."""

_PAIRS: Final = np.array(
    [
        (Landmark.LEFT_EAR, Landmark.RIGHT_EAR),
        (Landmark.LEFT_SHOULDER, Landmark.RIGHT_SHOULDER),
        (Landmark.LEFT_ELBOW, Landmark.RIGHT_ELBOW),
        (Landmark.LEFT_WRIST, Landmark.RIGHT_WRIST),
        (Landmark.LEFT_HIP, Landmark.RIGHT_HIP),
        (Landmark.LEFT_KNEE, Landmark.RIGHT_KNEE),
        (Landmark.LEFT_ANKLE, Landmark.RIGHT_ANKLE),
        (Landmark.LEFT_HEEL, Landmark.RIGHT_HEEL),
        (Landmark.LEFT_FOOT_INDEX, Landmark.RIGHT_FOOT_INDEX),
        (Landmark.LEFT_EYE, Landmark.RIGHT_EYE),
    ]
)
EAR, SHOULDER, ELBOW, WRIST, HIP, KNEE, ANKLE, HEEL, TOE, EYE = range(10)

# Whole-body CoM as a linear combination of the merged points (Winter 2009):
# head at the ear; trunk 0.5 shoulder-hip; upper arm 0.436 from shoulder; forearm and hand
# 0.682 from elbow to wrist; thigh 0.433 from hip; shank 0.433 from knee; foot at the mean
# of heel, ankle and toe. Bilateral segments count twice.
_COM_WEIGHTS: Final = np.zeros(10)
_COM_WEIGHTS[EAR] += 0.081
_COM_WEIGHTS[[HIP, SHOULDER]] += 0.497 * 0.5
_COM_WEIGHTS[SHOULDER] += 2 * 0.028 * (1 - 0.436)
_COM_WEIGHTS[ELBOW] += 2 * 0.028 * 0.436 + 2 * 0.022 * (1 - 0.682)
_COM_WEIGHTS[WRIST] += 2 * 0.022 * 0.682
_COM_WEIGHTS[HIP] += 2 * 0.100 * (1 - 0.433)
_COM_WEIGHTS[KNEE] += 2 * 0.100 * 0.433 + 2 * 0.0465 * (1 - 0.433)
_COM_WEIGHTS[ANKLE] += 2 * 0.0465 * 0.433 + 2 * 0.0145 / 3
_COM_WEIGHTS[[HEEL, TOE]] += 2 * 0.0145 / 3
_COM_WEIGHT_LIST: Final = _COM_WEIGHTS.tolist()
_PAIR_ROWS: Final = _PAIRS.reshape(-1)
_CORE: Final = (SHOULDER, HIP, KNEE, ANKLE)


@dataclass(frozen=True, slots=True)
class BodyMeasurement:
    """What one frame tells about the body, in pixels (image ``y`` grows downwards)."""

    com_x_px: float
    com_y_px: float
    foot_y_px: float
    """Lowest foot point (heel or toe, each merged over both feet); NaN when unseen."""
    eye_y_px: float
    """Eye level; NaN when neither eyes nor ears are visible."""
    leg_length_px: float
    """Hip-knee plus knee-ankle length, which no posture changes in a side view."""
    visibility: float
    """Mean visibility of the merged core landmarks."""
    contact_y_px: float
    """Where the feet meet a surface they stand on: the mean of heel and toe when the foot is
    flat (both within ``FLAT_FOOT`` leg lengths), else the lowest point. The lowest of two
    noisy points sits about half their noise too low; their mean does not, which matters
    for the floor that takeoff and touchdown are timed against. NaN when unseen."""


def measure(sample: PoseSample) -> BodyMeasurement | None:
    """Measure the body in one sample; ``None`` when no usable person is in it."""
    if sample.landmarks is None:
        return None
    rows = sample.landmarks[_PAIR_ROWS]
    vis = rows[:, 3]
    weight = np.where(vis >= MIN_VISIBILITY, vis, 0.0).reshape(-1, 2)
    total = weight.sum(axis=1)
    seen = (total > 0).tolist()
    if not all(seen[i] for i in _CORE):
        return None
    safe = np.where(total > 0, total, 1.0)
    mx = ((weight * rows[:, 0].reshape(-1, 2)).sum(axis=1) / safe * sample.image_width).tolist()
    my = ((weight * rows[:, 1].reshape(-1, 2)).sum(axis=1) / safe * sample.image_height).tolist()
    if not seen[EAR]:
        # Neck-to-ear is 0.41 of the trunk length (Drillis & Contini).
        mx[EAR] = mx[EYE] if seen[EYE] else mx[SHOULDER]
        my[EAR] = my[EYE] if seen[EYE] else my[SHOULDER] - 0.41 * (my[HIP] - my[SHOULDER])
    for limb, fallback in ((ELBOW, SHOULDER), (WRIST, ELBOW), (HEEL, ANKLE), (TOE, ANKLE)):
        if not seen[limb]:
            mx[limb], my[limb] = mx[fallback], my[fallback]
    com_x = sum(w * v for w, v in zip(_COM_WEIGHT_LIST, mx, strict=True))
    com_y = sum(w * v for w, v in zip(_COM_WEIGHT_LIST, my, strict=True))
    feet = [my[i] for i in (HEEL, TOE) if seen[i]]
    foot_y = max(feet) if feet else math.nan
    eye_y = my[EYE] if seen[EYE] else my[EAR] if seen[EAR] else math.nan
    leg = math.hypot(mx[HIP] - mx[KNEE], my[HIP] - my[KNEE]) + math.hypot(
        mx[KNEE] - mx[ANKLE], my[KNEE] - my[ANKLE]
    )
    contact_y = foot_y
    if len(feet) == 2 and abs(feet[0] - feet[1]) < FLAT_FOOT * leg:
        contact_y = 0.5 * (feet[0] + feet[1])
    core_vis = sum(float(total[i]) for i in _CORE) / (2.0 * len(_CORE))
    return BodyMeasurement(com_x, com_y, foot_y, eye_y, leg, core_vis, contact_y)


def standing_height_px(foot_y_px: float, eye_y_px: float) -> float:
    """Standing body height in pixels from floor and eye level."""
    return (foot_y_px - eye_y_px) / EYE_HEIGHT_RATIO
