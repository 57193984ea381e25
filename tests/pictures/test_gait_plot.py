"""The running plot: one bar per contact, each bout shaded, the step times drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kinestream.operators.gait.analyzer import RunningAnalyzer, RunningConfig
from kinestream.pictures.gait_plot import gait_figure, save_gait_plot
from kinestream.simulation.camera import Camera
from kinestream.simulation.running import RunnerParams, run


def test_each_step_is_a_bar_on_its_foots_row(tmp_path: Path) -> None:
    trial = run(RunnerParams(), steps=16, camera=Camera(fps=60), seed=2)
    analyzer = RunningAnalyzer(RunningConfig("run", 1.80, trial.belt_speed_m_s))
    events = [e for s in trial.samples for e in analyzer.process(s)] + analyzer.finish("end")
    steps = [e.payload for e in events if e.event_type == "step"]
    figure = gait_figure(events, "title")
    diagram, times = figure.axes
    gids = [str(c.get_gid()) for c in diagram.collections]
    bars = sorted(gid for gid in gids if gid.startswith("contact:"))
    assert bars == sorted(f"contact:{s['step']}" for s in steps)
    assert [str(p.get_gid()) for p in diagram.patches] == ["bout:1"]
    lines = {line.get_gid(): line for line in times.lines}
    left = [s for s in steps if s["foot"] == "left"]
    drawn = np.asarray(lines["contact_time:left"].get_ydata(), dtype=float)
    assert drawn.tolist() == [1000 * s["contact_time_s"] for s in left]
    path = tmp_path / "gait.png"
    save_gait_plot(events, path, "title")
    assert path.read_bytes().startswith(b"\x89PNG")
