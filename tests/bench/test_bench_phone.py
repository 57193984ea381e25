"""The phone bench (bench/bench_phone.py): errors against the simulator's truth, the
matching of found to true repetitions, and the table of a small run."""

from __future__ import annotations

import numpy as np
import pytest

from bench.bench_phone import (
    CONDITIONS,
    HEADER,
    MATCH_S,
    Cell,
    filmed,
    format_block,
    run_cell,
    session_errors,
)
from kinestream.events import AnalysisEvent
from kinestream.simulation.scenarios import Trial
from kinestream.sports import Sport

FPS = 30
SEEDS = (7000, 7001)
PHONE, TRIPOD = CONDITIONS


def rep_found(takeoff_s: float, landing_s: float) -> AnalysisEvent:
    """A ``rep_complete`` event whose takeoff and landing are the given instants."""
    metrics = {"takeoff_time_s": takeoff_s, "landing_time_s": landing_s}
    return AnalysisEvent("rep_complete", "phone", 0, landing_s, {"metrics": metrics})


@pytest.fixture(scope="module")
def trial() -> Trial:
    return filmed(TRIPOD, Sport.CMJ, FPS, SEEDS[0])


def test_a_detection_at_the_true_instants_has_no_error(trial: Trial) -> None:
    truth = trial.reps[0]
    result = session_errors(trial.reps, [rep_found(truth.takeoff_s, truth.landing_s)], FPS)
    assert (result.takeoff_frames, result.landing_frames) == ([0.0], [0.0])
    assert (result.missed, result.extra) == (0, 0)


def test_errors_are_found_minus_true_in_periods_of_the_nominal_rate(trial: Trial) -> None:
    truth = trial.reps[0]
    late_takeoff = rep_found(truth.takeoff_s + 1.5 / FPS, truth.landing_s - 1.0 / 60)
    at_30 = session_errors(trial.reps, [late_takeoff], FPS)
    assert at_30.takeoff_frames == [pytest.approx(1.5)]
    assert at_30.landing_frames == [pytest.approx(-0.5)]
    at_60 = session_errors(trial.reps, [late_takeoff], 60)
    assert at_60.takeoff_frames == [pytest.approx(3.0)]
    assert at_60.landing_frames == [pytest.approx(-1.0)]


def test_a_rep_whose_takeoff_is_too_far_is_a_miss_and_an_extra(trial: Trial) -> None:
    truth = trial.reps[0]
    far = rep_found(truth.takeoff_s + MATCH_S + 0.01, truth.landing_s)
    result = session_errors(trial.reps, [far], FPS)
    assert (result.takeoff_frames, result.missed, result.extra) == ([], 1, 1)


def test_of_two_reps_near_the_true_one_the_nearer_matches_and_the_other_is_extra(
    trial: Trial,
) -> None:
    truth = trial.reps[0]
    found = [
        rep_found(truth.takeoff_s + 0.1, truth.landing_s),
        rep_found(truth.takeoff_s - 0.02, truth.landing_s),
    ]
    result = session_errors(trial.reps, found, FPS)
    assert result.takeoff_frames == [pytest.approx(-0.02 * FPS)]
    assert (result.missed, result.extra) == (0, 1)


def test_phone_footage_has_irregular_frames_and_the_tripod_regular_ones() -> None:
    phone = np.diff([s.timestamp_s for s in filmed(PHONE, Sport.CMJ, FPS, SEEDS[0]).samples])
    tripod = np.diff([s.timestamp_s for s in filmed(TRIPOD, Sport.CMJ, FPS, SEEDS[0]).samples])
    assert np.ptp(tripod) < 1e-9
    assert np.ptp(phone) > 0.2 / FPS


def test_a_small_run_pools_every_session_into_the_table() -> None:
    cell = run_cell(TRIPOD, Sport.CMJ, FPS, SEEDS)
    assert (cell.sport, cell.fps, cell.sessions, cell.performed) == (Sport.CMJ, FPS, 2, 2)
    assert cell.found + cell.errors.missed == cell.performed
    assert len(cell.errors.landing_frames) == cell.found
    lines = format_block(TRIPOD, [cell, Cell(Sport.SQUAT_JUMP, 60)])
    assert lines[0].startswith("tripod, side: side view, regular frame timing")
    assert lines[1] == HEADER
    assert len(lines[2].split()) == 12  # movement, fps, sessions, found, extra, 6 errors, >1
    assert lines[2].split()[:4] == ["cmj", "30", "2", f"{cell.found}/2"]
    assert lines[3].split() == ["squat_jump", "60", "0", "0/0", "0", *["-"] * 6, "0"]
    within = cell.found - cell.off
    assert lines[4] == (
        f"total: {cell.found}/2 found, {within}/2 within ±1 frame at takeoff and landing, "
        f"{cell.errors.missed} missed, {cell.errors.extra} extra"
    )
