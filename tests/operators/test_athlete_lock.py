"""Keeping to one athlete when the pose tracker jumps to someone else.

Reach is physics: 12 leg lengths per second plus one leg length; a far detection after a
gap waits 1 s as a candidate (see athlete_lock.py).
The synthetic scenes splice a passer-by, filmed by the same camera 1.6-2 m from the athlete,
into a countermovement-jump session, as a single-person tracker does when it switches.
"""

from __future__ import annotations

import numpy as np
import pytest

from kinestream.operators.anthropometry import BodyMeasurement
from kinestream.operators.athlete_lock import PROMOTE_S, RELEASE_AFTER_S, AthleteLock
from kinestream.operators.pose import PoseSample
from kinestream.simulation.camera import Camera, film
from kinestream.simulation.scenarios import countermovement_jumps, walking_landmarks
from tests.operators.test_accuracy import analyse, check_flight, reps_of

LEG_PX = 100.0


def body(x_legs: float, y_legs: float = 0.0) -> BodyMeasurement:
    return BodyMeasurement(x_legs * LEG_PX, y_legs * LEG_PX, 900.0, 100.0, LEG_PX, 0.95, 900.0)


def test_the_first_person_seen_is_the_athlete_and_is_followed() -> None:
    lock = AthleteLock()
    assert not lock.locked
    assert lock.accept(0.0, body(0.0))
    assert lock.locked
    # A jump is fast, but within reach: 0.5 leg lengths in one 60 fps frame.
    assert lock.accept(1 / 60, body(0.0, -0.5))
    assert lock.accept(2 / 60, body(0.1, -0.9))


def test_someone_out_of_reach_is_dropped_and_so_is_their_track() -> None:
    lock = AthleteLock()
    assert lock.accept(0.0, body(0.0))
    # The tracker jumps 3 leg lengths in 0.1 s: out of reach (12 * 0.1 + 1 = 2.2).
    assert not lock.accept(0.1, body(3.0))
    # Half a second later the athlete could be 7 leg lengths away, but this detection
    # continues the other person's track, so it is still the other person.
    assert not lock.accept(0.5, body(2.5))
    # The athlete comes back near where they were: accepted again.
    assert lock.accept(0.6, body(0.2))
    # And the other person's old track no longer matters.
    assert not lock.accept(0.6 + 1 / 60, body(4.0))


def test_someone_far_away_after_a_gap_waits_as_a_candidate() -> None:
    lock = AthleteLock()
    assert lock.accept(0.0, body(0.0))
    # Unseen for 0.4 s, then someone 3 leg lengths away: within reach (5.8), but far.
    assert not lock.accept(0.4, body(3.0))
    assert not lock.accept(0.4 + 1 / 60, body(3.0))
    # The athlete reappears near their old place: the candidate was someone else ...
    assert lock.accept(0.5, body(0.1))
    # ... whose track is now dropped.
    assert not lock.accept(0.5 + 1 / 60, body(2.9))


def test_a_candidate_that_lasts_becomes_the_athlete() -> None:
    # The athlete moved while unseen (e.g. stepped back onto the box, out of view).
    lock = AthleteLock()
    assert lock.accept(0.0, body(0.0))
    times = [0.5 + k / 30 for k in range(40)]
    seen = [lock.accept(t, body(4.0 + 0.001 * k)) for k, t in enumerate(times)]
    promoted = seen.index(True)
    assert not any(seen[:promoted])
    assert all(seen[promoted:])
    assert times[promoted] - times[0] == pytest.approx(PROMOTE_S, abs=1 / 30)


def test_the_lock_is_released_after_a_long_absence() -> None:
    lock = AthleteLock()
    assert lock.accept(0.0, body(0.0))
    assert not lock.accept(0.05, body(30.0))
    assert lock.accept(RELEASE_AFTER_S + 0.1, body(30.0))
    lock.release()
    assert not lock.locked


def splice_passer_by(
    samples: list[PoseSample], start_s: float, end_s: float, camera: Camera, seed: int
) -> tuple[list[PoseSample], int]:
    """Replace the frames in [start_s, end_s) with a walker 1.6-2 m from the athlete."""
    window = [i for i, s in enumerate(samples) if start_s <= s.timestamp_s < end_s]
    times = np.array([samples[i].timestamp_s for i in window])
    walker = film(times, walking_landmarks(times, 2.0, -0.8), camera, np.random.default_rng(seed))
    out = list(samples)
    for i, fake in zip(window, walker, strict=True):
        out[i] = PoseSample(
            samples[i].seq, fake.timestamp_s, fake.image_width, fake.image_height, fake.landmarks
        )
    return out, samples[window[0]].seq


@pytest.mark.parametrize("fps", [30, 60, 120])
def test_a_passer_by_before_calibration_and_between_reps_changes_no_metric(fps: int) -> None:
    camera = Camera(fps=fps)
    trial = countermovement_jumps(reps=2, camera=camera, seed=11)
    # Shorter than the 0.5 s after which a missing athlete restarts the calibration.
    samples, first = splice_passer_by(trial.samples, 0.3, 0.7, camera, seed=1)
    landing = trial.reps[0].landing_s
    samples, second = splice_passer_by(samples, landing + 1.7, landing + 2.1, camera, seed=2)
    trial.samples = samples

    events = analyse(trial)
    reps = reps_of(events)
    assert len(reps) == 2
    for metrics, truth in zip(reps, trial.reps, strict=True):
        check_flight(metrics, truth, fps)
    warnings = [e.seq for e in events if e.payload.get("code") == "other_person"]
    assert warnings == [first, second]
