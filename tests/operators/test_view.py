"""Any camera view: the view is found and reported, timing holds, a moving camera warns.

The simulator films from the side; a frontal or oblique view is made from it by moving the
left landmarks one way across the image and the right ones the other (a shoulder and hip
width of 0.4 m, or 0.2 m, against a trunk of 0.52 m), and by raising the toe landmarks with
the ankles as MediaPipe does where it cannot see the foot's pitch (all of
``FRONTAL_TOE_SHARE`` from the front, half of it oblique). The analysis times the feet
against the toe stand that view reads (``TOE_STAND_LIFT``), so flight time must stay within
a quarter frame (test_accuracy's bound).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from bench.bench_lead_in import session, with_lead_in
from kinestream.operators.pose import Landmark
from kinestream.operators.view import UNRELIABLE
from kinestream.simulation.body import ANKLE_HEIGHT
from kinestream.simulation.camera import FRONTAL_TOE_SHARE, Camera
from kinestream.simulation.scenarios import Trial, countermovement_jumps
from kinestream.sports import Sport
from tests.operators.test_accuracy import analyse, reps_of

ANKLES_AND_TOES = (
    (Landmark.LEFT_ANKLE, Landmark.LEFT_FOOT_INDEX),
    (Landmark.RIGHT_ANKLE, Landmark.RIGHT_FOOT_INDEX),
)
LEFT = [i for i in range(1, 33) if (i >= 11 and i % 2 == 1) or i in (1, 2, 3, 7, 9)]
RIGHT = [i for i in range(1, 33) if (i >= 11 and i % 2 == 0) or i in (4, 5, 6, 8, 10)]


def widened(
    trial: Trial, half_width_m: float, until_s: float = math.inf, toe_share: float = 0.0
) -> Trial:
    """``trial`` filmed from a view whose shoulders and hips are ``2 * half_width_m`` wide,
    up to capture time ``until_s`` (from the side after it), its toe landmarks raised by
    ``toe_share`` of the ankles' rise as the heels come up (as MediaPipe places them where
    it cannot see the foot's pitch, :data:`~kinestream.simulation.camera.FRONTAL_TOE_SHARE`
    from the front)."""
    camera = trial.camera
    shift = half_width_m * camera.px_per_m / camera.width
    flat = ANKLE_HEIGHT * trial.athlete_height_m * camera.px_per_m / camera.height
    samples = []
    for sample in trial.samples:
        if sample.landmarks is not None and sample.timestamp_s <= until_s:
            landmarks = sample.landmarks.copy()
            landmarks[LEFT, 0] += shift
            landmarks[RIGHT, 0] -= shift
            landmarks[RIGHT, 3] = np.maximum(landmarks[RIGHT, 3], 0.9)
            for ankle, toe in ANKLES_AND_TOES:
                rise = landmarks[toe, 1] - landmarks[ankle, 1] - flat
                landmarks[toe, 1] -= toe_share * max(rise, 0.0)
            sample = replace(sample, landmarks=landmarks)
        samples.append(sample)
    return replace(trial, samples=samples)


@pytest.mark.parametrize(
    ("half_width_m", "toe_share", "view"),
    [
        (0.0, 0.0, "side"),
        (0.1, FRONTAL_TOE_SHARE / 2, "oblique"),
        (0.2, FRONTAL_TOE_SHARE, "frontal"),
    ],
)
def test_view_is_reported_with_what_it_makes_unreliable(
    half_width_m: float, toe_share: float, view: str
) -> None:
    trial = countermovement_jumps(reps=1, camera=Camera(fps=60), seed=31)
    events = analyse(widened(trial, half_width_m, toe_share=toe_share))
    reps = [e.payload for e in events if e.event_type == "rep_complete"]
    assert len(reps) == 1
    quality = reps[0]["quality"]
    assert quality["view"] == view
    assert quality["unreliable_metrics"] == list(UNRELIABLE[view])
    if view == "frontal":
        assert "countermovement_depth_m" in quality["unreliable_metrics"]
    assert reps[0]["metrics"]["flight_time_s"] == pytest.approx(
        trial.reps[0].flight_time_s, abs=0.25 / 60
    )


def test_a_rep_found_late_reports_the_view_it_was_filmed_in() -> None:
    """A clip that starts with the jump, filmed from the front, after which the athlete
    turns side-on and stands still: the stream calibrates on that standing and analyses
    the jump late, from its look-back. The rep's view (and the metrics it makes
    unreliable: depth from a frontal view) is the view during the jump, not the side view
    seen at the calibration."""
    trial = with_lead_in(session(Sport.CMJ, 60, 33), 33, 0.0)
    turned_s = trial.reps[0].landing_s + 0.5
    events = analyse(widened(trial, 0.2, until_s=turned_s, toe_share=FRONTAL_TOE_SHARE))
    reps = [e.payload for e in events if e.event_type == "rep_complete"]
    assert len(reps) == 1
    assert reps[0]["quality"]["calibrated_after_movement"] is True
    assert reps[0]["quality"]["view"] == "frontal"
    assert "countermovement_depth_m" in reps[0]["quality"]["unreliable_metrics"]


def test_a_camera_that_tilts_is_followed_and_warned_about_once() -> None:
    # From 0.5 s on the image moves down by 12 px/s (3.3 cm/s at 360 px/m): 8 cm by the
    # end. The feet's surface is followed, so the jump is still timed within one frame.
    trial = countermovement_jumps(reps=1, camera=Camera(fps=60), seed=32)
    t0 = trial.samples[0].timestamp_s + 0.5
    samples = []
    for sample in trial.samples:
        if sample.landmarks is not None and sample.timestamp_s > t0:
            landmarks = sample.landmarks.copy()
            landmarks[:, 1] += 12.0 * (sample.timestamp_s - t0) / sample.image_height
            sample = replace(sample, landmarks=landmarks)
        samples.append(sample)
    events = analyse(replace(trial, samples=samples))
    codes = [e.payload["code"] for e in events if e.event_type == "quality_warning"]
    assert codes.count("camera_moved") == 1
    reps = reps_of(events)
    assert len(reps) == 1
    assert reps[0]["flight_time_s"] == pytest.approx(trial.reps[0].flight_time_s, abs=1 / 60)
