"""The API's reads and writes of analyses in PostgreSQL.

The API creates an ``analyses`` row (status ``created``, owned by an API key) before the
dataflow has seen the stream; the flow completes it (``running``, ``ended`` / ``idle``,
summary) and fills ``reps`` and ``events`` (see :mod:`kinestream.connectors.database`).
Every read here is scoped to the owning key: another key's analysis reads as absent.

Creating and stopping publish a control message while their transaction is open (the
caller passes ``publish``); when publishing fails the transaction rolls back, so no row
claims a start or a stop that Kafka never got.

An open analysis is *dead* (:data:`DEAD_CONDITION`) once nothing happened to it for
:attr:`SessionTimeouts.idle_s` (no event stored, no input delivered by an ingest socket) or
its stop was not confirmed by the dataflow within :attr:`SessionTimeouts.stop_grace_s`. A
dead analysis does not count against its key's concurrent-stream limit, and
:mod:`kinestream.store.session_end` ends it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.rows import dict_row

from kinestream.sports import Sport

ACTIVE_STATUSES: Final = ("created", "running")
"""Statuses that count towards a key's concurrent-stream limit."""
ENDED_STATUSES: Final = ("ended", "idle")

_ANALYSIS_COLUMNS: Final = """
analysis_id, stream_id, api_key_id, sport, athlete_id, athlete_height_m, box_height_m,
options, status, created_at, ended_at, stop_requested_at, last_seq, summary,
COALESCE(end_reason, summary->>'reason') AS end_reason
"""

LAST_ACTIVITY: Final = """
GREATEST(a.created_at, a.stop_requested_at, a.last_input_at,
         (SELECT e.inserted_at FROM events e
          WHERE e.stream_id = a.stream_id AND e.position IS NOT NULL
          ORDER BY e.position DESC LIMIT 1))
"""
"""When the analysis row ``a`` last saw something happen: created, stop requested, input
delivered by an ingest socket, or its latest event stored by the dataflow."""

STOP_UNCONFIRMED: Final = """
(a.stop_requested_at IS NOT NULL
 AND a.stop_requested_at < now() - make_interval(secs => %(stop_grace_s)s))
"""
"""The stop of analysis ``a`` was requested longer than the grace period ago."""

DEAD_CONDITION: Final = f"""
(a.status IN ('created', 'running')
 AND ({STOP_UNCONFIRMED}
      OR {LAST_ACTIVITY} < now() - make_interval(secs => %(idle_s)s)))
"""
"""Whether the open analysis ``a`` is dead (parameters: :meth:`SessionTimeouts.params`)."""


@dataclass(frozen=True, slots=True)
class SessionTimeouts:
    """When an open analysis the dataflow does not finish counts as dead."""

    idle_s: float = 120.0
    """No event stored and no input delivered for this long: ended as ``idle_timeout``."""
    stop_grace_s: float = 30.0
    """A stop the dataflow has not confirmed this long after it was requested: ended as
    ``stopped_without_flow``."""

    def __post_init__(self) -> None:
        if not all(t > 0 and math.isfinite(t) for t in (self.idle_s, self.stop_grace_s)):
            raise ValueError(
                f"session timeouts must be positive, got {self.idle_s!r} s idle"
                f" and {self.stop_grace_s!r} s stop grace"
            )

    def params(self) -> dict[str, float]:
        """The query parameters of :data:`DEAD_CONDITION`."""
        return {"idle_s": self.idle_s, "stop_grace_s": self.stop_grace_s}


class StreamLimitError(Exception):
    """The key already has as many active analyses as its ``max_streams``."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"this API key already has {limit} active analyses (its limit)")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class NewAnalysis:
    """What the API knows of an analysis when it creates it."""

    analysis_id: str
    api_key_id: str
    sport: Sport
    athlete_height_m: float
    box_height_m: float | None
    athlete_id: str | None
    options: dict[str, Any]
    started_at_s: float
    """When the analysis was created (Unix seconds): ``created_at`` and the start's."""

    @property
    def stream_id(self) -> str:
        """The stream carrying the analysis's input: named after the analysis."""
        return self.analysis_id


