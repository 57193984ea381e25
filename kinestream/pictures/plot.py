"""The session plot: CoM height and velocity against time, phases shaded, reps marked.

Two stacked axes share the time axis (seconds from the first analysed frame). Each phase
interval of a repetition is one shaded band on both axes (the resting phases, and
calibration, are not shaded): bands never overlap, and a phase entered again while it was
still on (or entered back in time) extends its band rather than adding one. Each
repetition gets a dashed line at takeoff and a dotted one at landing on both axes, and its
jump height written above its flight. Drawn with matplotlib's Agg canvas, without pyplot
(no global state, no display needed).

Artists carry ids (``Artist.get_gid``) that say what they show: ``phase:<phase>:<rep>``
for a shaded span, ``takeoff:<rep>`` / ``landing:<rep>`` for the lines, ``rep:<rep>`` for
the jump-height note.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from kinestream.pictures.trace import PhaseSpan, SessionTrace

FIGURE_SIZE_IN: Final = (12.0, 6.0)
DPI: Final = 100
RESTING_PHASES: Final = frozenset({"calibrating", "standing", "stable", "on_box"})
PHASE_COLOURS: Final = {
    "eccentric": "tab:orange",
    "descent": "tab:orange",
    "drop": "tab:orange",
    "squat_hold": "tab:olive",
    "ground_contact": "tab:red",
    "concentric": "tab:green",
    "flight": "tab:blue",
    "landing": "tab:purple",
}
OTHER_PHASE_COLOUR: Final = "tab:gray"


def session_figure(trace: SessionTrace, title: str) -> Figure:
    """Draw the session plot of ``trace`` (see the module docstring)."""
    figure = Figure(figsize=FIGURE_SIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    height_axes, velocity_axes = figure.subplots(2, 1, sharex=True)
    origin = trace.times_s[0] if trace.times_s else 0.0
    times = np.asarray(trace.times_s) - origin
    height_axes.plot(times, trace.com_height_m, color="black", linewidth=1.0)
    velocity_axes.plot(times, trace.com_velocity_m_s, color="black", linewidth=1.0)
    velocity_axes.axhline(0.0, color="0.6", linewidth=0.6)
    height_axes.set_ylabel("CoM height (m)")
    velocity_axes.set_ylabel("CoM velocity (m/s)")
    velocity_axes.set_xlabel("time (s)")
    height_axes.margins(y=0.25)  # room for the jump-height notes
    figure.suptitle(title, x=0.01, ha="left")

    shown: dict[str, str] = {}
    for span in phase_bands(trace.phase_spans()):
        if span.phase in RESTING_PHASES:
            continue
        colour = PHASE_COLOURS.get(span.phase, OTHER_PHASE_COLOUR)
        shown.setdefault(span.phase, colour)
        for axes in (height_axes, velocity_axes):
            patch = axes.axvspan(
                span.start_s - origin, span.end_s - origin, color=colour, alpha=0.18, linewidth=0
            )
            patch.set_gid(f"phase:{span.phase}:{span.rep}")

    for marks in trace.rep_marks():
        for name, time_s, style in (
            ("takeoff", marks.takeoff_s, "--"),
            ("landing", marks.landing_s, ":"),
        ):
            if time_s is None:
                continue
            for axes in (height_axes, velocity_axes):
                line = axes.axvline(time_s - origin, color="tab:blue", linestyle=style, lw=1.0)
                line.set_gid(f"{name}:{marks.rep}")
        if marks.jump_height_m is not None and marks.takeoff_s is not None:
            end_s = marks.landing_s if marks.landing_s is not None else marks.takeoff_s
            middle = 0.5 * (marks.takeoff_s + end_s) - origin
            peak = _peak(times, trace.com_height_m, marks.takeoff_s - origin, end_s - origin)
            note = height_axes.annotate(
                f"rep {marks.rep}\n{marks.jump_height_m:.3f} m",
                xy=(middle, peak),
                xytext=(0, 6),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=9,
            )
            note.set_gid(f"rep:{marks.rep}")
    if shown:
        handles = [Patch(color=c, alpha=0.35, label=p) for p, c in shown.items()]
        figure.legend(handles=handles, loc="outside upper right", fontsize=8, ncols=len(handles))
    return figure


def phase_bands(spans: list[PhaseSpan]) -> list[PhaseSpan]:
    """One band per phase interval: each span starts no earlier than the previous one
    ended, empty spans go, and a span of the same phase and rep as the one before joins
    it."""
    bands: list[PhaseSpan] = []
    for span in spans:
        start_s = max(span.start_s, bands[-1].end_s) if bands else span.start_s
        end_s = max(span.end_s, start_s)
        last = bands[-1] if bands else None
        if last is not None and (last.phase, last.rep) == (span.phase, span.rep):
            bands[-1] = PhaseSpan(last.phase, last.rep, last.start_s, end_s)
        elif end_s > start_s:
            bands.append(PhaseSpan(span.phase, span.rep, start_s, end_s))
    return bands


def save_session_plot(trace: SessionTrace, path: str | Path, title: str) -> None:
    """Draw the session plot of ``trace`` and write it as PNG to ``path``."""
    session_figure(trace, title).savefig(path, format="png")


def _peak(
    times: npt.NDArray[np.float64], heights: list[float], start_s: float, end_s: float
) -> float:
    """The highest CoM height between ``start_s`` and ``end_s`` (0 when none is known)."""
    values = np.asarray(heights)
    window = values[(times >= start_s) & (times <= end_s)]
    window = window[np.isfinite(window)]
    if window.size:
        return float(window.max())
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else 0.0
