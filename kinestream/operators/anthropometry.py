"""Body measurements from one frame's landmarks: centre of mass, feet, eye level, leg length.

The centre of mass is the segmental method with Winter's (2009) mass fractions and CoM
locations. In a side view the left and right limbs overlap; each bilateral landmark pair is
merged into one point weighted by visibility, and landmarks below ``MIN_VISIBILITY`` are
ignored. Eye height is 0.936 of standing height (Drillis & Contini), which gives the
pixel-to-metre scale from the athlete's height.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

import numpy as np

from kinestream.operators.pose import (
    NUM_LANDMARKS,
    FloatArray,
    Landmark,
    PoseSample,
    checked_sample,
)
from kinestream.operators.view import width_ratios
from kinestream.slots import field_setters

MIN_VISIBILITY: Final = 0.5
EYE_HEIGHT_RATIO: Final = 0.936
FLAT_FOOT: Final = 0.02
"""Heel and toe within this share of the leg length of each other: the foot is flat."""
STRAY_DOUBT: Final = 0.2
FEET_APART: Final = (0.15, 0.3)
"""A pose model's stray leg: left and right heels (or toes) apart in height by this share
of the leg length (13 to 26 cm for a 1.75 m athlete, six to twelve times the landmarks'
noise), the higher one seen less surely than the lower one by ``STRAY_DOUBT`` of
visibility or more (MediaPipe's measured strays: 0.1-0.3 body heights, the leg's
visibility falling to 0.1-0.7). The lowest foot point moves from the visibility-weighted
mean, which would follow the stray a good way, to the lower one across the range, without
a step (a step across a threshold made a false flight as a stray's size crossed it).
Feet apart and seen alike keep the mean: on real footage MediaPipe's unsettled first
frames of a track put a leg far up at full visibility, and a foot leading in a hop."""

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
_PAIR_ROWS: Final = _PAIRS.reshape(-1)
_CORE: Final = [SHOULDER, HIP, KNEE, ANKLE]
_FEET: Final = [HEEL, TOE]
_FALLBACKS: Final = ((ELBOW, SHOULDER), (WRIST, ELBOW), (HEEL, ANKLE), (TOE, ANKLE))
"""A limb end out of view is taken where its segment starts (its segment mass stays)."""


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


(_set_com_x, _set_com_y, _set_foot, _set_eye, _set_leg, _set_visibility, _set_contact) = (
    field_setters(BodyMeasurement)
)


def _body(
    com_x: float,
    com_y: float,
    foot: float,
    eye: float,
    leg: float,
    visibility: float,
    contact: float,
) -> BodyMeasurement:
    """``BodyMeasurement(...)`` of checked values, set through the slots (a frozen
    dataclass's ``__init__`` costs twice as much)."""
    body: BodyMeasurement = object.__new__(BodyMeasurement)
    _set_com_x(body, com_x)
    _set_com_y(body, com_y)
    _set_foot(body, foot)
    _set_eye(body, eye)
    _set_leg(body, leg)
    _set_visibility(body, visibility)
    _set_contact(body, contact)
    return body


@dataclass(frozen=True, slots=True)
class MeasuredSample(PoseSample):
    """A pose sample with its body measurement, taken with others in one batch."""

    body: BodyMeasurement | None = None
    width_ratio: float | None = None
    """The trunk's width ratio (:func:`~kinestream.operators.view.width_ratio`)."""

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled as plain values, the arrays as raw bytes: a flow of several processes
        pickles each sample that crosses to another, and this costs a quarter of a
        dataclass holding arrays (5 µs instead of 19 to pickle and unpickle)."""
        body = self.body
        return (
            _unpickled,
            (
                self.seq,
                self.timestamp_s,
                self.image_width,
                self.image_height,
                None if self.landmarks is None else _raw(self.landmarks),
                None if self.world is None else _raw(self.world),
                None if body is None else tuple(getattr(body, f) for f in _BODY_FIELDS),
                self.width_ratio,
            ),
        )


_BODY_FIELDS: Final = [f.name for f in fields(BodyMeasurement)]


def _raw(values: FloatArray) -> bytes:
    return np.asarray(values, np.float64).tobytes()


def _unpickled(
    seq: int,
    timestamp_s: float,
    image_width: int,
    image_height: int,
    landmarks: bytes | None,
    world: bytes | None,
    body: tuple[float, ...] | None,
    width_ratio: float | None,
) -> MeasuredSample:
    """A :class:`MeasuredSample` from what its ``__reduce__`` gave (arrays read-only)."""
    out: MeasuredSample = checked_sample(
        seq,
        timestamp_s,
        image_width,
        image_height,
        None if landmarks is None else np.frombuffer(landmarks).reshape(NUM_LANDMARKS, 4),
        None if world is None else np.frombuffer(world).reshape(NUM_LANDMARKS, 3),
        cls=MeasuredSample,
    )
    _set_body(out, None if body is None else _body(*body))
    _set_ratio(out, width_ratio)
    return out


def measure(sample: PoseSample) -> BodyMeasurement | None:
    """Measure the body in one sample; ``None`` when no usable person is in it."""
    if isinstance(sample, MeasuredSample):
        return sample.body
    return measure_batch([sample])[0]


def measure_batch(samples: Sequence[PoseSample]) -> list[BodyMeasurement | None]:
    """Measure the body in many samples at once (of any streams and image sizes).

    Array operations over the whole batch: a frame costs a few microseconds in a batch of
    hundreds, where alone it costs tens (the fixed cost of each numpy call).
    """
    return _measure(samples, with_ratios=False)[0]


def measure_samples(
    samples: Sequence[PoseSample], landmarks: FloatArray | None = None
) -> list[MeasuredSample]:
    """The samples with their measurements (:func:`measure_batch`) and trunk width ratios
    (:func:`~kinestream.operators.view.width_ratios`), for :func:`measure` and the view to
    use without measuring again. ``landmarks``: the landmarks of the samples that have
    them, in order, already stacked (n, 33, 4) (:func:`~kinestream.wire.decode_poses`)."""
    bodies, ratios = _measure(samples, with_ratios=True, landmarks=landmarks)
    return [_measured(*row) for row in zip(samples, bodies, ratios, strict=True)]


*_, _set_body, _set_ratio = field_setters(MeasuredSample)


def _measured(sample: PoseSample, body: BodyMeasurement | None, ratio: float | None) -> Any:
    """``sample`` as a :class:`MeasuredSample`, set field by field: a checked sample need not
    be checked again (``__post_init__`` costs more than the rest of the copy)."""
    out = checked_sample(
        sample.seq,
        sample.timestamp_s,
        sample.image_width,
        sample.image_height,
        sample.landmarks,
        sample.world,
        cls=MeasuredSample,
    )
    _set_body(out, body)
    _set_ratio(out, ratio)
    return out


def _measure(
    samples: Sequence[PoseSample], *, with_ratios: bool, landmarks: FloatArray | None = None
) -> tuple[list[BodyMeasurement | None], list[float | None]]:
    """The samples' measurements and (``with_ratios``) trunk width ratios, else ``None``s;
    ``landmarks``, when given, those of the samples that have them, stacked."""
    found = [i for i, sample in enumerate(samples) if sample.landmarks is not None]
    out: list[BodyMeasurement | None] = [None] * len(samples)
    ratios: list[float | None] = [None] * len(samples)
    if not found:
        return out, ratios
    if landmarks is None:
        landmarks = np.stack([samples[i].landmarks for i in found])  # type: ignore[misc]
    elif landmarks.shape != (len(found), NUM_LANDMARKS, 4):
        raise ValueError(f"{len(found)} samples with landmarks, {landmarks.shape} stacked")
    size = np.array([(samples[i].image_width, samples[i].image_height) for i in found], float)
    columns = _measure_arrays(landmarks, size)
    for i, row in zip(found, zip(*columns, strict=True), strict=True):
        if row[-1]:
            out[i] = _body(*row[:-1])
    if with_ratios:
        for i, ratio in zip(found, width_ratios(landmarks, size), strict=True):
            ratios[i] = ratio
    return out, ratios


def _measure_arrays(landmarks: FloatArray, size: FloatArray) -> list[list[Any]]:
    """The measurements of ``landmarks`` (n, 33, 4) in images of ``size`` (n, 2) pixels, as
    lists: the :class:`BodyMeasurement` fields in order, then whether the core was seen."""
    n = len(landmarks)
    rows = landmarks[:, _PAIR_ROWS]
    vis = rows[:, :, 3]
    weight = np.where(vis >= MIN_VISIBILITY, vis, 0.0).reshape(n, 10, 2)
    total = weight.sum(axis=2)
    seen = total > 0
    safe = np.where(seen, total, 1.0)
    # Each pair merged by visibility, in pixels: (n, 10, 2) for x and y.
    xy = (weight[:, :, :, None] * rows[:, :, :2].reshape(n, 10, 2, 2)).sum(axis=2)
    xy *= size[:, None, :] / safe[:, :, None]
    # An unseen ear: at the eyes, else above the shoulders by 0.41 of the trunk length
    # (Drillis & Contini).
    trunk_up = xy[:, SHOULDER].copy()
    trunk_up[:, 1] -= 0.41 * (xy[:, HIP, 1] - xy[:, SHOULDER, 1])
    head = np.where(seen[:, EYE, None], xy[:, EYE], trunk_up)
    xy[:, EAR] = np.where(seen[:, EAR, None], xy[:, EAR], head)
    for limb, fallback in _FALLBACKS:
        xy[:, limb] = np.where(seen[:, limb, None], xy[:, limb], xy[:, fallback])
    # Not a matrix product: BLAS rounds by batch size, and a frame's result must not.
    com = (xy * _COM_WEIGHTS[:, None]).sum(axis=1)
    y = xy[:, :, 1]
    thigh = xy[:, HIP] - xy[:, KNEE]
    shank = xy[:, KNEE] - xy[:, ANKLE]
    leg = np.hypot(thigh[:, 0], thigh[:, 1]) + np.hypot(shank[:, 0], shank[:, 1])
    # A stray leg (FEET_APART): the lower heel or toe, not the pair's mean.
    sides = rows[:, :, 1].reshape(n, 10, 2)[:, _FEET] * size[:, 1, None, None]
    lower = sides.argmax(axis=2)[:, :, None]
    sure = weight[:, _FEET]
    lower_sure = np.take_along_axis(sure, lower, axis=2)[:, :, 0]
    higher_sure = np.take_along_axis(sure, 1 - lower, axis=2)[:, :, 0]
    stray = (higher_sure > 0.0) & (higher_sure < lower_sure - STRAY_DOUBT)
    apart = np.abs(sides[:, :, 0] - sides[:, :, 1]) / np.maximum(leg, 1e-9)[:, None]
    near, far = FEET_APART
    share = np.where(stray, np.clip((apart - near) / (far - near), 0.0, 1.0), 0.0)
    feet = y[:, _FEET] + share * (sides.max(axis=2) - y[:, _FEET])
    heel = np.where(seen[:, HEEL], feet[:, 0], np.nan)
    toe = np.where(seen[:, TOE], feet[:, 1], np.nan)
    foot = np.fmax(heel, toe)
    eye = np.where(seen[:, EYE], y[:, EYE], np.where(seen[:, EAR], y[:, EAR], np.nan))
    flat = np.abs(heel - toe) < FLAT_FOOT * leg  # False where either is unseen (NaN)
    contact = np.where(flat, 0.5 * (heel + toe), foot)
    core_vis = total[:, _CORE].sum(axis=1) / (2.0 * len(_CORE))
    valid = seen[:, _CORE].all(axis=1)
    return [
        com[:, 0].tolist(),
        com[:, 1].tolist(),
        foot.tolist(),
        eye.tolist(),
        leg.tolist(),
        core_vis.tolist(),
        contact.tolist(),
        valid.tolist(),
    ]


def standing_height_px(foot_y_px: float, eye_y_px: float) -> float:
    """Standing body height in pixels from floor and eye level."""
    return (foot_y_px - eye_y_px) / EYE_HEIGHT_RATIO
