"""The running analysis against the synthetic runner's exact strikes and toe-offs.

Without noise every strike and toe-off is within the issue's target, a quarter of a frame
period. Under 0.5 px of landmark noise (1.4 mm at the default camera's 360 px/m on a
treadmill, 3.3 mm overground at 150 px/m, where the whole track is in view) the median is
within it at 60 fps on a treadmill, single events are not: feet come down at 0.4-1 m/s and
lift from rest, so a millimetre of noise is one to three milliseconds of timing, which a
higher frame rate does not remove. Those tolerances are stated in milliseconds. Runners and
seeds here are not the ones the analysis was tuned on (``bench/bench_running.py``).
"""

from __future__ import annotations

import pickle
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from kinestream.events import AnalysisEvent
from kinestream.operators.gait.analyzer import RunningAnalyzer, RunningConfig
from kinestream.operators.gait.bout import WINDOW_STEPS, unseen_between
from kinestream.operators.pose import Landmark
from kinestream.simulation.camera import Camera
from kinestream.simulation.running import RunnerParams, RunTrial, run, walk
from kinestream.simulation.scenarios import drop_jumps, quiet_standing

TIMING_S: dict[int, float] = {60: 0.022, 120: 0.018, 240: 0.015}
"""Largest strike or toe-off error on a treadmill at 0.5 px of noise (overground: 1.5x)."""
MEDIAN_S = {True: 0.004, False: 0.007}
"""Median strike and toe-off error (treadmill, overground)."""


def analyse(trial: RunTrial) -> list[AnalysisEvent]:
    config = RunningConfig("runner-1", trial.athlete_height_m, trial.belt_speed_m_s)
    analyzer = RunningAnalyzer(config)
    events: list[AnalysisEvent] = []
    for sample in trial.samples:
        events.extend(analyzer.process(sample))
    events.extend(analyzer.finish("end"))
    return events


def of_type(events: list[AnalysisEvent], kind: str) -> list[dict[str, Any]]:
    return [e.payload for e in events if e.event_type == kind]


def runner(seed: int, treadmill: bool = True) -> RunnerParams:
    rng = np.random.default_rng(1000 + seed)
    cadence = float(rng.uniform(150.0, 190.0))
    return RunnerParams(
        cadence_spm=cadence,
        contact_s=float(rng.uniform(0.18, min(0.32, 60.0 / cadence - 0.05))),
        strike_index=float(rng.uniform(0.0, 1.0)),
        asymmetry=float(rng.uniform(-0.06, 0.06)),
        treadmill=treadmill,
    )


def camera(fps: float, treadmill: bool) -> Camera:
    return Camera(fps=fps) if treadmill else Camera(fps=fps, px_per_m=150.0, origin_x_px=0.0)


def matched(trial: RunTrial, steps: list[dict[str, Any]]) -> list[tuple[Any, dict[str, Any]]]:
    """Each reported step with the true step it is; fails on a step that never happened or
    a step the runner made in full view that is missing."""
    pairs = []
    for step in steps:
        truth = min(trial.steps, key=lambda t: abs(t.strike_s - step["strike_time_s"]))
        assert abs(truth.strike_s - step["strike_time_s"]) < 0.05, f"invented: {step}"
        assert truth.foot == step["foot"]
        pairs.append((truth, step))
    found = {id(t) for t, _ in pairs}
    missing = [t for t, seen in zip(trial.steps, trial.in_view, strict=True) if seen]
    missing = [t for t in missing if id(t) not in found]
    assert not missing, f"missed: {missing}"
    assert len(found) == len(pairs), "a step reported twice"
    return pairs


@pytest.mark.parametrize("fps", [60, 120, 240])
@pytest.mark.parametrize("treadmill", [True, False])
def test_every_step_is_found_and_timed(fps: int, treadmill: bool) -> None:
    errors = []
    for seed in (1, 2):
        trial = run(runner(seed, treadmill), steps=24, camera=camera(fps, treadmill), seed=seed)
        events = analyse(trial)
        for truth, step in matched(trial, of_type(events, "step")):
            errors += [
                step["strike_time_s"] - truth.strike_s,
                step["toe_off_time_s"] - truth.toe_off_s,
            ]
        assert "low_fps" not in [w["code"] for w in of_type(events, "quality_warning")]
    tolerance = TIMING_S[fps] * (1.0 if treadmill else 1.5)
    assert np.abs(errors).max() <= tolerance
    assert np.median(np.abs(errors)) <= MEDIAN_S[treadmill]


QUARTER_FRAME: float = 0.25
"""The issue's target for strike and toe-off, in frame periods."""


