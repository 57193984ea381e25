"""The session trace: per-frame series, phase spans and repetitions, from the events."""

from __future__ import annotations

import math

from kinestream.events import AnalysisEvent
from kinestream.pictures.trace import PhaseSpan, RepMarks, SessionTrace


def update(seq: int, phase: str, com: float | None, velocity: float | None) -> AnalysisEvent:
    payload = {"phase": phase, "com_height_m": com, "com_velocity_m_s": velocity}
    return AnalysisEvent("metric_update", "s", seq, seq / 10, payload)


def change(seq: int, to_phase: str, time_s: float, rep: int) -> AnalysisEvent:
    payload = {"from_phase": "x", "to_phase": to_phase, "phase_time_s": time_s, "rep": rep}
    return AnalysisEvent("phase_change", "s", seq, seq / 10, payload)


def test_series_spans_and_reps() -> None:
    trace = SessionTrace()
    trace.add([update(0, "calibrating", None, None)])
    trace.add([update(1, "standing", 0.0, 0.0), change(1, "standing", 0.1, 0)])
    trace.add([update(2, "flight", 0.2, 1.5), change(2, "flight", 0.17, 1)])
    metrics = {"takeoff_time_s": 0.17, "landing_time_s": 0.28, "jump_height_m": 0.015}
    rep = AnalysisEvent("rep_complete", "s", 3, 0.3, {"rep": 1, "metrics": metrics})
    trace.add([update(3, "landing", 0.0, -1.5), change(3, "landing", 0.28, 1), rep])

    assert trace.times_s == [0.0, 0.1, 0.2, 0.3]
    assert math.isnan(trace.com_height_m[0])
    assert trace.com_velocity_m_s[1:] == [0.0, 1.5, -1.5]
    assert trace.phases == ["calibrating", "standing", "flight", "landing"]
    assert trace.phase_spans() == [
        PhaseSpan("standing", 0, 0.1, 0.17),
        PhaseSpan("flight", 1, 0.17, 0.28),
        PhaseSpan("landing", 1, 0.28, 0.3),
    ]
    assert trace.rep_marks() == [RepMarks(1, 0.17, 0.28, 0.015)]


def test_no_phase_change_no_span() -> None:
    trace = SessionTrace()
    trace.add([update(0, "calibrating", None, None)])
    assert trace.phase_spans() == []
    assert trace.rep_marks() == []
