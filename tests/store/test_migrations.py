"""Schema migrations against the real PostgreSQL server, one fresh database per test."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pglast
import psycopg
import pytest

from kinestream.cli import main
from kinestream.store.migrations import (
    Migration,
    database_mode,
    load_migrations,
    migrate,
    pending_migrations,
)

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _server_has_timescaledb(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
    return row is not None


def test_shipped_migrations_are_ordered_with_companions_after_their_base() -> None:
    names = [migration.name for migration in load_migrations()]

    assert names[:2] == ["001_core", "001_core.timescale"]
    assert [m.timescale_only for m in load_migrations()][:2] == [False, True]


@pytest.mark.parametrize("migration", load_migrations(), ids=lambda m: m.name)
def test_every_migration_is_valid_postgresql_syntax(migration: Migration) -> None:
    # The TimescaleDB companions cannot run on the test servers (no TimescaleDB build is
    # available to them): PostgreSQL's own parser (libpg_query) checks them at least.
    statements = pglast.parse_sql(migration.sql)
    assert len(statements) >= 1


def test_migrate_twice_applies_nothing_the_second_time(fresh_database: str) -> None:
    first = migrate(fresh_database)
    second = migrate(fresh_database)

    assert first[0] == "001_core"
    assert second == []
    with psycopg.connect(fresh_database) as conn:
        recorded = [row[0] for row in conn.execute("SELECT name FROM schema_migrations")]
    assert sorted(recorded) == sorted(first)


def test_mode_follows_the_servers_extensions(fresh_database: str) -> None:
    applied = migrate(fresh_database)
    mode = database_mode(fresh_database)

    with psycopg.connect(fresh_database) as conn:
        hypertable = conn.execute(
            "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()
    if _server_has_timescaledb(fresh_database):
        assert mode == "timescaledb"
        assert "001_core.timescale" in applied
        assert hypertable is not None
    else:
        # The plain PostgreSQL path: the companion is skipped, the tables are all there.
        assert mode == "postgresql"
        assert "001_core.timescale" not in applied
        assert hypertable is None


def test_concurrent_runs_apply_each_migration_once(fresh_database: str) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(migrate(fresh_database))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    applied = [name for result in results for name in result]
    assert sorted(applied) == sorted(set(applied))
    assert "001_core" in applied


def _insert_analysis(conn: psycopg.Connection[Any], stream_id: str) -> None:
    conn.execute(
        "INSERT INTO analyses (analysis_id, stream_id, sport, athlete_id, athlete_height_m,"
        " box_height_m, api_key_id) VALUES (%s, %s, 'drop_jump', 'ath-1', 1.8, 0.3, %s)",
        (f"an-{stream_id}", stream_id, "key-1"),
    )


def test_rows_round_trip_through_every_table(migrated_database: str) -> None:
    rep_event = uuid.uuid4()
    event_id = uuid.uuid4()
    with psycopg.connect(migrated_database) as conn:
        _insert_analysis(conn, "s1")
        conn.execute(
            "INSERT INTO reps (stream_id, rep, event_id, sport, athlete_id, takeoff_at,"
            " recorded_at, metrics, quality, jump_height_m, flight_time_s,"
            " ground_contact_time_s, rsi)"
            " VALUES ('s1', 1, %s, 'drop_jump', 'ath-1', %s, %s, %s, %s, 0.31, 0.5, 0.22, 1.41)",
            (
                rep_event,
                T0,
                T0 + timedelta(seconds=1),
                json.dumps({"jump_height_m": 0.31}),
                json.dumps({"ok": True}),
            ),
        )
        conn.execute(
            "INSERT INTO frame_metrics VALUES ('s1', 7, %s, 'flight', 0.12, -0.4)",
            (T0,),
        )
        conn.execute(
            "INSERT INTO events (event_id, stream_id, seq, event_type, captured_at, payload)"
            " VALUES (%s, 's1', 7, 'phase_change', %s, %s)",
            (event_id, T0, json.dumps({"from_phase": "takeoff", "to_phase": "flight"})),
        )

        analysis = conn.execute(
            "SELECT sport, athlete_height_m, box_height_m, status, created_at IS NOT NULL,"
            " ended_at, summary FROM analyses WHERE stream_id = 's1'"
        ).fetchone()
        rep = conn.execute(
            "SELECT event_id, takeoff_at, metrics, quality, rsi FROM reps"
            " WHERE stream_id = 's1' AND rep = 1"
        ).fetchone()
        frame = conn.execute(
            "SELECT seq, captured_at, phase, com_height_m, com_velocity_m_s FROM frame_metrics"
        ).fetchone()
        event = conn.execute(
            "SELECT event_type, seq, payload, inserted_at IS NOT NULL FROM events"
            " WHERE event_id = %s",
            (event_id,),
        ).fetchone()

    assert analysis == ("drop_jump", 1.8, 0.3, "created", True, None, None)
    assert rep == (rep_event, T0, {"jump_height_m": 0.31}, {"ok": True}, 1.41)
    assert frame == (7, T0, "flight", 0.12, -0.4)
    assert event == ("phase_change", 7, {"from_phase": "takeoff", "to_phase": "flight"}, True)


def test_redelivered_reps_and_events_are_ignored(migrated_database: str) -> None:
    event_id = uuid.uuid4()
    insert_rep = (
        "INSERT INTO reps (stream_id, rep, event_id, sport, recorded_at, metrics, quality)"
        " VALUES ('s1', 1, %s, 'cmj', %s, '{}', '{}') ON CONFLICT DO NOTHING"
    )
    insert_event = (
        "INSERT INTO events (event_id, stream_id, seq, event_type, captured_at, payload)"
        " VALUES (%s, 's1', 3, 'rep_complete', %s, '{}') ON CONFLICT DO NOTHING"
    )
    with psycopg.connect(migrated_database) as conn:
        inserted = [
            conn.execute(insert_rep, (event_id, T0)).rowcount,
            conn.execute(insert_rep, (event_id, T0)).rowcount,
            conn.execute(insert_event, (event_id, T0)).rowcount,
            conn.execute(insert_event, (event_id, T0)).rowcount,
        ]
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM reps), (SELECT count(*) FROM events)"
        ).fetchone()

    assert inserted == [1, 0, 1, 0]
    assert counts == (1, 1)


@pytest.mark.parametrize(
    ("column", "value"),
    [("sport", "long_jump"), ("athlete_height_m", 0.0)],
)
def test_analyses_rejects_invalid_values(
    migrated_database: str, column: str, value: object
) -> None:
    row: dict[str, object] = {"sport": "cmj", "athlete_height_m": 1.8}
    row[column] = value
    with psycopg.connect(migrated_database) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO analyses (analysis_id, stream_id, sport, athlete_height_m)"
            " VALUES ('a1', 's1', %(sport)s, %(athlete_height_m)s)",
            row,
        )


def test_cli_migrates_the_database_from_the_environment(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KINESTREAM_DATABASE_URL", fresh_database)

    first = main(["db", "migrate"])
    second = main(["db", "migrate"])

    out, err = capsys.readouterr()
    assert (first, second) == (0, 0), out + err
    assert "applied 001_core\n" in out, out
    assert "schema up to date (0 applied;" in out, out


def test_cli_without_a_database_says_how_to_give_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KINESTREAM_DATABASE_URL", raising=False)

    status = main(["db", "migrate"])
    out, err = capsys.readouterr()
    assert status == 2, out + err
    assert "KINESTREAM_DATABASE_URL" in err, err


def test_pending_migrations_are_what_migrate_applies(fresh_database: str) -> None:
    before = pending_migrations(fresh_database)
    assert before[0] == "001_core"
    assert migrate(fresh_database) == before
    assert pending_migrations(fresh_database) == []


def test_flow_refuses_a_database_without_the_schema(
    fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["flow", "--database-url", fresh_database, "--brokers", "127.0.0.1:1"])
    out, err = capsys.readouterr()
    assert status == 2, out + err
    assert "run `kinestream db migrate`" in err, err
    unreachable = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
    status = main(["flow", "--database-url", unreachable])
    out, err = capsys.readouterr()
    assert status == 2, out + err
    assert "cannot use the database" in err, err