@pytest.mark.parametrize("fps", [60, 120, 240])
@pytest.mark.parametrize("treadmill", [True, False])
def test_without_noise_every_event_is_within_a_quarter_frame(fps: int, treadmill: bool) -> None:
    """Without landmark noise the timing is limited only by the local models of the foot's
    motion (held-out runners: seeds the analysis was not tuned on)."""
    errors = []
    for seed in (21, 22):
        cam = replace(camera(fps, treadmill), noise_px=0.0)
        trial = run(runner(seed, treadmill), 24, cam, seed, far_leg_occlusion=False)
        for truth, step in matched(trial, of_type(analyse(trial), "step")):
            errors += [
                step["strike_time_s"] - truth.strike_s,
                step["toe_off_time_s"] - truth.toe_off_s,
            ]
    assert np.abs(errors).max() * fps <= QUARTER_FRAME


def test_at_60_fps_half_the_events_are_within_a_quarter_frame_under_noise() -> None:
    """At 0.5 px (1.4 mm) the median error is within the target; single events are not (the
    noise, not the frame rate, limits them: see the module docstring)."""
    errors = []
    for seed in (24, 25):
        trial = run(runner(seed), steps=24, camera=camera(60, True), seed=seed)
        for truth, step in matched(trial, of_type(analyse(trial), "step")):
            errors += [
                step["strike_time_s"] - truth.strike_s,
                step["toe_off_time_s"] - truth.toe_off_s,
            ]
    assert np.median(np.abs(errors)) * 60 <= QUARTER_FRAME


@pytest.mark.parametrize("fps", [120, 240])
def test_under_noise_toe_offs_are_not_late(fps: int) -> None:
    """At 0.5 px the toe-off's window is 60 ms long; over it the lift is no cubic, and the
    cubic model put toe-offs 2-2.5 ms late. The median toe-off error is now within 0.7 ms
    of zero (48 toe-offs of about 2 ms spread: the median's own spread is about 0.3 ms)."""
    errors = []
    for seed in (24, 25):
        trial = run(runner(seed), steps=24, camera=camera(fps, True), seed=seed)
        for truth, step in matched(trial, of_type(analyse(trial), "step")):
            errors.append(step["toe_off_time_s"] - truth.toe_off_s)
    assert abs(np.median(errors)) <= 0.0007


@pytest.mark.parametrize("treadmill", [True, False])
def test_cadence_within_half_a_step_per_minute(treadmill: bool) -> None:
    trial = run(runner(3, treadmill), steps=40, camera=camera(60, treadmill), seed=3)
    events = analyse(trial)
    steps = of_type(events, "step")
    pairs = matched(trial, steps)
    (bout,) = of_type(events, "bout_summary")
    assert bout["steps"] == len(steps)
    strikes = [t.strike_s for t, _ in pairs]
    truth = 60.0 * (len(strikes) - 1) / (strikes[-1] - strikes[0])
    assert bout["cadence_spm"] == pytest.approx(truth, abs=0.5 if treadmill else 1.0)
    updates = of_type(events, "gait_update")
    assert updates
    assert all(u["steps"] <= WINDOW_STEPS for u in updates)
    window = updates[-1]["steps"]
    assert window == min(WINDOW_STEPS, len(steps))
    last = [t.strike_s for t, _ in pairs[-window:]]
    window_truth = 60.0 * (window - 1) / (last[-1] - last[0])
    assert updates[-1]["cadence_spm"] == pytest.approx(window_truth, abs=1.0)


def test_at_30_fps_contact_time_with_a_low_fps_warning() -> None:
    for seed in (4, 5):
        trial = run(runner(seed), steps=24, camera=Camera(fps=30), seed=seed)
        events = analyse(trial)
        assert "low_fps" in [w["code"] for w in of_type(events, "quality_warning")]
        pairs = matched(trial, of_type(events, "step"))
        errors = [s["contact_time_s"] - t.contact_time_s for t, s in pairs]
        assert np.median(np.abs(errors)) <= 0.010
        assert np.abs(errors).max() <= 0.050
        assert all("low_fps" in s["warnings"] for _, s in pairs)


def test_contact_times_asymmetry_and_duty_factor() -> None:
    params = replace(runner(6), asymmetry=0.08, variability=0.0)
    trial = run(params, steps=40, camera=Camera(fps=120), seed=6)
    (bout,) = of_type(analyse(trial), "bout_summary")
    left = np.mean([t.contact_time_s for t in trial.steps if t.foot == "left"])
    right = np.mean([t.contact_time_s for t in trial.steps if t.foot == "right"])
    assert bout["left_contact_time_s"] == pytest.approx(left, abs=0.004)
    assert bout["right_contact_time_s"] == pytest.approx(right, abs=0.004)
    assert bout["contact_time_asymmetry_pct"] == pytest.approx(8.0, abs=2.0)
    step = np.mean([t.step_time_s for t in trial.steps[1:] if t.step_time_s is not None])
    assert bout["duty_factor"] == pytest.approx(0.5 * (left + right) / (2 * step), abs=0.01)
    assert bout["flight_time_s"] == pytest.approx(step - 0.5 * (left + right), abs=0.004)


