"""Migration 006: running analyses, their steps and their bouts."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.types.json import Jsonb

from kinestream.store.migrations import load_migrations, migrate


def test_a_running_analysis_keeps_its_steps_and_bouts(migrated_database: str) -> None:
    with psycopg.connect(migrated_database) as conn:
        conn.execute(
            "INSERT INTO analyses (analysis_id, stream_id, sport, athlete_height_m,"
            " belt_speed_m_s) VALUES ('a1', 's1', 'running', 1.8, 3.5)"
        )
        conn.execute(
            "INSERT INTO steps (stream_id, step, strike_at, event_id, bout, foot, toe_off_at,"
            " contact_time_s, foot_visibility, low_confidence)"
            " VALUES ('s1', 1, to_timestamp(1e9), gen_random_uuid(), 1, 'left',"
            " to_timestamp(1e9 + 0.25), 0.25, 0.93, false)"
        )
        conn.execute(
            "INSERT INTO bouts (stream_id, bout, event_id, started_at, ended_at, steps,"
            " low_confidence_steps, reason, cadence_spm, summary)"
            " VALUES ('s1', 1, gen_random_uuid(), to_timestamp(1e9), to_timestamp(1e9 + 60),"
            " 170, 85, 'stopped', 171.5, '{}')"
        )
        ((sport, belt),) = conn.execute("SELECT sport, belt_speed_m_s FROM analyses").fetchall()
        assert (sport, belt) == ("running", 3.5)
        assert conn.execute("SELECT count(*) FROM steps").fetchone() == (1,)
        assert conn.execute("SELECT cadence_spm FROM bouts").fetchone() == (171.5,)


def test_a_step_names_its_foot(migrated_database: str) -> None:
    with psycopg.connect(migrated_database) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO steps (stream_id, step, strike_at, event_id, bout, foot, toe_off_at,"
            " contact_time_s, foot_visibility, low_confidence)"
            " VALUES ('s1', 1, now(), gen_random_uuid(), 1, 'middle', now(), 0.2, 1, false)"
        )


def test_webhooks_may_follow_running(migrated_database: str) -> None:
    with psycopg.connect(migrated_database) as conn:
        columns = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conname IN ('analyses_sport_check', 'webhooks_sport_check')"
        ).fetchall()
    assert len(columns) == 2
    assert all("running" in definition for (definition,) in columns)


def test_migration_007_fills_unseen_steps_from_stored_summaries(fresh_database: str) -> None:
    """A database at 006 with bouts stored: 007 adds the column and takes each bout's count
    from its summary; a summary without one stays NULL."""
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (name text PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for migration in load_migrations():
            if migration.name < "007" and not migration.timescale_only:
                conn.execute(migration.sql.encode())
                conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (migration.name,))
        for bout, summary in ((1, {"steps": 20, "unseen_steps": 3}), (2, {"steps": 12})):
            conn.execute(
                "INSERT INTO bouts (stream_id, bout, event_id, started_at, ended_at, steps,"
                " low_confidence_steps, reason, summary) VALUES ('s1', %s, gen_random_uuid(),"
                " to_timestamp(1e9), to_timestamp(1e9 + 10), %s, 0, 'stopped', %s)",
                (bout, summary["steps"], Jsonb(summary)),
            )

    applied = migrate(fresh_database)
    assert [name for name in applied if not name.endswith(".timescale")] == [
        "007_bout_unseen_steps"
    ]

    with psycopg.connect(fresh_database) as conn:
        rows = conn.execute("SELECT bout, unseen_steps FROM bouts ORDER BY bout").fetchall()
    assert rows == [(1, 3), (2, None)]
