"""The running plot: a gait diagram of the steps, and each step's contact and flight time.

Top axes: one bar per contact from strike to toe-off, left foot above and right foot below
(a foot's low-confidence steps drawn lighter), bouts shaded. Bottom axes: each step's
contact time (left and right markers) and the flight time before it, so asymmetry and drift
show at a glance. Time is seconds from the first step. Drawn with matplotlib's Agg canvas,
without pyplot.

Artists carry ids (``Artist.get_gid``): ``contact:<step>`` for a bar, ``bout:<bout>`` for
a shaded bout, ``contact_time:<foot>`` and ``flight_time`` for the lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kinestream.events import AnalysisEvent

FIGURE_SIZE_IN: Final = (12.0, 6.0)
DPI: Final = 100
FOOT_ROW: Final = {"left": 1.0, "right": 0.0}
FOOT_COLOUR: Final = {"left": "tab:blue", "right": "tab:orange"}


def gait_figure(events: list[AnalysisEvent], title: str) -> Figure:
    """The running plot of a session's ``step`` and ``bout_summary`` events."""
    steps = [e.payload for e in events if e.event_type == "step"]
    bouts = [e.payload for e in events if e.event_type == "bout_summary"]
    figure = Figure(figsize=FIGURE_SIZE_IN, dpi=DPI)
    FigureCanvasAgg(figure)
    diagram, times = figure.subplots(2, 1, sharex=True)
    figure.suptitle(title, x=0.01, ha="left")
    origin = steps[0]["strike_time_s"] if steps else 0.0
    for bout in bouts:
        diagram.axvspan(
            bout["start_time_s"] - origin,
            bout["end_time_s"] - origin,
            color="0.92",
            zorder=0,
            gid=f"bout:{bout['bout']}",
        )
    for step in steps:
        start = step["strike_time_s"] - origin
        diagram.broken_barh(
            [(start, step["contact_time_s"])],
            (FOOT_ROW[step["foot"]] - 0.3, 0.6),
            color=FOOT_COLOUR[step["foot"]],
            alpha=0.4 if step["low_confidence"] else 0.9,
            gid=f"contact:{step['step']}",
        )
    diagram.set_yticks([0.0, 1.0], ["right", "left"])
    diagram.set_ylim(-0.6, 1.6)
    diagram.set_ylabel("foot on the ground")
    for foot in ("left", "right"):
        own = [s for s in steps if s["foot"] == foot]
        times.plot(
            [s["strike_time_s"] - origin for s in own],
            [1000 * s["contact_time_s"] for s in own],
            "o-",
            color=FOOT_COLOUR[foot],
            label=f"contact, {foot}",
            gid=f"contact_time:{foot}",
        )
    flights = [s for s in steps if s["flight_time_s"] is not None]
    times.plot(
        [s["strike_time_s"] - origin for s in flights],
        [1000 * s["flight_time_s"] for s in flights],
        "s--",
        color="0.4",
        label="flight before",
        gid="flight_time",
    )
    times.set_ylabel("time (ms)")
    times.set_xlabel("time from the first strike (s)")
    times.legend(loc="upper right", fontsize=8)
    _note_bouts(diagram, bouts, origin)
    figure.tight_layout()
    return figure


def _note_bouts(axes: Any, bouts: list[dict[str, Any]], origin: float) -> None:
    for bout in bouts:
        cadence = bout.get("cadence_spm")
        contact = bout.get("contact_time_s")
        text = f"bout {bout['bout']}: {bout['steps']} steps"
        if cadence is not None and contact is not None:
            text += f", {cadence:.1f} steps/min, contact {1000 * contact:.0f} ms"
        axes.text(bout["start_time_s"] - origin, 1.45, text, fontsize=8, va="center")


def save_gait_plot(events: list[AnalysisEvent], path: str | Path, title: str) -> None:
    """Draw the running plot of ``events`` and write it as PNG to ``path``."""
    gait_figure(events, title).savefig(path, format="png")
