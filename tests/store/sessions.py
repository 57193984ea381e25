"""Sessions as the flow's database sink receives them, for the tests of the coach's queries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kinestream.events import AnalysisEvent
from kinestream.session import SessionEvent
from kinestream.sports import Sport
from kinestream.wire import StartMessage

MONDAY = datetime(2025, 3, 3, 9, 0, tzinfo=UTC).timestamp()  # well past a 90-day retention
DAY = 86_400.0


def jump_session(
    stream_id: str,
    athlete_id: str,
    start_s: float,
    heights: list[float],
    sport: Sport,
    *,
    frames: int = 0,
) -> list[SessionEvent]:
    """A session's start, ``frames`` frames' metrics and one ``rep_complete`` per height
    (drop jumps with a 0.2 s contact and the RSI that gives)."""
    session = StartMessage(stream_id, sport, 1.8, athlete_id=athlete_id, started_at_s=start_s)
    out = [SessionEvent(stream_id, session, None)]
    for seq in range(frames):
        update = AnalysisEvent(
            "metric_update", stream_id, seq, start_s + seq / 60, {"phase": "standing"}
        )
        out.append(SessionEvent(stream_id, session, update))
    for rep, height in enumerate(heights, start=1):
        metrics: dict[str, Any] = {"jump_height_m": height}
        if sport is Sport.DROP_JUMP:
            metrics |= {"ground_contact_time_s": 0.2, "rsi": height / 0.2}
        event = AnalysisEvent(
            "rep_complete",
            stream_id,
            rep * 100,
            start_s + 10 * rep,
            {"rep": rep, "sport": sport.value, "metrics": metrics, "quality": {}},
        )
        out.append(SessionEvent(stream_id, session, event))
    return out
