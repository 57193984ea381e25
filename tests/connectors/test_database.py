"""The PostgreSQL sink on a real server: idempotent writes of every output."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import psycopg
import pytest

from kinestream import wire
from kinestream.connectors.database import (
    DatabaseSink,
    RefusalOutlet,
    write_or_refuse,
    write_session_events,
)
from kinestream.events import AnalysisEvent, metric_updates
from kinestream.session import SessionEvent
from kinestream.sports import Sport
from kinestream.wire import StartMessage
from tests.kafka_topics import TopicFactory, fresh_topics, read_topic

T0 = 1_760_000_000.0
SESSION = StartMessage(
    "dj-1",
    Sport.DROP_JUMP,
    1.75,
    box_height_m=0.4,
    athlete_id="ath-7",
    api_key_id="key-1",
    started_at_s=T0,
)


def _outputs() -> list[SessionEvent]:
    events = [
        AnalysisEvent(
            "metric_update",
            "dj-1",
            seq,
            T0 + seq / 60,
            {
                "phase": "flight",
                "com_height_m": 0.1,
                "com_velocity_m_s": -0.5,
                "pose": {"width": 64, "height": 48, "landmarks": [[0.5, 0.5]] * 33},
            },
        )
        for seq in range(5)
    ]
    events.append(
        AnalysisEvent(
            "rep_complete",
            "dj-1",
            4,
            T0 + 4 / 60,
            {
                "rep": 1,
                "sport": "drop_jump",
                "metrics": {
                    "jump_height_m": 0.33,
                    "flight_time_s": 0.52,
                    "ground_contact_time_s": 0.21,
                    "rsi": 1.57,
                    "takeoff_time_s": T0,
                    "countermovement_detected": False,
                },
                "quality": {"visibility": 0.9},
            },
        )
    )
    summary = AnalysisEvent(
        "session_summary", "dj-1", 4, T0 + 0.1, {"reps": 1, "reason": "end", "best": {}}
    )
    orphan = AnalysisEvent("error", "nobody", -1, 0.0, {"code": "bad_message", "message": "x"})
    return [
        SessionEvent("dj-1", SESSION, None),
        *(SessionEvent("dj-1", SESSION, e) for e in events),
        SessionEvent("dj-1", SESSION, summary),
        SessionEvent("nobody", None, orphan),
    ]


def _counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    out = {}
    for table in ("analyses", "reps", "frame_metrics", "events"):
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        out[table] = int(row[0])
    return out


def test_writing_the_same_outputs_twice_stores_each_once(migrated_database: str) -> None:
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        write_session_events(conn, _outputs())
        first = _counts(conn)
        write_session_events(conn, _outputs())
        write_session_events(conn, _outputs() + _outputs())  # duplicates inside one batch
        assert (
            _counts(conn)
            == first
            == {
                "analyses": 1,
                "reps": 1,
                "frame_metrics": 5,
                "events": 8,
            }
        )
        rep = conn.execute(
            "SELECT athlete_id, sport, jump_height_m, flight_time_s, ground_contact_time_s,"
            " rsi, takeoff_at = to_timestamp(%s), metrics->>'countermovement_detected',"
            " quality->>'visibility' FROM reps",
            (T0,),
        ).fetchone()
        assert rep == ("ath-7", "drop_jump", 0.33, 0.52, 0.21, 1.57, True, "false", "0.9")
        stored = conn.execute(
            "SELECT payload FROM events WHERE event_type = 'metric_update' LIMIT 1"
        ).fetchone()
        assert stored is not None
        assert stored[0] == {"phase": "flight", "com_height_m": 0.1, "com_velocity_m_s": -0.5}
        analysis = conn.execute(
            "SELECT analysis_id, sport, athlete_id, box_height_m, status, api_key_id,"
            " created_at = to_timestamp(%s), ended_at IS NOT NULL, summary->>'reason'"
            " FROM analyses",
            (T0,),
        ).fetchone()
        assert analysis == (
            SESSION.effective_analysis_id,
            "drop_jump",
            "ath-7",
            0.4,
            "ended",
            "key-1",
            True,
            True,
            "end",
        )


def test_a_replayed_start_does_not_reopen_an_ended_analysis(migrated_database: str) -> None:
    outputs = _outputs()
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        write_session_events(conn, outputs)
        write_session_events(conn, outputs[:1])  # the start again, alone
        row = conn.execute("SELECT status, summary IS NOT NULL FROM analyses").fetchone()
        assert row == ("ended", True)


def test_a_row_the_api_created_is_completed_not_replaced(migrated_database: str) -> None:
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO analyses (analysis_id, stream_id, sport, athlete_height_m, api_key_id)"
            " VALUES (%s, 'dj-1', 'drop_jump', 1.75, 'key-1')",
            (SESSION.effective_analysis_id,),
        )
        write_session_events(conn, _outputs()[:1])
        row = conn.execute("SELECT status, api_key_id, athlete_id FROM analyses").fetchone()
        assert row == ("running", "key-1", "ath-7")


OVERFLOW_S = 1e15
"""A capture time beyond PostgreSQL's timestamps (microseconds sent as seconds)."""