def test_speed_and_step_length_from_the_belt_or_the_video() -> None:
    params = runner(7)
    treadmill = run(params, steps=24, camera=Camera(fps=60), seed=7)
    (bout,) = of_type(analyse(treadmill), "bout_summary")
    assert bout["speed_m_s"] == pytest.approx(params.speed_m_s, rel=1e-3)
    step = 60.0 / bout["cadence_spm"]
    assert bout["step_length_m"] == pytest.approx(params.speed_m_s * step, rel=0.02)
    unknown_belt = replace(treadmill, belt_speed_m_s=None)
    (bout,) = of_type(analyse(unknown_belt), "bout_summary")
    assert bout["speed_m_s"] == pytest.approx(params.speed_m_s, rel=0.08)
    overground = run(replace(params, treadmill=False), steps=30, camera=camera(60, False), seed=7)
    (bout,) = of_type(analyse(overground), "bout_summary")
    assert bout["speed_m_s"] == pytest.approx(params.speed_m_s, rel=0.08)


def test_far_foot_steps_are_low_confidence_with_their_visibility() -> None:
    trial = run(runner(8), steps=24, camera=Camera(fps=60), seed=8)
    steps = of_type(analyse(trial), "step")
    near = [s for s in steps if s["foot"] == "left"]
    far = [s for s in steps if s["foot"] == "right"]
    assert near
    assert far
    assert not any(s["low_confidence"] for s in near)
    assert all(s["low_confidence"] and "far_foot" in s["warnings"] for s in far[2:])
    assert np.mean([s["foot_visibility"] for s in far]) < np.mean(
        [s["foot_visibility"] for s in near]
    )


def test_a_contact_hidden_at_its_strike_is_no_step_but_counted_unseen() -> None:
    trial = run(runner(13), steps=24, camera=Camera(fps=60), seed=13, far_leg_occlusion=False)
    hidden = [t for t in trial.steps if t.foot == "right"][1]  # before the window fills
    rows = [Landmark.RIGHT_ANKLE, Landmark.RIGHT_HEEL, Landmark.RIGHT_FOOT_INDEX]
    for sample in trial.samples:
        if hidden.strike_s - 0.12 <= sample.timestamp_s <= hidden.strike_s + 0.05:
            assert sample.landmarks is not None
            sample.landmarks[rows, 3] = 0.1
    events = analyse(trial)
    steps = of_type(events, "step")
    others = [seen and t is not hidden for t, seen in zip(trial.steps, trial.in_view, strict=True)]
    pairs = matched(replace(trial, in_view=others), steps)  # every other step, none made up
    assert hidden not in [t for t, _ in pairs]
    (bout,) = of_type(events, "bout_summary")
    assert bout["unseen_steps"] == 1
    assert bout["steps"] == len(steps)
    # its foot's strikes either side of it, two strides apart, make no stride
    strikes = [t.strike_s for t, _ in pairs]
    steps_between = len(strikes)  # the reported intervals and the hidden step
    truth = 60.0 * steps_between / (strikes[-1] - strikes[0])
    assert bout["cadence_spm"] == pytest.approx(truth, abs=0.5)


def test_a_far_leg_gone_astray_makes_no_step() -> None:
    """The pose model's far-leg stray (knee, ankle, heel and toe thrown 0.2 body heights up
    together for 0.1 s, still at 0.6 visibility) in the middle of a contact is no flight."""
    trial = run(runner(14), steps=24, camera=Camera(fps=60), seed=14, far_leg_occlusion=False)
    strayed = [t for t in trial.steps if t.foot == "right"][6]
    rows = [Landmark.RIGHT_KNEE, Landmark.RIGHT_ANKLE, Landmark.RIGHT_HEEL]
    rows.append(Landmark.RIGHT_FOOT_INDEX)
    middle = 0.5 * (strayed.strike_s + strayed.toe_off_s)
    for sample in trial.samples:
        if middle - 0.05 <= sample.timestamp_s <= middle + 0.05:
            assert sample.landmarks is not None
            sample.landmarks[rows, 1] -= 0.2 * 1.80 * 360.0 / 1080.0
            sample.landmarks[rows, 0] += 0.05 * 1.80 * 360.0 / 1920.0
            sample.landmarks[rows, 3] = 0.6
    events = analyse(trial)
    others = [seen and t is not strayed for t, seen in zip(trial.steps, trial.in_view, strict=True)]
    pairs = matched(replace(trial, in_view=others), of_type(events, "step"))  # none made up
    for truth, step in pairs:
        assert step["contact_time_s"] == pytest.approx(truth.contact_time_s, abs=0.03)


