"""A running session through the flow's edges: its start message and its analyzer."""

from __future__ import annotations

import json

import pytest

from kinestream import wire
from kinestream.events import frame_updates
from kinestream.flows.analysis import default_analyzer_factory
from kinestream.simulation.camera import Camera
from kinestream.simulation.running import RunnerParams, run
from kinestream.sports import Sport


def test_belt_speed_travels_in_the_start_message() -> None:
    start = wire.StartMessage("run-1", Sport.RUNNING, 1.80, belt_speed_m_s=3.5)
    key, value = wire.encode_control(start)
    assert wire.decode_control(key, value) == start
    plain = wire.StartMessage("cmj-1", Sport.CMJ, 1.80)
    assert "belt_speed_m_s" not in json.loads(wire.encode_control(plain)[1])
    with pytest.raises(wire.WireError, match="belt speed"):
        wire.StartMessage("run-1", Sport.RUNNING, 1.80, belt_speed_m_s=40.0)


def test_the_flow_builds_running_analysis_for_a_running_start() -> None:
    trial = run(RunnerParams(), steps=12, camera=Camera(fps=60), seed=3)
    start = wire.StartMessage("run-1", Sport.RUNNING, 1.80, belt_speed_m_s=trial.belt_speed_m_s)
    analyzer = default_analyzer_factory(start)
    events = [e for s in trial.samples for e in analyzer.process(s)]
    events += analyzer.finish("end_of_stream")
    steps = [e.payload for e in events if e.event_type == "step"]
    assert len(steps) == 12
    assert all(s["speed_m_s"] == pytest.approx(trial.belt_speed_m_s) for s in steps)
    frames = [f for e in events if e.event_type == "metric_updates" for f in frame_updates(e)]
    assert len(frames) == len(trial.samples)
    assert events[-1].event_type == "session_summary"


def test_a_box_height_does_not_suit_running() -> None:
    start = wire.StartMessage("run-1", Sport.RUNNING, 1.80, box_height_m=0.3)
    with pytest.raises(ValueError, match="box height"):
        default_analyzer_factory(start)
