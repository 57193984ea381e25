"""``kinestream analyze``'s readable report of a running session: bouts, steps, warnings."""

from __future__ import annotations

from typing import Any, Final

from kinestream.events import AnalysisEvent
from kinestream.sports import BOUT_FIGURES, METRICS, Sport

STEPS_SHOWN: Final = 6
"""Steps listed at each end of a bout; the bout's figures cover them all."""
STEP_COLUMNS: Final = (
    ("step", "step", "{}"),
    ("foot", "foot", "{}"),
    ("strike_time_s", "strike s", "{:.4f}"),
    ("toe_off_time_s", "toe-off s", "{:.4f}"),
    ("contact_time_s", "contact s", "{:.3f}"),
    ("flight_time_s", "flight s", "{:.3f}"),
    ("step_time_s", "step s", "{:.3f}"),
    ("foot_visibility", "visibility", "{:.2f}"),
    ("low_confidence", "low conf.", "{}"),
)


def running_report(events: list[AnalysisEvent]) -> list[str]:
    """The report's lines after its header: each bout's figures and steps, the warnings
    and the session summary."""
    steps = [e.payload for e in events if e.event_type == "step"]
    bouts = [e.payload for e in events if e.event_type == "bout_summary"]
    lines: list[str] = []
    if not bouts:
        lines += ["No running steps found.", ""]
    for bout in bouts:
        own = [s for s in steps if s.get("bout") == bout["bout"]]
        lines.append(
            f"Bout {bout['bout']}: {bout['steps']} steps, {bout['start_time_s']:.3f} s to "
            f"{bout['end_time_s']:.3f} s, ended by {bout['reason']}"
            f" ({bout['low_confidence_steps']} low-confidence steps)"
        )
        lines += [*_figures(bout), "", *_steps(own), ""]
    warnings = [e for e in events if e.event_type in ("quality_warning", "error")]
    lines.append("Quality warnings:" if warnings else "Quality warnings: none")
    for event in warnings:
        code = event.payload.get("code", "?")
        kind = " (error)" if event.event_type == "error" else ""
        message = event.payload.get("message", "")
        lines.append(f"  {event.capture_time_s:8.3f} s  {code}{kind}: {message}")
    lines.append("")
    summary = next((e.payload for e in events if e.event_type == "session_summary"), None)
    if summary is None:
        lines.append("Session summary: none (the analysis did not finish)")
    else:
        lines.append(
            f"Session summary: {summary['steps']} steps in {summary['bouts']} bouts, "
            f"{summary['frames']} frames ({summary['dropped_frames']} dropped, "
            f"{summary.get('late_frames', 0)} late), {summary['duration_s']:.2f} s, "
            f"ended by {summary['reason']}"
        )
        if "no_reps_message" in summary:
            lines.append(f"  {summary['no_reps_message']}")
    return lines


def _figures(bout: dict[str, Any]) -> list[str]:
    units = {spec.name: spec.unit for spec in METRICS[Sport.RUNNING]}
    rows = [(name, units.get(name, ""), _cell(bout.get(name))) for name in BOUT_FIGURES]
    width = [max(len(row[i]) for row in rows) for i in range(3)]
    return [
        f"  {name.ljust(width[0])}  {unit.ljust(width[1])}  {value.rjust(width[2])}"
        for name, unit, value in rows
    ]


def _steps(steps: list[dict[str, Any]]) -> list[str]:
    shown: list[dict[str, Any] | None] = list(steps)
    if len(steps) > 2 * STEPS_SHOWN:
        shown = [*steps[:STEPS_SHOWN], None, *steps[-STEPS_SHOWN:]]
    rows = [[title for _, title, _ in STEP_COLUMNS]]
    for step in shown:
        if step is None:
            rows.append(["…"] + [""] * (len(STEP_COLUMNS) - 1))
            continue
        rows.append(
            [
                "-" if step.get(key) is None else form.format(step[key])
                for key, _, form in STEP_COLUMNS
            ]
        )
    width = [max(len(row[i]) for row in rows) for i in range(len(STEP_COLUMNS))]
    return ["  " + "  ".join(c.rjust(w) for c, w in zip(row, width, strict=True)) for row in rows]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
