"""The coach's queries on a real PostgreSQL, over reps written by the flow's sink."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from kinestream.connectors.database import write_session_events
from kinestream.sports import Sport
from kinestream.store import queries
from tests.store.sessions import DAY, MONDAY, jump_session


@pytest.fixture
def conn(migrated_database: str) -> Any:
    with psycopg.connect(migrated_database, autocommit=True) as connection:
        connection.execute("SET TIME ZONE 'UTC'")
        write_session_events(
            connection,
            [
                *jump_session("w1-a", "ann", MONDAY, [0.30, 0.34], Sport.CMJ),
                *jump_session("w1-b", "ann", MONDAY + 2 * DAY, [0.36, 0.31], Sport.CMJ),
                *jump_session("w2-a", "ann", MONDAY + 7 * DAY, [0.38], Sport.CMJ),
                *jump_session("w1-bob", "bob", MONDAY + DAY, [0.25], Sport.CMJ),
                *jump_session("dj1", "cat", MONDAY, [0.30, 0.32], Sport.DROP_JUMP),
                *jump_session("dj2", "cat", MONDAY + DAY, [0.34, 0.36], Sport.DROP_JUMP),
                *jump_session("dj3", "cat", MONDAY + 2 * DAY, [0.40], Sport.DROP_JUMP),
                *jump_session(
                    "tired", "dan", MONDAY, [0.40, 0.42, 0.41, 0.38, 0.36, 0.33], Sport.CMJ
                ),
            ],
        )
        yield connection


def test_best_jump_per_athlete_per_week(conn: psycopg.Connection[Any]) -> None:
    rows = queries.best_jump_per_week(conn, "ann")
    assert [(r.week.date().isoformat(), r.best_jump_height_m, r.reps) for r in rows] == [
        ("2025-03-03", 0.36, 4),
        ("2025-03-10", 0.38, 1),
    ]
    everyone = queries.best_jump_per_week(conn)
    assert {r.athlete_id for r in everyone} == {"ann", "bob", "cat", "dan"}


def test_daily_best_view(conn: psycopg.Connection[Any]) -> None:
    rows = queries.daily_best(conn, "ann")
    assert [(r.day.date().isoformat(), r.best_jump_height_m, r.reps) for r in rows] == [
        ("2025-03-03", 0.34, 2),
        ("2025-03-05", 0.36, 2),
        ("2025-03-10", 0.38, 1),
    ]


def test_rsi_trend(conn: psycopg.Connection[Any]) -> None:
    rows = queries.rsi_trend(conn, "cat", window=1)
    assert [r.stream_id for r in rows] == ["dj1", "dj2", "dj3"]
    assert [round(r.mean_rsi, 3) for r in rows] == [1.55, 1.75, 2.0]
    assert [round(r.best_rsi, 3) for r in rows] == [1.6, 1.8, 2.0]
    assert [round(r.rolling_mean_rsi, 3) for r in rows] == [1.55, 1.65, 1.875]
    assert queries.rsi_trend(conn, "ann") == []  # CMJ has no RSI


def test_fatigue_within_a_session(conn: psycopg.Connection[Any]) -> None:
    rows = queries.session_fatigue(conn, "tired", reference_reps=3)
    assert [r.rep for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [round(r.drop_m, 3) for r in rows] == [0.02, 0.0, 0.01, 0.04, 0.06, 0.09]
    assert round(rows[-1].drop_pct, 1) == 21.4
    slope = queries.session_fatigue_slope(conn, "tired")
    assert slope is not None
    assert slope < -0.01
    assert queries.session_fatigue_slope(conn, "w2-a") is None