def _with_one_bad_row() -> tuple[list[SessionEvent], SessionEvent]:
    outputs = _outputs()
    bad_update = AnalysisEvent("metric_update", "dj-1", 9, OVERFLOW_S, {"phase": "flight"})
    bad = SessionEvent("dj-1", SESSION, bad_update)
    return [*outputs[:3], bad, *outputs[3:]], bad


def _error_rows(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT stream_id, seq, payload->>'code', payload->>'message' FROM events"
        " WHERE event_type = 'error' AND stream_id = 'dj-1'"
    ).fetchall()


def test_a_refused_row_is_isolated_and_the_rest_of_the_batch_is_written(
    migrated_database: str,
) -> None:
    outputs, bad = _with_one_bad_row()
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        refusals = write_or_refuse(conn, outputs)
        assert [r.item for r in refusals] == [bad]
        assert "DatetimeFieldOverflow" in refusals[0].error
        # Everything else is there, as if the bad row had not been in the batch.
        assert _counts(conn) == {"analyses": 1, "reps": 1, "frame_metrics": 5, "events": 8}
        error = refusals[0].error_event()
        assert (error.event_type, error.stream_id, error.seq, error.capture_time_s) == (
            "error",
            "dj-1",
            9,
            0.0,
        )
        assert error.payload["code"] == "database_refused"
        assert error.event_id == write_or_refuse(conn, outputs)[0].error_event().event_id
        # Two refused rows of one batch, far apart, are both found.
        twice = [*outputs, replace(bad, event=replace(bad.event, seq=10))]  # type: ignore[type-var]
        assert len(write_or_refuse(conn, twice)) == 2


def test_the_sink_reports_a_refused_row_as_an_error_event_and_a_dead_letter(
    migrated_database: str, kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    outputs, bad = _with_one_bad_row()
    topics = fresh_topics(topic_factory, partitions=1)
    outlet = RefusalOutlet((kafka_bootstrap,), topics)
    partition = DatabaseSink(migrated_database, outlet=outlet).build("database_out", 0, 1)
    try:
        partition.write_batch(outputs)  # does not raise
        partition.write_batch(outputs)  # a replay stores nothing twice
    finally:
        partition.close()
    assert partition.refused == 2
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM frame_metrics").fetchone() == (5,)
        [(stream_id, seq, code, message)] = _error_rows(conn)
    assert (stream_id, seq, code) == ("dj-1", 9, "database_refused")
    assert "metric_update of frame 9" in message
    events = [
        wire.decode_event(m.key(), m.value()) for m in read_topic(kafka_bootstrap, topics.events)
    ]
    assert [(e.event_type, e.stream_id, e.payload["code"]) for e in events] == [
        ("error", "dj-1", "database_refused")
    ] * 2
    letters = [
        wire.decode_quarantined(m.key(), m.value(), m.headers())
        for m in read_topic(kafka_bootstrap, topics.deadletter)
    ]
    assert len(letters) == 2
    letter = letters[0]
    assert (letter.reason, letter.key) == ("database_row", b"dj-1")
    assert "DatetimeFieldOverflow" in letter.error
    assert letter.value is not None
    assert json.loads(letter.value)["capture_time_s"] == OVERFLOW_S
    assert bad.event is not None
    assert json.loads(letter.value)["event_id"] == bad.event.event_id


def test_without_an_outlet_a_refused_row_is_still_stored_as_an_error(
    migrated_database: str,
) -> None:
    outputs, _ = _with_one_bad_row()
    partition = DatabaseSink(migrated_database).build("database_out", 0, 1)
    try:
        partition.write_batch(outputs)
    finally:
        partition.close()
    assert partition.refused == 1
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        assert [row[:3] for row in _error_rows(conn)] == [("dj-1", 9, "database_refused")]
        assert conn.execute("SELECT count(*) FROM reps").fetchone() == (1,)


def test_a_batch_of_frames_fills_frame_metrics_and_is_stored_once_without_poses(
    migrated_database: str,
) -> None:
    frames = [e.event for e in _outputs()[1:6]]
    batch = metric_updates([f for f in frames if f is not None])
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        write_session_events(conn, [SessionEvent("dj-1", SESSION, batch)])
        rows = conn.execute(
            "SELECT seq, extract(epoch FROM captured_at), phase, com_height_m FROM frame_metrics"
            " ORDER BY seq"
        ).fetchall()
        assert [(seq, phase, height) for seq, _, phase, height in rows] == [
            (seq, "flight", 0.1) for seq in range(5)
        ]
        assert [float(t) for _, t, _, _ in rows] == pytest.approx([T0 + s / 60 for s in range(5)])
        [(event_type, payload)] = conn.execute("SELECT event_type, payload FROM events").fetchall()
    assert event_type == "metric_updates"
    assert [f["seq"] for f in payload["frames"]] == list(range(5))
    assert not any("pose" in f for f in payload["frames"])
