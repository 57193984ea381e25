"""What a session plot shows, collected from one stream's analysis events.

:class:`SessionTrace` keeps, per analysed frame, the capture time, the CoM height and
velocity and the phase (from ``metric_update`` events), the phase changes and the
repetitions. A few floats per frame: an hour at 60 fps is about 7 MB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from kinestream.events import AnalysisEvent


@dataclass(frozen=True, slots=True)
class PhaseSpan:
    """One phase of the movement, from the time it began to the time the next one did."""

    phase: str
    rep: int
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class RepMarks:
    """What the plot marks of one repetition (capture times, seconds)."""

    rep: int
    takeoff_s: float | None
    landing_s: float | None
    jump_height_m: float | None


@dataclass
class SessionTrace:
    """The per-frame series, phases and repetitions of one analysis; see the module."""

    times_s: list[float] = field(default_factory=list)
    com_height_m: list[float] = field(default_factory=list)
    """NaN where the analysis gave none (calibrating, athlete not in view)."""
    com_velocity_m_s: list[float] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)
    changes: list[tuple[float, str, int]] = field(default_factory=list)
    """(time the phase began, phase, repetition) for each phase change."""
    reps: list[dict[str, Any]] = field(default_factory=list)
    """The ``rep_complete`` payloads."""

    def add(self, events: list[AnalysisEvent]) -> None:
        """Take the events of one analysed frame (or of the end of the analysis)."""
        for event in events:
            p = event.payload
            if event.event_type == "metric_update":
                self.times_s.append(event.capture_time_s)
                self.com_height_m.append(_number(p.get("com_height_m")))
                self.com_velocity_m_s.append(_number(p.get("com_velocity_m_s")))
                self.phases.append(str(p.get("phase", "")))
            elif event.event_type == "phase_change":
                self.changes.append((float(p["phase_time_s"]), str(p["to_phase"]), int(p["rep"])))
            elif event.event_type == "rep_complete":
                self.reps.append(p)

    def phase_spans(self) -> list[PhaseSpan]:
        """Every phase the analysis entered, up to the next change or the last frame."""
        if not self.times_s or not self.changes:
            return []
        ends = [time_s for time_s, _, _ in self.changes[1:]] + [self.times_s[-1]]
        return [
            PhaseSpan(phase, rep, start_s, max(end_s, start_s))
            for (start_s, phase, rep), end_s in zip(self.changes, ends, strict=True)
        ]

    def rep_marks(self) -> list[RepMarks]:
        """Takeoff, landing and jump height of each repetition."""
        out = []
        for payload in self.reps:
            metrics = payload.get("metrics", {})
            out.append(
                RepMarks(
                    int(payload["rep"]),
                    _optional(metrics.get("takeoff_time_s")),
                    _optional(metrics.get("landing_time_s")),
                    _optional(metrics.get("jump_height_m")),
                )
            )
        return out


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _optional(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
