"""Ending dead analyses in the real PostgreSQL server: which are dead, the final summary,
one end per analysis whoever races for it, and nothing left half-done when publishing fails.

Time passes by back-dating rows: the database's ``now()`` is the clock the rules read.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import psycopg
import pytest

from kinestream.connectors.database import write_session_events
from kinestream.events import AnalysisEvent
from kinestream.session import SessionEvent
from kinestream.sports import Sport
from kinestream.store import analyses as analysis_store
from kinestream.store import session_end
from kinestream.store.analyses import NewAnalysis, SessionTimeouts, StreamLimitError
from kinestream.store.api_keys import create_key
from kinestream.store.session_end import EndedAnalysis

TIMEOUTS = SessionTimeouts(idle_s=60.0, stop_grace_s=30.0)


def new_key(conn: psycopg.Connection[Any], max_streams: int = 10) -> str:
    key, _ = create_key(conn, "test", rate_per_minute=1000, max_streams=max_streams)
    return key.key_id


def new_analysis(conn: psycopg.Connection[Any], key_id: str, max_streams: int = 10) -> str:
    new = NewAnalysis(
        analysis_id=str(uuid.uuid4()),
        api_key_id=key_id,
        sport=Sport.CMJ,
        athlete_height_m=1.8,
        box_height_m=None,
        athlete_id="athlete-1",
        options={},
        started_at_s=time.time(),
    )
    analysis_store.create_analysis(
        conn, new, max_streams=max_streams, publish=lambda: None, timeouts=TIMEOUTS
    )
    return new.analysis_id


def age(conn: psycopg.Connection[Any], analysis_id: str, column: str, seconds: float) -> None:
    """Pretend ``column`` happened ``seconds`` ago (``now()`` when it was null)."""
    conn.execute(
        f"UPDATE analyses SET {column} = COALESCE({column}, now()) - make_interval(secs => %s)"
        " WHERE analysis_id = %s",
        (seconds, analysis_id),
    )


def row(conn: psycopg.Connection[Any], analysis_id: str) -> tuple[Any, ...]:
    found = conn.execute(
        "SELECT status, end_reason, summary, ended_at IS NOT NULL FROM analyses"
        " WHERE analysis_id = %s",
        (analysis_id,),
    ).fetchone()
    assert found is not None
    return tuple(found)


@pytest.fixture
def conn(migrated_database: str) -> Any:
    with psycopg.connect(migrated_database, autocommit=True) as connection:
        yield connection


def test_only_quiet_or_unconfirmed_stopped_analyses_are_dead(conn: psycopg.Connection[Any]) -> None:
    key = new_key(conn)
    fresh, quiet, stopped, stopped_recently = (new_analysis(conn, key) for _ in range(4))
    age(conn, quiet, "created_at", 61)
    age(conn, stopped, "stop_requested_at", 31)
    age(conn, stopped_recently, "stop_requested_at", 5)

    dead = session_end.dead_analyses(conn, TIMEOUTS)

    assert sorted(dead) == sorted([quiet, stopped]), (fresh, quiet, stopped, stopped_recently)


def test_recent_events_or_input_keep_an_old_analysis_alive(conn: psycopg.Connection[Any]) -> None:
    key = new_key(conn)
    with_events, with_input = new_analysis(conn, key), new_analysis(conn, key)
    for analysis_id in (with_events, with_input):
        age(conn, analysis_id, "created_at", 3600)
    event = AnalysisEvent("metric_update", with_events, 0, 1.7e9, {"phase": "standing"})
    write_session_events(conn, [SessionEvent(with_events, None, event.numbered(0))])
    analysis_store.record_last_seq(conn, with_input, 10)

    assert session_end.dead_analyses(conn, TIMEOUTS) == []


def test_a_dead_analysis_ends_with_a_summary_of_what_was_stored(
    conn: psycopg.Connection[Any],
) -> None:
    key = new_key(conn)
    analysis_id = new_analysis(conn, key)
    rep = AnalysisEvent(
        "rep_complete",
        analysis_id,
        70,
        1.7e9 + 1.0,
        {"rep": 1, "sport": "cmj", "metrics": {"jump_height_m": 0.31, "flight_time_s": 0.5}},
    )
    frames = [
        AnalysisEvent("metric_update", analysis_id, seq, 1.7e9 + seq / 60, {"phase": "standing"})
        for seq in (0, 60, 120)
    ]
    stored = [*frames, rep]
    write_session_events(
        conn, [SessionEvent(analysis_id, None, e.numbered(p)) for p, e in enumerate(stored)]
    )
    conn.execute("UPDATE events SET inserted_at = now() - interval '2 minutes'")
    age(conn, analysis_id, "created_at", 120)
    published: list[EndedAnalysis] = []

    ended = session_end.end_dead_analysis(conn, analysis_id, TIMEOUTS, published.append)

    assert ended is not None
    assert published == [ended]
    assert ended.api_key_id == key
    assert ended.athlete_id == "athlete-1"
    event = ended.event
    assert (event.event_type, event.stream_id, event.seq, event.position) == (
        "session_summary",
        analysis_id,
        -1,
        4,
    )
    assert event.payload == {
        "sport": "cmj",
        "reps": 1,
        "frames": 3,
        "dropped_frames": None,
        "late_frames": None,
        "duration_s": 2.0,
        "best": {"jump_height_m": 0.31, "flight_time_s": 0.5},
        "reason": "idle_timeout",
    }
    assert row(conn, analysis_id) == ("idle", "idle_timeout", event.payload, True)
    history = analysis_store.events_after(conn, analysis_id, 3, 10)
    assert [(e.event_id, e.position, e.payload) for e in history] == [
        (event.event_id, 4, event.payload)
    ]
    # Ended: not dead any more, and ending it again does nothing.
    assert session_end.dead_analyses(conn, TIMEOUTS) == []
    assert session_end.end_dead_analysis(conn, analysis_id, TIMEOUTS, published.append) is None
    assert len(published) == 1


def test_an_unconfirmed_stop_ends_as_stopped_without_flow(conn: psycopg.Connection[Any]) -> None:
    analysis_id = new_analysis(conn, new_key(conn))
    age(conn, analysis_id, "stop_requested_at", 31)

    ended = session_end.end_dead_analysis(conn, analysis_id, TIMEOUTS, lambda _: None)

    assert ended is not None
    assert ended.event.payload["reason"] == "stopped_without_flow"
    assert ended.event.position == 0
    assert row(conn, analysis_id)[:2] == ("ended", "stopped_without_flow")


def test_a_failed_publish_leaves_the_analysis_open(conn: psycopg.Connection[Any]) -> None:
    analysis_id = new_analysis(conn, new_key(conn))
    age(conn, analysis_id, "created_at", 61)

    def refuse(_: EndedAnalysis) -> None:
        raise RuntimeError("Kafka is down")

    with pytest.raises(RuntimeError, match="Kafka is down"):
        session_end.end_dead_analysis(conn, analysis_id, TIMEOUTS, refuse)

    assert row(conn, analysis_id) == ("created", None, None, False)
    assert analysis_store.events_after(conn, analysis_id, -1, 10) == []
    assert session_end.dead_analyses(conn, TIMEOUTS) == [analysis_id]


def test_concurrent_enders_end_an_analysis_once(migrated_database: str) -> None:
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        analysis_ids = [new_analysis(conn, new_key(conn)) for _ in range(20)]
        for analysis_id in analysis_ids:
            age(conn, analysis_id, "created_at", 61)
    ended: list[str] = []
    lock = threading.Lock()

    def ender() -> None:
        with psycopg.connect(migrated_database, autocommit=True) as own:
            for analysis_id in analysis_ids:
                done = session_end.end_dead_analysis(own, analysis_id, TIMEOUTS, lambda _: None)
                if done is not None:
                    with lock:
                        ended.append(done.analysis_id)

    threads = [threading.Thread(target=ender) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(ended) == sorted(analysis_ids)
    with psycopg.connect(migrated_database) as conn:
        counts = conn.execute(
            "SELECT count(*), count(DISTINCT stream_id) FROM events"
            " WHERE event_type = 'session_summary'"
        ).fetchone()
    assert counts == (20, 20)


def test_dead_analyses_do_not_count_against_the_stream_limit(
    conn: psycopg.Connection[Any],
) -> None:
    key = new_key(conn, max_streams=1)
    first = new_analysis(conn, key, max_streams=1)
    with pytest.raises(StreamLimitError):
        new_analysis(conn, key, max_streams=1)

    age(conn, first, "created_at", 61)

    second = new_analysis(conn, key, max_streams=1)
    assert second != first


def test_a_summary_seen_before_the_sink_stored_it_ends_the_analysis(
    conn: psycopg.Connection[Any],
) -> None:
    analysis_id = new_analysis(conn, new_key(conn))
    payload = {"sport": "cmj", "reps": 2, "frames": 300, "reason": "end"}
    summary = AnalysisEvent("session_summary", analysis_id, 299, 1.7e9, payload, position=400)

    assert session_end.end_with_summary(conn, summary) is True
    assert row(conn, analysis_id) == ("ended", "end", payload, True)
    assert session_end.end_with_summary(conn, summary) is False
