"""The session plot of simulated sessions: one shaded span per phase, one note per rep."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pytest

from kinestream.commands.simulate import simulate
from kinestream.operators.analyzer import StreamAnalyzer, StreamConfig
from kinestream.pictures.plot import (
    RESTING_PHASES,
    phase_bands,
    save_session_plot,
    session_figure,
)
from kinestream.pictures.trace import SessionTrace
from kinestream.sports import JUMPS, Sport

REPS = 3


def analysed(sport: Sport, seed: int = 2) -> SessionTrace:
    trial = simulate(sport, reps=REPS, fps=60.0, seed=seed)
    config = StreamConfig("plot", sport, trial.athlete_height_m, trial.box_height_m)
    analyzer = StreamAnalyzer(config)
    trace = SessionTrace()
    for sample in trial.samples:
        trace.add(analyzer.process(sample))
    trace.add(analyzer.finish("end"))
    return trace


def gids(artists: Iterable[Any], prefix: str) -> list[str]:
    """The ids of ``artists`` that start with ``prefix`` (see kinestream.pictures.plot)."""
    names = [artist.get_gid() for artist in artists]
    return sorted(n for n in names if isinstance(n, str) and n.startswith(prefix))


@pytest.mark.parametrize("sport", JUMPS)
def test_each_rep_is_shaded_lined_and_annotated(sport: Sport) -> None:
    trace = analysed(sport)
    assert len(trace.reps) == REPS
    figure = session_figure(trace, "title")
    height_axes, velocity_axes = figure.axes
    origin = trace.times_s[0]
    moving = [s for s in trace.phase_spans() if s.phase not in RESTING_PHASES]
    for axes in (height_axes, velocity_axes):
        flights = gids(axes.patches, "phase:flight:")
        assert flights == [f"phase:flight:{rep}" for rep in range(1, REPS + 1)]
        assert len(gids(axes.patches, "phase:")) == len(moving)
        takeoffs = [line for line in axes.lines if line.get_gid() in {"takeoff:1", "takeoff:2"}]
        assert len(takeoffs) == 2
        for line in takeoffs:
            rep = int(str(line.get_gid()).split(":")[1])
            expected = trace.reps[rep - 1]["metrics"]["takeoff_time_s"] - origin
            assert np.asarray(line.get_xdata())[0] == pytest.approx(expected)
        assert len(gids(axes.lines, "landing:")) == REPS
    notes = [t for t in height_axes.texts if str(t.get_gid()).startswith("rep:")]
    assert [t.get_gid() for t in notes] == [f"rep:{rep}" for rep in range(1, REPS + 1)]
    for note, payload in zip(notes, trace.reps, strict=True):
        assert f"{payload['metrics']['jump_height_m']:.3f} m" in note.get_text()
    assert len(velocity_axes.texts) == 0


def test_png_has_the_figure_size(tmp_path: Path) -> None:
    path = tmp_path / "plot.png"
    save_session_plot(analysed(Sport.CMJ), path, "cmj")
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (600, 1200)
    assert pixels.std() > 0.05  # something is drawn


def test_a_session_without_reps_still_plots(tmp_path: Path) -> None:
    figure = session_figure(SessionTrace(), "empty")
    assert gids(figure.axes[0].patches, "phase:") == []
    save_session_plot(SessionTrace(), tmp_path / "empty.png", "empty")
    assert (tmp_path / "empty.png").stat().st_size > 0


def test_one_band_per_phase_interval_whatever_the_phase_machine_did() -> None:
    # The frontal-clip pattern: standing -> flight -> standing on every frame, each flight
    # at the first one's time (so each standing "ends" before it began), then a phase time
    # going backwards. The flights are one interval, 1.209 s to the last standing: one band.
    trace = SessionTrace()
    trace.times_s = [0.0, 5.0]
    trace.com_height_m = [0.0, 0.0]
    trace.com_velocity_m_s = [0.0, 0.0]
    trace.phases = ["standing", "standing"]
    trace.changes = [(0.0, "standing", 0)]
    for k in range(40):
        trace.changes += [(1.209, "flight", 1), (1.21 + 0.016 * k, "standing", 0)]
    trace.changes += [(4.837, "eccentric", 1), (4.287, "concentric", 1)]
    bands = phase_bands(trace.phase_spans())
    assert [(b.phase, b.start_s, b.end_s) for b in bands] == [
        ("standing", 0.0, 1.209),
        ("flight", 1.209, pytest.approx(1.21 + 0.016 * 39)),
        ("standing", pytest.approx(1.21 + 0.016 * 39), 4.837),
        ("concentric", 4.837, 5.0),
    ]
    figure = session_figure(trace, "flicker")
    for axes in figure.axes:
        assert gids(axes.patches, "phase:") == ["phase:concentric:1", "phase:flight:1"]
