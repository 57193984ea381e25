"""Body measurement: the vectorised batch against a per-segment reference written here.

The reference takes Winter's (2009, table 4.1) segment parameters one segment at a time, in
plain Python, as documented in :mod:`kinestream.operators.anthropometry`; it does not call
the module's code.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import replace

import numpy as np
import pytest

from kinestream.operators.anthropometry import (
    BodyMeasurement,
    MeasuredSample,
    measure,
    measure_batch,
    measure_samples,
)
from kinestream.operators.pose import Landmark, PoseSample
from kinestream.operators.view import width_ratio
from kinestream.simulation.camera import Camera
from kinestream.simulation.scenarios import quiet_standing

# Winter (2009): segment, mass fraction of the body, proximal and distal point, CoM location
# from the proximal end as a fraction of the segment length; bilateral segments count twice.
# The head's CoM is at the ear; the foot's is taken at the centroid of heel, ankle and toe.
SEGMENTS = (
    ("head", 0.081, "ear", "ear", 0.0, 1),
    ("trunk", 0.497, "shoulder", "hip", 0.5, 1),
    ("upper_arm", 0.028, "shoulder", "elbow", 0.436, 2),
    ("forearm_hand", 0.022, "elbow", "wrist", 0.682, 2),
    ("thigh", 0.100, "hip", "knee", 0.433, 2),
    ("shank", 0.0465, "knee", "ankle", 0.433, 2),
)
FOOT_MASS = 0.0145
LANDMARKS = {
    "eye": (2, 5),
    "ear": (7, 8),
    "shoulder": (11, 12),
    "elbow": (13, 14),
    "wrist": (15, 16),
    "hip": (23, 24),
    "knee": (25, 26),
    "ankle": (27, 28),
    "heel": (29, 30),
    "toe": (31, 32),
}
CORE = ("shoulder", "hip", "knee", "ankle")


def reference(sample: PoseSample) -> BodyMeasurement | None:
    """The measurement, segment by segment, from the documented rules."""
    assert sample.landmarks is not None
    size = (sample.image_width, sample.image_height)
    point: dict[str, tuple[float, float]] = {}
    weight: dict[str, float] = {}
    for name, pair in LANDMARKS.items():
        visible = [(float(sample.landmarks[i, 3]), i) for i in pair]
        visible = [(v, i) for v, i in visible if v >= 0.5]
        weight[name] = sum(v for v, _ in visible)
        if visible:
            point[name] = tuple(  # type: ignore[assignment]
                sum(v * float(sample.landmarks[i, c]) for v, i in visible) / weight[name] * size[c]
                for c in (0, 1)
            )
    if any(name not in point for name in CORE):
        return None
    seen = set(point)
    if "ear" not in seen:
        shoulder, hip = point["shoulder"], point["hip"]
        point["ear"] = point.get("eye", (shoulder[0], shoulder[1] - 0.41 * (hip[1] - shoulder[1])))
    for limb, start in (
        ("elbow", "shoulder"),
        ("wrist", "elbow"),
        ("heel", "ankle"),
        ("toe", "ankle"),
    ):
        point.setdefault(limb, point[start])
    com = [0.0, 0.0]
    for _, mass, proximal, distal, along, count in SEGMENTS:
        for c in (0, 1):
            p, d = point[proximal][c], point[distal][c]
            com[c] += count * mass * (p + along * (d - p))
    for c in (0, 1):
        com[c] += 2 * FOOT_MASS * (point["heel"][c] + point["ankle"][c] + point["toe"][c]) / 3
    leg = math.dist(point["hip"], point["knee"]) + math.dist(point["knee"], point["ankle"])

    def lower_if_apart(name: str) -> float:
        # Left and right 0.15 to 0.3 of the leg apart in height, the higher one 0.2 less
        # visible: from the mean to the lower one.
        assert sample.landmarks is not None
        sides = [float(sample.landmarks[i, 1]) * size[1] for i in LANDMARKS[name]]
        seen = [float(sample.landmarks[i, 3]) for i in LANDMARKS[name]]
        lower = 0 if sides[0] >= sides[1] else 1
        if min(seen) < 0.5 or seen[1 - lower] >= seen[lower] - 0.2:
            return point[name][1]
        share = min(max((abs(sides[0] - sides[1]) / leg - 0.15) / 0.15, 0.0), 1.0)
        return point[name][1] + share * (sides[lower] - point[name][1])

    feet = [lower_if_apart(f) for f in ("heel", "toe") if f in seen]
    foot = max(feet) if feet else math.nan
    eye = point["eye"][1] if "eye" in seen else point["ear"][1] if "ear" in seen else math.nan
    contact = foot
    if len(feet) == 2 and abs(feet[0] - feet[1]) < 0.02 * leg:
        contact = (feet[0] + feet[1]) / 2
    visibility = sum(weight[name] for name in CORE) / 8
    return BodyMeasurement(com[0], com[1], foot, eye, leg, visibility, contact)


def random_samples(count: int, seed: int) -> list[PoseSample]:
    """Random poses in random image sizes; visibilities straddle the 0.5 threshold, so every
    fallback (ear, limbs, feet) and the missing-core case occur."""
    rng = np.random.default_rng(seed)
    samples = []
    for seq in range(count):
        landmarks = rng.random((33, 4))
        landmarks[:, 3] = rng.choice(
            [0.0, 0.3, 0.5, 0.7, 0.95, 1.0], size=33, p=[0.1, 0.15, 0.05, 0.2, 0.3, 0.2]
        )
        width, height = (int(v) for v in rng.integers(64, 4000, size=2))
        samples.append(PoseSample(seq, float(seq), width, height, landmarks if seq % 17 else None))
    return samples


def assert_same(got: BodyMeasurement | None, want: BodyMeasurement | None) -> None:
    assert (got is None) == (want is None)
    if got is None or want is None:
        return
    for field in BodyMeasurement.__slots__:
        a, b = getattr(got, field), getattr(want, field)
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=0, abs=1e-9), field


def test_batch_agrees_with_the_segment_reference_on_random_poses() -> None:
    samples = random_samples(3000, seed=7)
    got = measure_batch(samples)
    want = [reference(s) if s.landmarks is not None else None for s in samples]
    for g, w in zip(got, want, strict=True):
        assert_same(g, w)
    measured = [w for w in want if w is not None]
    # The random poses reach every branch: missing core, unseen feet, eyes and ears.
    assert 0 < len(measured) < len(samples)
    assert any(math.isnan(m.foot_y_px) for m in measured)
    assert any(math.isnan(m.eye_y_px) for m in measured)
    assert any(m.contact_y_px != m.foot_y_px for m in measured)


def test_a_frame_measures_the_same_alone_and_in_any_batch() -> None:
    samples = [s for s in random_samples(200, seed=3) if measure(s) is not None]
    alone = [repr(measure(s)) for s in samples]
    assert [repr(b) for b in measure_batch(samples)] == alone
    assert [repr(b) for b in measure_batch(samples[::-1])] == alone[::-1]


def test_a_measured_sample_keeps_its_measurement_and_pickles() -> None:
    samples = random_samples(50, seed=5)
    measured = measure_samples(samples)
    for sample, with_body in zip(samples, measured, strict=True):
        assert isinstance(with_body, MeasuredSample)
        assert (with_body.seq, with_body.timestamp_s) == (sample.seq, sample.timestamp_s)
        assert measure(with_body) is with_body.body
        assert_same(with_body.body, measure(sample))
    restored = pickle.loads(pickle.dumps(measured[1]))
    assert_same(restored.body, measured[1].body)


def test_a_measured_sample_pickles_whole() -> None:
    """Every field comes back, with world landmarks or without, with a person or without
    (a flow of several processes pickles the samples that cross between them)."""
    samples = random_samples(40, seed=11)
    rng = np.random.default_rng(11)
    with_world = [replace(s, world=rng.normal(size=(33, 3))) for s in samples[:20]]
    for original in measure_samples(with_world + samples[20:]):
        restored = pickle.loads(pickle.dumps(original))
        assert type(restored) is MeasuredSample
        for name in ("seq", "timestamp_s", "image_width", "image_height", "width_ratio"):
            assert getattr(restored, name) == getattr(original, name), name
        for name in ("landmarks", "world"):
            a, b = getattr(restored, name), getattr(original, name)
            assert (a is None and b is None) or np.array_equal(a, b), name
        if original.body is None:
            assert restored.body is None
        else:
            assert_same(restored.body, original.body)
    assert any(s.landmarks is None for s in samples)


def test_a_measured_sample_carries_the_views_width_ratio_exactly() -> None:
    samples = random_samples(400, seed=11)
    alone = [width_ratio(s) for s in samples]
    assert [width_ratio(m) for m in measure_samples(samples)] == alone
    assert [m.width_ratio for m in measure_samples(samples[::-1])] == alone[::-1]
    # Both kinds occur: trunks in view (a ratio) and out of view or absent (None).
    assert any(r is None for r in alone)
    assert any(r is not None for r in alone)


def test_an_empty_batch_and_a_batch_without_people() -> None:
    assert measure_batch([]) == []
    nobody = PoseSample(0, 0.0, 640, 480, None)
    assert measure_batch([nobody, nobody]) == [None, None]


RIGHT_LEG = [
    Landmark.RIGHT_KNEE,
    Landmark.RIGHT_ANKLE,
    Landmark.RIGHT_HEEL,
    Landmark.RIGHT_FOOT_INDEX,
]


@pytest.mark.parametrize("lift_bh", [0.0, 0.05, 0.15, 0.25])
@pytest.mark.parametrize("visibility", [0.6, 0.95])
def test_a_stray_leg_leaves_the_lowest_foot_point_on_the_floor(
    lift_bh: float, visibility: float
) -> None:
    """One leg's landmarks lifted by ``lift_bh`` body heights at ``visibility`` (the planted
    one's about 1): seen less surely (a pose model's stray leg), from 0.3 leg lengths
    apart (0.15 body heights) the lowest foot point stays on the planted foot within a
    pixel; nearer, or seen as surely, the feet merge by visibility as before."""
    trial = quiet_standing(1.0, Camera(noise_px=0.0), seed=1)
    sample = trial.samples[10]
    assert sample.landmarks is not None
    planted = measure(sample)
    assert planted is not None
    landmarks = sample.landmarks.copy()
    height_px = trial.athlete_height_m * trial.camera.px_per_m
    landmarks[RIGHT_LEG, 1] -= lift_bh * height_px / sample.image_height
    landmarks[RIGHT_LEG, 3] = visibility
    lifted = measure(PoseSample(0, 0.0, sample.image_width, sample.image_height, landmarks))
    assert lifted is not None
    if lift_bh >= 0.15 and visibility < 0.7:
        assert lifted.foot_y_px == pytest.approx(planted.foot_y_px, abs=1.0)
    else:
        left = float(landmarks[Landmark.LEFT_HEEL, 3])
        merged = planted.foot_y_px - visibility / (left + visibility) * lift_bh * height_px
        assert lifted.foot_y_px == pytest.approx(merged, abs=1.0)
