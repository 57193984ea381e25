"""The overlay's readout of a running session: cadence, contact time, the last step."""

from __future__ import annotations

from kinestream.operators.gait.analyzer import RunningAnalyzer, RunningConfig
from kinestream.pictures.overlay import LiveReadout
from kinestream.simulation.camera import Camera
from kinestream.simulation.running import RunnerParams, run


def test_the_readout_follows_the_steps() -> None:
    trial = run(RunnerParams(cadence_spm=170.0), steps=12, camera=Camera(fps=60), seed=3)
    analyzer = RunningAnalyzer(RunningConfig("run", 1.80, trial.belt_speed_m_s))
    readout = LiveReadout()
    steps = []
    for sample in trial.samples:
        events = analyzer.process(sample)
        readout.update(events)
        steps += [e.payload for e in events if e.event_type == "step"]
    lines = readout.lines()
    assert lines[0] == "phase: running"
    last = steps[-1]
    contact_ms = 1000 * last["contact_time_s"]
    assert lines[-1] == f"step {last['step']} ({last['foot']}): contact {contact_ms:.0f} ms"
    cadence = next(line for line in lines if line.startswith("cadence: "))
    assert abs(float(cadence.split()[1]) - 170.0) <= 5.0
