"""The analyzers' frame ordering against a clock that jumps: one frame far ahead of the
stream's clock is an outlier, dropped and counted, not the new clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from kinestream.events import AnalysisEvent
from kinestream.operators.analyzer import StreamAnalyzer, StreamConfig
from kinestream.operators.frame_order import MAX_TIME_JUMP_S, TIME_JUMP_CONFIRM_FRAMES
from kinestream.operators.gait.analyzer import RunningAnalyzer, RunningConfig
from kinestream.operators.pose import PoseSample
from kinestream.simulation.camera import Camera
from kinestream.simulation.running import RunnerParams, run
from kinestream.simulation.scenarios import countermovement_jumps
from kinestream.sports import Sport

T0 = 1_760_000_000.0


def _analyse(samples: list[PoseSample]) -> list[AnalysisEvent]:
    analyzer = StreamAnalyzer(StreamConfig("jump", Sport.CMJ, 1.80))
    return [e for s in samples for e in analyzer.process(s)] + analyzer.finish("end")


def _reps(events: list[AnalysisEvent]) -> list[dict[str, object]]:
    return [e.payload["metrics"] for e in events if e.event_type == "rep_complete"]


@pytest.mark.parametrize(
    "jumped",
    [lambda t: t + 1e6, lambda t: t * 1000.0, lambda t: t + MAX_TIME_JUMP_S + 0.5],
    ids=["plus_1e6_s", "milliseconds", "just_past_the_limit"],
)
def test_one_frame_far_ahead_is_dropped_and_later_frames_are_analysed(
    jumped: Callable[[float], float],
) -> None:
    samples = [replace(s, timestamp_s=T0 + s.timestamp_s) for s in countermovement_jumps(2).samples]
    at = len(samples) // 3  # between the two jumps' calibration and takeoff
    outlier = replace(samples[at], timestamp_s=jumped(samples[at].timestamp_s))
    hostile = [*samples[:at], outlier, *samples[at + 1 :]]
    without = [*samples[:at], *samples[at + 1 :]]

    events = _analyse(hostile)
    # Exactly as if the frame had been lost: the same reps, the same metrics.
    assert _reps(events) == _reps(_analyse(without))
    assert len(_reps(events)) == 2
    warnings = [e for e in events if e.event_type == "quality_warning"]
    assert [(w.payload["code"], w.seq) for w in warnings] == [("time_jump", samples[at].seq)]
    assert not [e for e in events if e.payload.get("code") == "timestamp_not_increasing"]
    summary = events[-1].payload
    assert summary["frames"] == len(samples) - 1
    assert summary["dropped_frames"] == 1


def test_a_clock_that_really_jumps_is_followed_after_a_few_frames() -> None:
    samples = [replace(s, timestamp_s=T0 + s.timestamp_s) for s in countermovement_jumps(1).samples]
    at = len(samples) // 2
    jumped = [
        *samples[:at],
        *(replace(s, timestamp_s=s.timestamp_s + 3600.0) for s in samples[at:]),
    ]
    events = _analyse(jumped)
    warnings = [e for e in events if e.event_type == "quality_warning"]
    assert [w.payload["code"] for w in warnings][:1] == ["time_jump"]
    summary = events[-1].payload
    # The first frames of the new time are held back as outliers, then it is the clock.
    assert summary["frames"] == len(samples) - (TIME_JUMP_CONFIRM_FRAMES - 1)
    last_update = [e for e in events if e.event_type == "metric_update"][-1]
    assert last_update.capture_time_s > samples[-1].timestamp_s + 3000.0


def _run_steps(
    samples: list[PoseSample], height_m: float
) -> tuple[list[AnalysisEvent], list[tuple[float, float]]]:
    analyzer = RunningAnalyzer(RunningConfig("runner", height_m, 3.0))
    events = [e for s in samples for e in analyzer.process(s)] + analyzer.finish("end")
    steps = [
        (e.payload["strike_time_s"], e.payload["toe_off_time_s"])
        for e in events
        if e.event_type == "step"
    ]
    return events, steps


def test_a_running_stream_drops_one_frame_far_ahead_as_the_jumps_do() -> None:
    trial = run(RunnerParams(), steps=20, camera=Camera(fps=60.0), seed=3)
    samples = [replace(s, timestamp_s=T0 + s.timestamp_s) for s in trial.samples]
    at = len(samples) // 2
    outlier = replace(samples[at], timestamp_s=samples[at].timestamp_s + 1e6)

    height = trial.athlete_height_m
    events, steps = _run_steps([*samples[:at], outlier, *samples[at + 1 :]], height)
    _, without = _run_steps([*samples[:at], *samples[at + 1 :]], height)
    # Exactly as if the frame had been lost: the same steps, one warning, no error a frame.
    assert steps == without
    assert len(steps) >= 15
    warnings = [e for e in events if e.event_type == "quality_warning"]
    assert [(w.payload["code"], w.seq) for w in warnings if w.payload["code"] == "time_jump"] == [
        ("time_jump", samples[at].seq)
    ]
    assert not [e for e in events if e.payload.get("code") == "timestamp_not_increasing"]
    assert events[-1].payload["dropped_frames"] == 1
