"""The analysis flow's PostgreSQL sink: idempotent, batched writes of every output.

Each :class:`~kinestream.session.SessionEvent` lands in the tables of
``migrations/001_core.sql``:

- every event in ``events`` (``ON CONFLICT (event_id) DO NOTHING``);
- a session announcement (``event is None``) and a ``session_summary`` upsert ``analyses``
  (keyed by ``stream_id``); the upsert only fills what is missing and only moves the status
  forward (``created`` → ``running`` → ``ended`` / ``idle``), so a replay changes nothing;
- ``rep_complete`` in ``reps`` (``metrics``/``quality`` as jsonb, the headline metrics copied
  into columns; ``ON CONFLICT DO NOTHING`` on ``(stream_id, rep)`` and ``event_id``);
- ``metric_update`` in ``frame_metrics`` (``ON CONFLICT DO NOTHING``); its echoed ``pose``,
  if any, is for live drawing and is not stored.

Delivery into the sink is at-least-once (Bytewax replays the epoch in flight after a
resume); event ids are deterministic, so a replay writes nothing twice. A batch is one
transaction: rows are inserted with ``unnest`` over arrays, a few statements per batch
whatever its size. Capture times are Unix seconds (see :mod:`kinestream.wire`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import psycopg
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from kinestream.events import AnalysisEvent
from kinestream.session import SessionEvent
from kinestream.wire import StartMessage

_log = logging.getLogger(__name__)

_INSERT_EVENTS: Final = """
INSERT INTO events (event_id, stream_id, position, seq, event_index, event_type, captured_at,
                    payload)
SELECT e.event_id, e.stream_id, e.position, e.seq, e.event_index, e.event_type,
       to_timestamp(e.capture_s), e.payload::jsonb
FROM unnest(%s::uuid[], %s::text[], %s::bigint[], %s::bigint[], %s::int[], %s::text[],
            %s::float8[], %s::text[])
    AS e(event_id, stream_id, position, seq, event_index, event_type, capture_s, payload)
ON CONFLICT (event_id) DO NOTHING
"""

_INSERT_FRAME_METRICS: Final = """
INSERT INTO frame_metrics (stream_id, seq, captured_at, phase, com_height_m, com_velocity_m_s)
SELECT f.stream_id, f.seq, to_timestamp(f.capture_s), f.phase, f.com_height_m, f.com_velocity
FROM unnest(%s::text[], %s::bigint[], %s::float8[], %s::text[], %s::float8[], %s::float8[])
    AS f(stream_id, seq, capture_s, phase, com_height_m, com_velocity)
ON CONFLICT DO NOTHING
"""

_INSERT_REPS: Final = """
INSERT INTO reps (stream_id, rep, event_id, sport, athlete_id, takeoff_at, recorded_at,
                  metrics, quality, jump_height_m, flight_time_s, ground_contact_time_s, rsi)
SELECT r.stream_id, r.rep, r.event_id, r.sport, r.athlete_id, to_timestamp(r.takeoff_s),
       to_timestamp(r.recorded_s), r.metrics::jsonb, r.quality::jsonb, r.jump_height_m,
       r.flight_time_s, r.ground_contact_time_s, r.rsi
FROM unnest(%s::text[], %s::int[], %s::uuid[], %s::text[], %s::text[], %s::float8[],
            %s::float8[], %s::text[], %s::text[], %s::float8[], %s::float8[], %s::float8[],
            %s::float8[])
    AS r(stream_id, rep, event_id, sport, athlete_id, takeoff_s, recorded_s, metrics, quality,
         jump_height_m, flight_time_s, ground_contact_time_s, rsi)
ON CONFLICT DO NOTHING
"""

_UPSERT_ANALYSIS: Final = """
INSERT INTO analyses AS a (analysis_id, stream_id, sport, athlete_id, athlete_height_m,
                           box_height_m, status, api_key_id, created_at, ended_at, summary)
VALUES (%(analysis_id)s, %(stream_id)s, %(sport)s, %(athlete_id)s, %(athlete_height_m)s,
        %(box_height_m)s, %(status)s, %(api_key_id)s,
        COALESCE(to_timestamp(%(started_at_s)s), now()),
        CASE WHEN %(ended)s THEN now() END, %(summary)s::jsonb)
ON CONFLICT (stream_id) DO UPDATE SET
    athlete_id = COALESCE(a.athlete_id, EXCLUDED.athlete_id),
    box_height_m = COALESCE(a.box_height_m, EXCLUDED.box_height_m),
    api_key_id = COALESCE(a.api_key_id, EXCLUDED.api_key_id),
    status = CASE
        WHEN a.status IN ('ended', 'idle') THEN a.status
        WHEN EXCLUDED.status IN ('ended', 'idle') THEN EXCLUDED.status
        ELSE 'running' END,
    ended_at = COALESCE(a.ended_at, EXCLUDED.ended_at),
    summary = COALESCE(a.summary, EXCLUDED.summary)
