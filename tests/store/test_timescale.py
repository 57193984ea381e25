"""The TimescaleDB branch of the schema, run: every migration with the extension present,
the flow's sink writing into the hypertables, and the coach's queries over them.

The server is a stand-in (infra/pglite: PostgreSQL 17 and TimescaleDB 2.23 compiled to
WebAssembly); production runs the real TimescaleDB image. It has one database and one
session, which connections take in turn (a second one waits for the first to close), so
the tests, whichever pytest-xdist worker runs them, share it: each names its athletes and
streams afresh and holds one connection at a time. In that one session a statement psycopg
prepared stays prepared after its connection closed, and the next connection's first
prepared statement collides with it (DuplicatePreparedStatement ``_pg3_0``): the tests'
connections clear them and prepare nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from kinestream.connectors.database import write_session_events
from kinestream.sports import Sport
from kinestream.store import queries
from kinestream.store.migrations import database_mode, load_migrations, migrate
from tests.store.sessions import DAY, MONDAY, jump_session


@pytest.fixture(scope="module")
def migrated(timescale_url: str) -> str:
    """The stand-in's database with every migration applied."""
    migrate(timescale_url)
    return timescale_url


@pytest.fixture
def conn(migrated: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(migrated, autocommit=True, prepare_threshold=None) as connection:
        connection.execute("DEALLOCATE ALL")
        connection.execute("SET TIME ZONE 'UTC'")
        yield connection


def _declared(pattern: str) -> set[str]:
    """What the TimescaleDB companions name in ``pattern``'s group, over every file."""
    companions = [m.sql for m in load_migrations() if m.timescale_only]
    return {name for sql in companions for name in re.findall(pattern, sql)}


def test_every_migration_applies_with_the_extension(migrated: str) -> None:
    assert database_mode(migrated) == "timescaledb"
    assert migrate(migrated) == []  # all applied, the TimescaleDB companions included
    with psycopg.connect(migrated) as conn:
        applied = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        hypertables = conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables"
        ).fetchall()
        aggregates = conn.execute(
            "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates"
        ).fetchall()
        jobs = conn.execute(
            "SELECT proc_name, hypertable_name FROM timescaledb_information.jobs"
            " WHERE hypertable_name IS NOT NULL"
        ).fetchall()
    assert applied == {m.name for m in load_migrations()}
    assert {"001_core.timescale", "002_analytics.timescale"} <= applied
    # Every hypertable, continuous aggregate and policy the companions declare exists.
    declared_hypertables = _declared(r"create_hypertable\(\s*'(\w+)'")
    assert {"frame_metrics", "rep_heights"} <= declared_hypertables
    assert {name for (name,) in hypertables} == declared_hypertables
    declared_aggregates = _declared(r"MATERIALIZED VIEW IF NOT EXISTS (\w+)\s+WITH \(timescaledb")
    assert declared_aggregates == {"athlete_daily_best_cagg"}
    assert set(aggregates) == {(name, False) for name in declared_aggregates}  # real time
    assert set(jobs) == {
        *(("policy_retention", t) for t in _declared(r"add_retention_policy\('(\w+)'")),
        *(
            ("policy_refresh_continuous_aggregate", view)
            for view in _declared(r"add_continuous_aggregate_policy\('(\w+)'")
        ),
    }


def test_the_coach_queries_over_the_hypertables(conn: psycopg.Connection[Any]) -> None:
    run = uuid.uuid4().hex[:8]
    ann, cat, dan = f"ann-{run}", f"cat-{run}", f"dan-{run}"
    write_session_events(
        conn,
        [
            *jump_session(f"w1-a-{run}", ann, MONDAY, [0.30, 0.34], Sport.CMJ, frames=2),
            *jump_session(f"w1-b-{run}", ann, MONDAY + 2 * DAY, [0.36, 0.31], Sport.CMJ, frames=2),
            *jump_session(f"w2-a-{run}", ann, MONDAY + 7 * DAY, [0.38], Sport.CMJ, frames=2),
            *jump_session(f"dj1-{run}", cat, MONDAY, [0.30, 0.32], Sport.DROP_JUMP, frames=2),
            *jump_session(f"dj2-{run}", cat, MONDAY + DAY, [0.34, 0.36], Sport.DROP_JUMP, frames=2),
            *jump_session(
                f"tired-{run}", dan, MONDAY, [0.40, 0.42, 0.41, 0.38], Sport.CMJ, frames=2
            ),
        ],
    )

    weekly = queries.best_jump_per_week(conn, ann)
    assert [(r.week.date().isoformat(), r.best_jump_height_m, r.reps) for r in weekly] == [
        ("2025-03-03", 0.36, 4),
        ("2025-03-10", 0.38, 1),
    ]
    # The continuous aggregate, refreshed over these days as its policy would (rows under an
    # earlier run's refresh are not in its real-time part until then).
    conn.execute(
        "CALL refresh_continuous_aggregate('athlete_daily_best_cagg', '2025-03-01', '2025-03-15')"
    )
    daily = queries.daily_best(conn, ann)
    assert [(r.day.date().isoformat(), r.best_jump_height_m, r.reps) for r in daily] == [
        ("2025-03-03", 0.34, 2),
        ("2025-03-05", 0.36, 2),
        ("2025-03-10", 0.38, 1),
    ]
    rsi = queries.rsi_trend(conn, cat, window=1)
    assert [(round(r.mean_rsi, 3), round(r.rolling_mean_rsi, 3)) for r in rsi] == [
        (1.55, 1.55),
        (1.75, 1.65),
    ]
    fatigue = queries.session_fatigue(conn, f"tired-{run}", reference_reps=3)
    assert [round(r.drop_m, 3) for r in fatigue] == [0.02, 0.0, 0.01, 0.04]
    slope = queries.session_fatigue_slope(conn, f"tired-{run}")
    assert slope is not None
    assert slope < 0


def test_the_retention_policy_drops_old_frame_metrics(conn: psycopg.Connection[Any]) -> None:
    stream = f"old-{uuid.uuid4().hex[:8]}"
    write_session_events(conn, jump_session(stream, "eve", MONDAY, [], Sport.CMJ, frames=2))
    count = "SELECT count(*) FROM frame_metrics WHERE stream_id = %s"
    assert conn.execute(count, (stream,)).fetchone() == (2,)
    [(job,)] = conn.execute(
        "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention'"
    ).fetchall()
    conn.execute("CALL run_job(%s)", (job,))
    assert conn.execute(count, (stream,)).fetchone() == (0,)
