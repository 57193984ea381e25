"""The questions a coach asks of the database, as SQL over the tables the flow fills.

Each query is a module constant a person can paste into ``psql`` (named ``%(param)s``
placeholders, psycopg style) and a typed function that runs it. The jumps' read ``reps``
(one row per completed jump; see ``migrations/001_core.sql``) and the views of
``migrations/002_analytics.sql``, running's ``steps`` (``migrations/006_running.sql``);
each is exercised by ``tests/store/test_queries.py`` (running's by
``tests/store/test_running_queries.py``) on a real PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.rows import class_row

BEST_JUMP_PER_WEEK: Final = """
SELECT athlete_id,
       date_trunc('week', recorded_at) AS week,
       max(jump_height_m)              AS best_jump_height_m,
       count(*)                        AS reps
FROM reps
WHERE jump_height_m IS NOT NULL
  AND athlete_id IS NOT NULL
  AND (%(athlete_id)s::text IS NULL OR athlete_id = %(athlete_id)s::text)
GROUP BY athlete_id, date_trunc('week', recorded_at)
ORDER BY athlete_id, week
"""
"""Best jump height per athlete per ISO week (weeks start on Monday, in the server's zone)."""

DAILY_BEST: Final = """
SELECT athlete_id, day, best_jump_height_m, reps
FROM athlete_daily_best
WHERE athlete_id = %(athlete_id)s
ORDER BY day
"""
"""Best jump per day of one athlete (a continuous aggregate where TimescaleDB runs)."""

RSI_TREND: Final = """
SELECT stream_id,
       min(recorded_at) AS session_at,
       count(*)         AS reps,
       avg(rsi)         AS mean_rsi,
       max(rsi)         AS best_rsi,
       avg(avg(rsi)) OVER (ORDER BY min(recorded_at)
                           ROWS BETWEEN %(window)s PRECEDING AND CURRENT ROW) AS rolling_mean_rsi
FROM reps
WHERE athlete_id = %(athlete_id)s AND rsi IS NOT NULL
GROUP BY stream_id
ORDER BY session_at
"""
"""Reactive strength index per drop-jump session of one athlete, with a rolling mean over
the session and the ``window`` sessions before it."""

SESSION_FATIGUE: Final = """
WITH r AS (
    SELECT rep, jump_height_m
    FROM reps
    WHERE stream_id = %(stream_id)s AND jump_height_m IS NOT NULL
), reference AS (
    SELECT max(jump_height_m) AS best_early_m
    FROM r
    WHERE rep <= %(reference_reps)s
)
SELECT r.rep,
       r.jump_height_m,
       reference.best_early_m - r.jump_height_m                             AS drop_m,
       100.0 * (reference.best_early_m - r.jump_height_m) / reference.best_early_m AS drop_pct
FROM r CROSS JOIN reference
ORDER BY r.rep
"""
"""Fatigue within one session: each rep's jump height against the best of the first
``reference_reps`` reps (drop in metres and percent; positive = lower than the reference)."""

SESSION_FATIGUE_SLOPE: Final = """
SELECT regr_slope(jump_height_m, rep) AS height_change_per_rep_m,
       count(*)                       AS reps
FROM reps
WHERE stream_id = %(stream_id)s AND jump_height_m IS NOT NULL
"""
"""Least-squares change of jump height per rep over one session (negative = fatiguing)."""

RUN_BY_MINUTE: Final = """
SELECT date_trunc('minute', strike_at)                    AS minute,
       count(*)                                            AS steps,
       60.0 / avg(step_time_s)                             AS cadence_spm,
       avg(contact_time_s) FILTER (WHERE foot = 'left')    AS left_contact_time_s,
       avg(contact_time_s) FILTER (WHERE foot = 'right')   AS right_contact_time_s,
       avg(flight_time_s)                                  AS flight_time_s
FROM steps
WHERE stream_id = %(stream_id)s
  AND NOT warnings ? 'coarse_timing'
GROUP BY date_trunc('minute', strike_at)
ORDER BY minute
"""
"""One run minute by minute (steps timed between frames only): cadence from the mean step
time, each foot's mean contact time and the mean flight; how the gait changes as the runner
tires. A minute's steps include the far foot's, which are low confidence."""


@dataclass(frozen=True, slots=True)
class WeeklyBest:
    """Best jump of one athlete in one week."""

    athlete_id: str
    week: datetime
    best_jump_height_m: float
    reps: int


@dataclass(frozen=True, slots=True)
class DailyBest:
    """Best jump of one athlete on one day."""

    athlete_id: str
    day: datetime
    best_jump_height_m: float
    reps: int


@dataclass(frozen=True, slots=True)
class SessionRsi:
    """RSI of one session, with the rolling mean up to it."""

    stream_id: str
    session_at: datetime
    reps: int
    mean_rsi: float
    best_rsi: float
    rolling_mean_rsi: float


@dataclass(frozen=True, slots=True)
class RepFatigue:
    """One rep's jump height against the session's early best."""

    rep: int
    jump_height_m: float
    drop_m: float
    drop_pct: float


@dataclass(frozen=True, slots=True)
class RunMinute:
    """One minute of a run."""

    minute: datetime
    steps: int
    cadence_spm: float | None
    left_contact_time_s: float | None
    right_contact_time_s: float | None
    flight_time_s: float | None


def best_jump_per_week(
    conn: psycopg.Connection[Any], athlete_id: str | None = None
) -> list[WeeklyBest]:
    """Run :data:`BEST_JUMP_PER_WEEK` (every athlete when ``athlete_id`` is ``None``)."""
    with conn.cursor(row_factory=class_row(WeeklyBest)) as cur:
        return cur.execute(BEST_JUMP_PER_WEEK, {"athlete_id": athlete_id}).fetchall()


def daily_best(conn: psycopg.Connection[Any], athlete_id: str) -> list[DailyBest]:
    """Run :data:`DAILY_BEST`."""
    with conn.cursor(row_factory=class_row(DailyBest)) as cur:
        return cur.execute(DAILY_BEST, {"athlete_id": athlete_id}).fetchall()


def rsi_trend(conn: psycopg.Connection[Any], athlete_id: str, window: int = 4) -> list[SessionRsi]:
    """Run :data:`RSI_TREND`."""
    with conn.cursor(row_factory=class_row(SessionRsi)) as cur:
        return cur.execute(RSI_TREND, {"athlete_id": athlete_id, "window": window}).fetchall()


def session_fatigue(
    conn: psycopg.Connection[Any], stream_id: str, reference_reps: int = 3
) -> list[RepFatigue]:
    """Run :data:`SESSION_FATIGUE`."""
    with conn.cursor(row_factory=class_row(RepFatigue)) as cur:
        params = {"stream_id": stream_id, "reference_reps": reference_reps}
        return cur.execute(SESSION_FATIGUE, params).fetchall()


def session_fatigue_slope(conn: psycopg.Connection[Any], stream_id: str) -> float | None:
    """Run :data:`SESSION_FATIGUE_SLOPE`; ``None`` with fewer than two reps."""
    row = conn.execute(SESSION_FATIGUE_SLOPE, {"stream_id": stream_id}).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def run_by_minute(conn: psycopg.Connection[Any], stream_id: str) -> list[RunMinute]:
    """Run :data:`RUN_BY_MINUTE`."""
    with conn.cursor(row_factory=class_row(RunMinute)) as cur:
        return cur.execute(RUN_BY_MINUTE, {"stream_id": stream_id}).fetchall()