@dataclass(frozen=True, slots=True)
class AnalysisRecord:
    """An ``analyses`` row."""

    analysis_id: str
    stream_id: str
    api_key_id: str
    sport: Sport
    athlete_id: str | None
    athlete_height_m: float
    box_height_m: float | None
    options: dict[str, Any]
    status: str
    created_at: datetime
    ended_at: datetime | None
    stop_requested_at: datetime | None
    last_seq: int | None
    summary: dict[str, Any] | None
    end_reason: str | None
    """Why the analysis ended (the summary's reason, or why the API ended it)."""

    @property
    def ended(self) -> bool:
        """Whether the dataflow has finished the analysis."""
        return self.status in ENDED_STATUSES

    @property
    def accepts_input(self) -> bool:
        """Whether input may still be sent: not ended and no stop requested."""
        return not self.ended and self.stop_requested_at is None


@dataclass(frozen=True, slots=True)
class RepRecord:
    """One completed repetition (a ``reps`` row)."""

    rep: int
    recorded_at: datetime
    takeoff_at: datetime | None
    metrics: dict[str, Any]
    quality: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An ``events`` row: an analysis event as the database keeps it."""

    event_id: str
    event_type: str
    stream_id: str
    seq: int
    index: int
    position: int
    capture_time_s: float
    payload: dict[str, Any]


def _record(row: dict[str, Any]) -> AnalysisRecord:
    return AnalysisRecord(
        analysis_id=row["analysis_id"],
        stream_id=row["stream_id"],
        api_key_id=row["api_key_id"],
        sport=Sport(row["sport"]),
        athlete_id=row["athlete_id"],
        athlete_height_m=row["athlete_height_m"],
        box_height_m=row["box_height_m"],
        options=row["options"] or {},
        status=row["status"],
        created_at=row["created_at"],
        ended_at=row["ended_at"],
        stop_requested_at=row["stop_requested_at"],
        last_seq=row["last_seq"],
        summary=row["summary"],
        end_reason=row["end_reason"],
    )


def create_analysis(
    conn: psycopg.Connection[Any],
    new: NewAnalysis,
    *,
    max_streams: int,
    publish: Callable[[], None],
    also: Callable[[psycopg.Connection[Any]], None] | None = None,
    timeouts: SessionTimeouts | None = None,
) -> AnalysisRecord:
    """Insert the row of a new analysis, run ``also`` and ``publish``, all in one transaction.

    The key's row is locked for the transaction, so concurrent creations of one key (on
    any API instance) count its active analyses one after the other; dead ones (see
    ``timeouts``) do not count. Raises :class:`StreamLimitError` at the limit; whatever
    ``also`` or ``publish`` raise rolls everything back.
    """
    params = {"key": new.api_key_id, **(timeouts or SessionTimeouts()).params()}
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT 1 FROM api_keys WHERE key_id = %s FOR NO KEY UPDATE", (new.api_key_id,))
        active = cur.execute(
            "SELECT count(*) AS n FROM analyses a WHERE a.api_key_id = %(key)s"
            f" AND a.status IN ('created', 'running') AND NOT {DEAD_CONDITION}",
            params,
        ).fetchone()
        if active is not None and active["n"] >= max_streams:
            raise StreamLimitError(max_streams)
        row = cur.execute(
            f"""
            INSERT INTO analyses (analysis_id, stream_id, api_key_id, sport, athlete_id,
                                  athlete_height_m, box_height_m, options, status, created_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, 'created', to_timestamp(%s))
            RETURNING {_ANALYSIS_COLUMNS}
            """,
            (
                new.analysis_id,
                new.stream_id,
                new.api_key_id,
                new.sport.value,
                new.athlete_id,
                new.athlete_height_m,
                new.box_height_m,
                json.dumps(new.options, allow_nan=False),
                new.started_at_s,
            ),
        ).fetchone()
        assert row is not None
        if also is not None:
            also(conn)
        publish()
    return _record(row)


def get_analysis(
    conn: psycopg.Connection[Any], api_key_id: str, analysis_id: str
) -> AnalysisRecord | None:
    """The analysis if it exists and belongs to ``api_key_id``, else ``None``."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {_ANALYSIS_COLUMNS} FROM analyses WHERE analysis_id = %s AND api_key_id = %s",
            (analysis_id, api_key_id),
        ).fetchone()
    return None if row is None else _record(row)


