"""Ending analyses in the database where the dataflow does not.

The dataflow ends an analysis by emitting its ``session_summary``. When it never does (its
state was lost, it is down, or it does not know the stream any more), the analysis is
*dead* (:data:`~kinestream.store.analyses.DEAD_CONDITION`) and :func:`end_dead_analysis`
ends it: status ``idle`` (reason ``idle_timeout``: nothing happened for the idle timeout)
or ``ended`` (reason ``stopped_without_flow``: a stop the dataflow did not confirm within
the grace period). It stores a final ``session_summary`` event for the analysis's watchers,
made from what the database holds (reps, analysed frames), at the next position, and the
caller publishes it while the transaction is open: Kafka's refusal rolls the end back, to
be tried again. Rows are locked ``FOR UPDATE SKIP LOCKED``, so any number of API instances
may end dead analyses at once: each is ended once.

:func:`end_with_summary` marks an analysis ended from the summary the dataflow emitted,
for a reader that saw the summary before the database sink stored it (the watch socket).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from psycopg.rows import dict_row

from kinestream.events import AnalysisEvent
from kinestream.sports import Sport
from kinestream.store.analyses import DEAD_CONDITION, STOP_UNCONFIRMED, SessionTimeouts

IDLE_TIMEOUT: Final = "idle_timeout"
"""Reason of an analysis ended because nothing happened to it for the idle timeout."""
STOPPED_WITHOUT_FLOW: Final = "stopped_without_flow"
"""Reason of an analysis ended because the dataflow did not confirm its stop in time."""

_BEST_METRICS: Final = ("jump_height_m", "flight_time_s", "rsi")
"""The metrics whose best value a summary carries (as the analyzer's summary does)."""


@dataclass(frozen=True, slots=True)
class EndedAnalysis:
    """An analysis ended here, with the final event its watchers and webhooks get."""

    analysis_id: str
    api_key_id: str | None
    sport: Sport
    athlete_id: str | None
    event: AnalysisEvent


def status_for(reason: str) -> str:
    """The status of an analysis that ended for ``reason``: ``idle`` or ``ended``."""
    return "idle" if reason in ("idle", IDLE_TIMEOUT) else "ended"


def dead_analyses(
    conn: psycopg.Connection[Any], timeouts: SessionTimeouts, limit: int = 100
) -> list[str]:
    """Ids of dead analyses, oldest first (at most ``limit``)."""
    rows = conn.execute(
        f"SELECT a.analysis_id FROM analyses a WHERE {DEAD_CONDITION}"
        " ORDER BY a.created_at LIMIT %(limit)s",
        {**timeouts.params(), "limit": limit},
    ).fetchall()
    return [str(row[0]) for row in rows]


def _final_summary(
    cur: psycopg.Cursor[dict[str, Any]], stream_id: str, sport: str, reason: str
) -> AnalysisEvent:
    """The ``session_summary`` of a stream, from what the database holds of it."""
    stats = cur.execute(
        """
        SELECT (SELECT count(*) FROM reps WHERE stream_id = %(s)s) AS reps,
               (SELECT max(jump_height_m) FROM reps WHERE stream_id = %(s)s) AS jump_height_m,
               (SELECT max(flight_time_s) FROM reps WHERE stream_id = %(s)s) AS flight_time_s,
               (SELECT max(rsi) FROM reps WHERE stream_id = %(s)s) AS rsi,
               count(*) AS frames,
               extract(epoch FROM min(captured_at))::float8 AS first_s,
               extract(epoch FROM max(captured_at))::float8 AS last_s,
               extract(epoch FROM now())::float8 AS now_s,
               (SELECT COALESCE(max(position) + 1, 0) FROM events
                WHERE stream_id = %(s)s) AS position
        FROM frame_metrics WHERE stream_id = %(s)s
        """,
        {"s": stream_id},
    ).fetchone()
    assert stats is not None
    first_s, last_s = stats["first_s"], stats["last_s"]
    payload = {
        "sport": sport,
        "reps": int(stats["reps"]),
        "frames": int(stats["frames"]),
        "dropped_frames": None,
        "late_frames": None,
        "duration_s": round(last_s - first_s, 4) if first_s is not None else 0.0,
        "best": {name: stats[name] for name in _BEST_METRICS if stats[name] is not None},
        "reason": reason,
    }
    # seq -1: no frame of the stream; the dataflow's own summary always has a seq >= 0,
    # so the two never share an event id.
    capture_s = last_s if last_s is not None else stats["now_s"]
    return AnalysisEvent("session_summary", stream_id, -1, capture_s, payload).numbered(
        int(stats["position"])
    )


def end_dead_analysis(
    conn: psycopg.Connection[Any],
    analysis_id: str,
    timeouts: SessionTimeouts,
    publish: Callable[[EndedAnalysis], None],
) -> EndedAnalysis | None:
    """End the analysis if it is (still) dead and no one else is ending it.

    Stores the final summary event, marks the analysis ended with its reason, and calls
    ``publish`` before committing (what it raises rolls everything back). Returns the ended
    analysis, or ``None`` when it is not dead (any more) or locked by another instance.
    """
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"""
            SELECT a.analysis_id, a.stream_id, a.api_key_id, a.sport, a.athlete_id,
                   CASE WHEN {STOP_UNCONFIRMED} THEN %(stopped)s ELSE %(idle)s END AS reason
            FROM analyses a
            WHERE a.analysis_id = %(analysis_id)s AND {DEAD_CONDITION}
            FOR UPDATE OF a SKIP LOCKED
            """,
            {
                **timeouts.params(),
                "analysis_id": analysis_id,
                "stopped": STOPPED_WITHOUT_FLOW,
                "idle": IDLE_TIMEOUT,
            },
        ).fetchone()
        if row is None:
            return None
        reason = str(row["reason"])
        event = _final_summary(cur, row["stream_id"], row["sport"], reason)
        assert event.position is not None
        cur.execute(
            """
            INSERT INTO events (event_id, stream_id, position, seq, event_index, event_type,
                                captured_at, payload)
            VALUES (%s, %s, %s, %s, %s, %s, to_timestamp(%s), %s::jsonb)
            ON CONFLICT (event_id) DO NOTHING
            """,
            (
                event.event_id,
                event.stream_id,
                event.position,
                event.seq,
                event.index,
                event.event_type,
                event.capture_time_s,
                json.dumps(event.payload, allow_nan=False),
            ),
        )
        cur.execute(
            "UPDATE analyses SET status = %s, ended_at = now(), summary = %s::jsonb,"
            " end_reason = %s WHERE analysis_id = %s",
            (status_for(reason), json.dumps(event.payload), reason, analysis_id),
        )
        ended = EndedAnalysis(
            analysis_id=analysis_id,
            api_key_id=row["api_key_id"],
            sport=Sport(row["sport"]),
            athlete_id=row["athlete_id"],
            event=event,
        )
        publish(ended)
    return ended


def end_with_summary(conn: psycopg.Connection[Any], summary: AnalysisEvent) -> bool:
    """Mark the summary's analysis ended (if still open) with the summary's reason.

    What the database sink writes later changes nothing (it keeps an ended status, the
    first summary and end time). Returns whether the analysis was still open.
    """
    reason = str(summary.payload.get("reason", "end"))
    row = conn.execute(
        "UPDATE analyses SET status = %s, ended_at = COALESCE(ended_at, now()),"
        " summary = COALESCE(summary, %s::jsonb), end_reason = COALESCE(end_reason, %s)"
        " WHERE stream_id = %s AND status IN ('created', 'running') RETURNING 1",
        (
            status_for(reason),
            json.dumps(summary.payload, allow_nan=False),
            reason,
            summary.stream_id,
        ),
    ).fetchone()
    return row is not None