def test_unseen_steps_follow_from_the_feet_alternating() -> None:
    assert unseen_between(0.7, same_foot=True, step_time_s=0.35) == 1
    assert unseen_between(0.35, same_foot=False, step_time_s=0.35) == 0
    assert unseen_between(1.06, same_foot=False, step_time_s=0.35) == 2
    assert unseen_between(1.4, same_foot=True, step_time_s=0.35) == 3
    assert unseen_between(0.7, same_foot=True, step_time_s=None) == 1
    assert unseen_between(0.7, same_foot=False, step_time_s=None) == 0


@pytest.mark.parametrize("treadmill", [True, False])
def test_walking_is_not_running(treadmill: bool) -> None:
    trial = walk(duration_s=10.0, camera=Camera(fps=60), seed=9, treadmill=treadmill)
    events = analyse(trial)
    assert of_type(events, "step") == []
    assert of_type(events, "bout_summary") == []
    codes = [w["code"] for w in of_type(events, "quality_warning")]
    if treadmill:
        assert "not_running" in codes
        assert "walking" in [p["to_phase"] for p in of_type(events, "phase_change")]
    (summary,) = of_type(events, "session_summary")
    assert summary["steps"] == 0
    assert summary["no_reps_reason"] in ("not_running", "no_steps_seen")


def test_standing_is_not_running() -> None:
    events = analyse(as_run(quiet_standing(duration_s=8.0, seed=10).samples))
    assert of_type(events, "step") == []
    assert "standing" in [p["to_phase"] for p in of_type(events, "phase_change")]
    (summary,) = of_type(events, "session_summary")
    assert summary["no_reps_reason"] == "not_running"


@pytest.mark.parametrize("fps", [30, 60])
def test_landing_on_both_feet_is_hopping_not_running(fps: int) -> None:
    """A drop jump's ground contact: both feet strike within a few milliseconds of each
    other and leave together, a hop, however the contacts around it alternate (the real
    clip's box-top hops: tests/functional/test_real_footage.py)."""
    camera = replace(Camera(fps=fps), floor_y_px=1040.0, px_per_m=330.0)
    trial = drop_jumps(reps=2, camera=camera, seed=21)
    events = analyse(as_run(trial.samples))
    assert of_type(events, "step") == []
    assert "hopping" in [p["to_phase"] for p in of_type(events, "phase_change")]
    (summary,) = of_type(events, "session_summary")
    assert summary["no_reps_reason"] == "not_running"


def test_stepping_off_the_treadmill_ends_the_bout() -> None:
    trial = run(runner(11), steps=20, camera=Camera(fps=60), seed=11)
    end = trial.samples[-1]
    standing = quiet_standing(duration_s=5.0, seed=11).samples
    shifted = [
        replace(s, seq=end.seq + 1 + s.seq, timestamp_s=end.timestamp_s + 0.02 + s.timestamp_s)
        for s in standing
    ]
    events = analyse(replace(trial, samples=trial.samples + shifted))
    (bout,) = of_type(events, "bout_summary")
    assert bout["reason"] == "stopped"
    assert bout["steps"] == len(of_type(events, "step")) >= 19
    assert bout["end_time_s"] < end.timestamp_s + 0.1
    phases = [p["to_phase"] for p in of_type(events, "phase_change")]
    assert phases[-1] == "standing"


def test_state_is_bounded_and_resumes_from_a_snapshot() -> None:
    trial = run(runner(12), steps=400, camera=Camera(fps=60), seed=12)
    config = RunningConfig("runner-1", trial.athlete_height_m, trial.belt_speed_m_s)
    analyzer = RunningAnalyzer(config)
    sizes = []
    events: list[AnalysisEvent] = []
    half = len(trial.samples) // 2
    for i, sample in enumerate(trial.samples):
        events.extend(analyzer.process(sample))
        if i in (len(trial.samples) // 8, half):
            sizes.append(len(pickle.dumps(analyzer)))
        if i == half:
            copy = pickle.loads(pickle.dumps(analyzer))
    sizes.append(len(pickle.dumps(analyzer)))
    assert max(sizes) < 1.2 * min(sizes)
    resumed = []
    for sample in trial.samples[half + 1 :]:
        resumed.extend(copy.process(sample))
    after = [e for e in events if e.seq > trial.samples[half].seq]
    assert [e.to_dict() for e in resumed] == [e.to_dict() for e in after]


def as_run(samples: list[Any]) -> RunTrial:
    return RunTrial(samples, [], 1.80, Camera(), RunnerParams(), None)
