"""No repetition is invented from movements that are not jumps."""

from __future__ import annotations

import pytest

from kinestream.simulation.camera import Camera
from kinestream.simulation.scenarios import (
    arm_swings,
    quiet_standing,
    walk_in_jump_walk_out,
    walking_through,
)
from kinestream.sports import JUMPS, Sport
from tests.operators.test_accuracy import analyse, reps_of


@pytest.mark.parametrize("sport", JUMPS)
def test_quiet_standing_has_no_reps(sport: Sport) -> None:
    trial = quiet_standing(duration_s=30.0, seed=3, sport=sport)
    if sport is Sport.DROP_JUMP:
        trial.box_height_m = 0.4
    assert reps_of(analyse(trial)) == []


@pytest.mark.parametrize("fps", [30, 60])
def test_arm_swings_and_knee_bends_have_no_reps(fps: int) -> None:
    assert reps_of(analyse(arm_swings(swings=8, camera=Camera(fps=fps), seed=4))) == []


def test_walking_through_the_view_has_no_reps() -> None:
    events = analyse(walking_through(seed=5))
    assert reps_of(events) == []
    assert all(e.payload.get("to_phase") != "flight" for e in events)


def test_walking_in_and_out_counts_only_the_jumps() -> None:
    trial = walk_in_jump_walk_out(reps=2, seed=6)
    reps = reps_of(analyse(trial))
    assert len(reps) == 2
    for metrics, truth in zip(reps, trial.reps, strict=True):
        assert metrics["flight_time_s"] == pytest.approx(truth.flight_time_s, abs=0.25 / 60)