def get_reps(conn: psycopg.Connection[Any], stream_id: str) -> list[RepRecord]:
    """The completed repetitions of a stream, in order."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT rep, recorded_at, takeoff_at, metrics, quality FROM reps"
            " WHERE stream_id = %s ORDER BY rep",
            (stream_id,),
        ).fetchall()
    return [RepRecord(**row) for row in rows]


def events_after(
    conn: psycopg.Connection[Any],
    stream_id: str,
    after: int,
    limit: int,
    event_types: Sequence[str] | None = None,
    until: int | None = None,
) -> list[StoredEvent]:
    """A stream's events with ``after < position`` (``<= until`` when given), by position.

    ``event_types`` keeps only those types. Ties in position (a stray event of a reused
    stream id) come in insertion order.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """
            SELECT event_id::text, event_type, stream_id, seq, event_index AS index, position,
                   extract(epoch FROM captured_at)::float8 AS capture_time_s, payload
            FROM events
            WHERE stream_id = %(stream_id)s AND position > %(after)s
              AND (%(until)s::bigint IS NULL OR position <= %(until)s::bigint)
              AND (%(types)s::text[] IS NULL OR event_type = ANY(%(types)s::text[]))
            ORDER BY position, inserted_at
            LIMIT %(limit)s
            """,
            {
                "stream_id": stream_id,
                "after": after,
                "until": until,
                "types": list(event_types) if event_types is not None else None,
                "limit": limit,
            },
        ).fetchall()
    return [StoredEvent(**row) for row in rows]


def request_stop(
    conn: psycopg.Connection[Any],
    api_key_id: str,
    analysis_id: str,
    publish: Callable[[int | None], None],
    last_seq: int | None = None,
) -> AnalysisRecord | None:
    """Record a stop request and ``publish`` the end message, once per analysis.

    ``publish`` gets ``last_seq``, or else the last frame an ingest socket recorded, and
    runs only for the first stop of an analysis the flow has not ended; a failing publish
    rolls the request back. Returns the analysis (``None``: not found for this key).
    """
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"""
            UPDATE analyses SET stop_requested_at = now()
            WHERE analysis_id = %s AND api_key_id = %s AND stop_requested_at IS NULL
              AND status = ANY(%s)
            RETURNING {_ANALYSIS_COLUMNS}
            """,
            (analysis_id, api_key_id, list(ACTIVE_STATUSES)),
        ).fetchone()
        if row is not None:
            publish(last_seq if last_seq is not None else row["last_seq"])
            return _record(row)
    return get_analysis(conn, api_key_id, analysis_id)


def record_last_seq(conn: psycopg.Connection[Any], analysis_id: str, seq: int) -> bool:
    """Remember the highest frame sequence number delivered for an analysis, and when.

    Returns whether the analysis still takes input (not ended, no stop requested).
    """
    row = conn.execute(
        "UPDATE analyses SET last_seq = GREATEST(COALESCE(last_seq, %s), %s),"
        " last_input_at = now() WHERE analysis_id = %s"
        " RETURNING status = ANY(%s) AND stop_requested_at IS NULL",
        (seq, seq, analysis_id, list(ACTIVE_STATUSES)),
    ).fetchone()
    return row is not None and bool(row[0])


def takes_input(conn: psycopg.Connection[Any], analysis_id: str) -> bool:
    """Whether the analysis still takes input (exists, not ended, no stop requested)."""
    row = conn.execute(
        "SELECT status = ANY(%s) AND stop_requested_at IS NULL FROM analyses"
        " WHERE analysis_id = %s",
        (list(ACTIVE_STATUSES), analysis_id),
    ).fetchone()
    return row is not None and bool(row[0])
