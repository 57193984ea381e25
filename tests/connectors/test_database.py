"""The PostgreSQL sink on a real server: idempotent writes of every output."""

from __future__ import annotations

from typing import Any

import psycopg

from kinestream.connectors.database import write_session_events
from kinestream.events import AnalysisEvent
from kinestream.session import SessionEvent
from kinestream.sports import Sport
from kinestream.wire import StartMessage

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
