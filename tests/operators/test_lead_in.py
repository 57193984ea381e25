"""No lead-in needed, phone frame timing, and a reason for every session without reps.

Ground truth is the simulator's exact takeoff and landing. Tolerances are those of
test_accuracy: flight time within a quarter of the frame period (8.3 ms at 30 fps), jump
height within 1 cm at 60 fps and above, 1.5 cm at 30 fps. With phone timing (intervals
spread by 15 %, skipped and late frames) at 30 fps: flight time within 10 ms, a third of
the nominal frame period, jump height within 1.5 cm.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bench.bench_lead_in import jittered_frame_times, phone_timing, session, with_lead_in
from kinestream.events import AnalysisEvent
from kinestream.operators.pose import PoseSample
from kinestream.simulation.camera import Camera
from kinestream.simulation.scenarios import quiet_standing, squat_jumps, walking_through
from kinestream.sports import JUMPS, Sport
from tests.operators.test_accuracy import analyse, height_tolerance_m, timing_tolerance_s

SEED = 2024


def reps(events: list[AnalysisEvent]) -> list[dict[str, object]]:
    return [e.payload for e in events if e.event_type == "rep_complete"]


@pytest.mark.parametrize("sport", JUMPS)
@pytest.mark.parametrize("fps", [30, 60, 240])
@pytest.mark.parametrize("lead_in_s", [0.0, 0.3])
def test_short_or_no_lead_in_still_finds_the_jump(sport: Sport, fps: int, lead_in_s: float) -> None:
    trial = with_lead_in(session(sport, fps, SEED), SEED, lead_in_s)
    events = analyse(trial)
    found = reps(events)
    assert len(found) == 1
    metrics, quality = found[0]["metrics"], found[0]["quality"]
    assert isinstance(metrics, dict)
    assert isinstance(quality, dict)
    truth = trial.reps[0]
    assert metrics["flight_time_s"] == pytest.approx(
        truth.flight_time_s, abs=timing_tolerance_s(fps)
    )
    assert metrics["jump_height_m"] == pytest.approx(
        truth.jump_height_m, abs=height_tolerance_m(fps)
    )
    codes = [e.payload["code"] for e in events if e.event_type == "quality_warning"]
    assert "athlete_moved" not in codes  # a drop jump's step off the box is the movement
    if lead_in_s >= 0.3:  # quiet standing came first: found live
        assert quality["calibrated_after_movement"] is False
    if sport is Sport.CMJ and lead_in_s == 0.0:  # standing still only after landing
        assert quality["calibrated_after_movement"] is True
    if sport is Sport.DROP_JUMP:
        assert metrics["drop_height_measured_m"] == pytest.approx(0.40, abs=0.03)


def test_phase_times_never_go_backwards_when_reps_come_late() -> None:
    trial = with_lead_in(session(Sport.CMJ, 60, SEED), SEED, 0.0)
    times = [e.payload["phase_time_s"] for e in analyse(trial) if e.event_type == "phase_change"]
    assert len(times) >= 5
    assert times == sorted(times)


def test_a_held_squat_is_not_taken_for_standing() -> None:
    # The stream starts in the squat hold, still for 0.8 s: calibration must wait for the
    # upright standing after the landing, so that standing reads as CoM height 0 (2 cm).
    trial = squat_jumps(reps=1, camera=Camera(fps=60), seed=SEED)
    start = trial.reps[0].push_start_s
    assert start is not None
    cut = replace(trial, samples=[s for s in trial.samples if s.timestamp_s >= start - 0.8])
    events = analyse(cut)
    found = reps(events)
    assert len(found) == 1
    metrics = found[0]["metrics"]
    assert isinstance(metrics, dict)
    assert metrics["flight_time_s"] == pytest.approx(trial.reps[0].flight_time_s, abs=0.25 / 60)
    heights = [e.payload["com_height_m"] for e in events if e.event_type == "metric_update"]
    assert heights[-1] == pytest.approx(0.0, abs=0.02)


@pytest.mark.parametrize("sport", JUMPS)
def test_phone_frame_timing_at_30_fps(sport: Sport) -> None:
    for seed in (SEED, SEED + 1):
        with phone_timing():
            trial = with_lead_in(session(sport, 30, seed), seed, 0.6)
        steps = np.diff([s.timestamp_s for s in trial.samples])
        assert steps.std() > 0.003  # really irregular
        found = reps(analyse(trial))
        assert len(found) == 1
        metrics = found[0]["metrics"]
        assert isinstance(metrics, dict)
        assert metrics["flight_time_s"] == pytest.approx(trial.reps[0].flight_time_s, abs=0.010)
        assert metrics["jump_height_m"] == pytest.approx(trial.reps[0].jump_height_m, abs=0.015)


def test_jittered_frame_times_are_increasing_and_irregular() -> None:
    times = jittered_frame_times(0.0, 10.0, 30.0, np.random.default_rng(0))
    steps = np.diff(times)
    assert (steps > 0).all()
    assert 28 < 1 / np.median(steps) < 32
    assert steps.max() > 1.5 / 30


def summary(events: list[AnalysisEvent]) -> dict[str, object]:
    last = events[-1]
    assert last.event_type == "session_summary"
    return last.payload


def test_no_person_says_so() -> None:
    trial = quiet_standing(duration_s=2.0, seed=1)
    trial.samples = [PoseSample(s.seq, s.timestamp_s, 1920, 1080, None) for s in trial.samples]
    payload = summary(analyse(trial))
    assert payload["reps"] == 0
    assert payload["no_reps_reason"] == "no_person"
    assert payload["no_reps_message"]


def test_no_quiet_standing_says_so() -> None:
    payload = summary(analyse(walking_through(seed=5)))
    assert payload["no_reps_reason"] == "no_quiet_standing"


def test_standing_without_a_jump_says_so() -> None:
    payload = summary(analyse(quiet_standing(duration_s=5.0, seed=2)))
    assert payload["no_reps_reason"] == "no_jump_seen"


@pytest.mark.parametrize("sport", JUMPS)
@pytest.mark.parametrize("after_landing_s", [-0.15, -0.05])
def test_a_stream_that_ends_in_the_air_says_so(sport: Sport, after_landing_s: float) -> None:
    """A recording stopped in the flight, its last frame showing the feet still above the
    surface, gives no rep and says why, with standing before it or none."""
    for lead_in_s in (1.2, 0.0):
        trial = with_lead_in(session(sport, 30, SEED), SEED, lead_in_s)
        end_s = trial.reps[0].landing_s + after_landing_s
        trial = replace(trial, samples=[s for s in trial.samples if s.timestamp_s <= end_s])
        events = analyse(trial)
        payload = summary(events)
        assert payload["reps"] == 0
        assert payload["no_reps_reason"] == "ended_in_flight"
        codes = [e.payload["code"] for e in events if e.event_type == "quality_warning"]
        assert "ended_in_flight" in codes


@pytest.mark.parametrize("sport", JUMPS)
def test_a_stream_that_ends_on_the_landing_frame_gives_the_jump(sport: Sport) -> None:
    """Stopped on the landing (its last frame within a frame period after the touchdown):
    that frame shows the feet at the surface, where two frames confirm a landing when more
    follow. The rep is given, marked ``ended_at_landing``, both instants within a quarter
    of a frame period as any at 30 fps. Where the last frame still reads the feet above the
    air threshold, the session ends ``ended_in_flight`` instead (the CMJ of this seed, its
    last frame half a frame period before the touchdown)."""
    for after_landing_s in (0.0, 0.02):
        trial = with_lead_in(session(sport, 30, SEED), SEED, 0.6)
        truth = trial.reps[0]
        end_s = truth.landing_s + after_landing_s
        trial = replace(trial, samples=[s for s in trial.samples if s.timestamp_s <= end_s])
        events = analyse(trial)
        found = [e.payload for e in events if e.event_type == "rep_complete"]
        if not found:
            assert summary(events)["no_reps_reason"] == "ended_in_flight"
            assert after_landing_s == 0.0
            continue
        assert "ended_at_landing" in found[0]["quality"]["warnings"]
        metrics = found[0]["metrics"]
        assert metrics["takeoff_time_s"] == pytest.approx(truth.takeoff_s, abs=0.25 / 30)
        assert metrics["landing_time_s"] == pytest.approx(truth.landing_s, abs=0.25 / 30)


def test_a_stream_that_ends_soon_after_the_landing_gives_the_jump() -> None:
    trial = with_lead_in(session(Sport.CMJ, 30, SEED), SEED, 0.3)
    end_s = trial.reps[0].landing_s + 0.1
    trial = replace(trial, samples=[s for s in trial.samples if s.timestamp_s <= end_s])
    events = analyse(trial)
    assert summary(events)["reps"] == 1
    codes = [e.payload["code"] for e in events if e.event_type == "quality_warning"]
    assert "ended_in_flight" not in codes


def test_a_session_with_reps_has_no_reason() -> None:
    payload = summary(analyse(session(Sport.CMJ, 60, SEED)))
    assert payload["reps"] == 1
    assert "no_reps_reason" not in payload


@pytest.mark.parametrize("sport", JUMPS)
@pytest.mark.parametrize("fps", [30, 60, 240])
def test_a_stream_without_any_standing_still_gives_the_flight(sport: Sport, fps: int) -> None:
    # From 0.6 s before takeoff to 0.25 s after landing: never still, so the analysis
    # calibrates at the end without standing (scale from the CoM's parabola in flight).
    # Flight time as in test_accuracy; the rep says how it was calibrated.
    trial = session(sport, fps, SEED)
    truth = trial.reps[0]
    start, end = truth.takeoff_s - 0.6, truth.landing_s + 0.25
    cut = replace(trial, samples=[s for s in trial.samples if start <= s.timestamp_s <= end])
    found = reps(analyse(cut))
    assert len(found) == 1
    metrics, quality = found[0]["metrics"], found[0]["quality"]
    assert isinstance(metrics, dict)
    assert isinstance(quality, dict)
    assert metrics["flight_time_s"] == pytest.approx(
        truth.flight_time_s, abs=timing_tolerance_s(fps)
    )
    assert "calibrated_without_standing" in quality["warnings"]
    assert quality["confidence"] <= 0.7
