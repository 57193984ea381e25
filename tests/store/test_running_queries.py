"""The coach's query over a run's steps, on a real PostgreSQL, as the flow's sink writes them."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from kinestream.connectors.database import write_session_events
from kinestream.events import AnalysisEvent
from kinestream.session import SessionEvent
from kinestream.sports import Sport
from kinestream.store import queries
from kinestream.wire import StartMessage
from tests.store.sessions import MONDAY


def run_session(stream_id: str, start_s: float) -> list[SessionEvent]:
    """Two minutes of steps: 0.35 s apart (about 171 steps/min) in the first, 0.375 s in the
    second, left contacts 0.25 s and right 0.27 s; every tenth step coarse-timed (0.5 s)."""
    session = StartMessage(stream_id, Sport.RUNNING, 1.8, athlete_id="eve", started_at_s=start_s)
    out = [SessionEvent(stream_id, session, None)]
    strike = start_s
    for number in range(1, 331):
        step_time = 0.35 if strike + 0.35 < start_s + 60 else 0.375
        strike += step_time
        foot = "left" if number % 2 else "right"
        contact = 0.5 if number % 10 == 0 else (0.25 if foot == "left" else 0.27)
        payload = {
            "step": number,
            "bout": 1,
            "foot": foot,
            "strike_time_s": strike,
            "toe_off_time_s": strike + contact,
            "contact_time_s": contact,
            "flight_time_s": step_time - 0.26,
            "step_time_s": step_time,
            "foot_visibility": 0.9,
            "low_confidence": foot == "right",
            "warnings": ["coarse_timing"] if number % 10 == 0 else [],
        }
        event = AnalysisEvent("step", stream_id, number * 20, strike + 0.4, payload)
        out.append(SessionEvent(stream_id, session, event))
    return out


@pytest.fixture
def conn(migrated_database: str) -> Any:
    with psycopg.connect(migrated_database, autocommit=True) as connection:
        connection.execute("SET TIME ZONE 'UTC'")
        write_session_events(connection, run_session("run-1", MONDAY))
        yield connection


def test_a_run_minute_by_minute(conn: psycopg.Connection[Any]) -> None:
    rows = queries.run_by_minute(conn, "run-1")
    assert [r.minute.isoformat() for r in rows[:2]] == [
        "2025-03-03T09:00:00+00:00",
        "2025-03-03T09:01:00+00:00",
    ]
    first, second = rows[0], rows[1]
    assert first.cadence_spm == pytest.approx(60 / 0.35)
    assert second.cadence_spm == pytest.approx(60 / 0.375)
    assert (first.left_contact_time_s, first.right_contact_time_s) == pytest.approx((0.25, 0.27))
    assert first.flight_time_s == pytest.approx(0.09)
    assert first.steps == 171 - 17  # the coarse-timed steps left out
    assert queries.run_by_minute(conn, "another-run") == []