"""


@dataclass
class _Batch:
    events: list[list[Any]] = field(default_factory=lambda: [[] for _ in range(8)])
    frames: list[list[Any]] = field(default_factory=lambda: [[] for _ in range(6)])
    reps: list[list[Any]] = field(default_factory=lambda: [[] for _ in range(13)])
    analyses: list[dict[str, Any]] = field(default_factory=list)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _stored_payload(event: AnalysisEvent) -> dict[str, Any]:
    """The payload as stored: without a ``metric_update``'s echoed pose (live drawing only,
    and many times the size of the rest)."""
    if event.event_type == "metric_update" and "pose" in event.payload:
        return {k: v for k, v in event.payload.items() if k != "pose"}
    return event.payload


def _analysis_row(session: StartMessage, event: AnalysisEvent | None) -> dict[str, Any]:
    summary = event.payload if event is not None else None
    reason = str(summary.get("reason", "end")) if summary is not None else None
    return {
        "analysis_id": session.effective_analysis_id,
        "stream_id": session.stream_id,
        "sport": session.sport.value,
        "athlete_id": session.athlete_id,
        "athlete_height_m": session.athlete_height_m,
        "box_height_m": session.box_height_m,
        "status": "running" if reason is None else ("idle" if reason == "idle" else "ended"),
        "api_key_id": session.api_key_id,
        "started_at_s": session.started_at_s,
        "ended": summary is not None,
        "summary": json.dumps(summary) if summary is not None else None,
    }


def _collect(items: Sequence[SessionEvent]) -> _Batch:
    batch = _Batch()
    value: Any
    for item in items:
        event, session = item.event, item.session
        if event is None:
            if session is not None:
                batch.analyses.append(_analysis_row(session, None))
            continue
        for column, value in zip(
            batch.events,
            (
                event.event_id,
                event.stream_id,
                event.position,
                event.seq,
                event.index,
                event.event_type,
                event.capture_time_s,
                json.dumps(_stored_payload(event), allow_nan=False),
            ),
            strict=True,
        ):
            column.append(value)
        payload = event.payload
        if event.event_type == "metric_update":
            for column, value in zip(
                batch.frames,
                (
                    event.stream_id,
                    event.seq,
                    event.capture_time_s,
                    str(payload.get("phase", "unknown")),
                    _number(payload.get("com_height_m")),
                    _number(payload.get("com_velocity_m_s")),
                ),
                strict=True,
            ):
                column.append(value)
        elif event.event_type == "rep_complete":
            metrics = payload.get("metrics") or {}
            for column, value in zip(
                batch.reps,
                (
                    event.stream_id,
                    int(payload["rep"]),
                    event.event_id,
                    str(payload.get("sport") or (session.sport.value if session else "")),
                    session.athlete_id if session is not None else None,
                    _number(metrics.get("takeoff_time_s")),
                    event.capture_time_s,
                    json.dumps(metrics, allow_nan=False),
                    json.dumps(payload.get("quality") or {}, allow_nan=False),
                    _number(metrics.get("jump_height_m")),
                    _number(metrics.get("flight_time_s")),
                    _number(metrics.get("ground_contact_time_s")),
                    _number(metrics.get("rsi")),
                ),
                strict=True,
            ):
                column.append(value)
        elif event.event_type == "session_summary" and session is not None:
            batch.analyses.append(_analysis_row(session, event))
    return batch


def write_session_events(conn: psycopg.Connection[Any], items: Sequence[SessionEvent]) -> None:
    """Write one batch of outputs in one transaction (idempotent)."""
    batch = _collect(items)
    with conn.transaction(), conn.cursor() as cur:
        # Sessions first: a summary in the same batch as its start moves the status on.
        if batch.analyses:
            cur.executemany(_UPSERT_ANALYSIS, batch.analyses)
        if batch.events[0]:
            cur.execute(_INSERT_EVENTS, batch.events)
        if batch.frames[0]:
            cur.execute(_INSERT_FRAME_METRICS, batch.frames)
        if batch.reps[0]:
            cur.execute(_INSERT_REPS, batch.reps)


class _DatabasePartition(StatelessSinkPartition[SessionEvent]):
    def __init__(self, conninfo: str, batch_rows: int, retries: int) -> None:
        self._conninfo = conninfo
        self._batch_rows = batch_rows
        self._retries = retries
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._conninfo, autocommit=True)
        return self._conn

    def write_batch(self, items: list[SessionEvent]) -> None:
        for start in range(0, len(items), self._batch_rows):
            chunk = items[start : start + self._batch_rows]
            for attempt in range(self._retries + 1):
                try:
                    write_session_events(self._connection(), chunk)
                    break
                except psycopg.OperationalError:
                    if attempt == self._retries:
                        raise
                    _log.warning("database write failed; reconnecting", exc_info=True)
                    if self._conn is not None:
                        self._conn.close()
                    self._conn = None
                    time.sleep(0.5 * 2**attempt)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class DatabaseSink(DynamicSink[SessionEvent]):
    """Bytewax sink writing the analysis outputs to PostgreSQL; one connection per worker."""

    def __init__(self, conninfo: str, *, batch_rows: int = 5000, retries: int = 3) -> None:
        self._conninfo = conninfo
        self._batch_rows = batch_rows
        self._retries = retries

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _DatabasePartition:
        """Open this worker's connection (lazily, on its first batch)."""
        return _DatabasePartition(self._conninfo, self._batch_rows, self._retries)
