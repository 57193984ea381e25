"""The analysis flow's PostgreSQL sink: idempotent, batched writes of every output.

Each :class:`~kinestream.session.SessionEvent` lands in the tables of
``migrations/001_core.sql``:

- every event in ``events`` (``ON CONFLICT (event_id) DO NOTHING``); frames' values there
  come a batch to a row (``metric_updates``, 0.05 s of a stream), because
  positions are the watch socket's resume cursor: a watcher that reconnects after position
  ``n`` is sent what follows from this table, frames' values included;
- a session announcement (``event is None``) and a ``session_summary`` upsert ``analyses``
  (keyed by ``stream_id``); the upsert only fills what is missing and only moves the status
  forward (``created`` → ``running`` → ``ended`` / ``idle``), so a replay changes nothing;
- ``rep_complete`` in ``reps`` (``metrics``/``quality`` as jsonb, the headline metrics copied
  into columns; ``ON CONFLICT DO NOTHING`` on ``(stream_id, rep)`` and ``event_id``);
- ``metric_update`` in ``frame_metrics``, and each frame of a ``metric_updates`` (``ON
  CONFLICT DO NOTHING``); an echoed ``pose`` is for live drawing and is not stored;
- running (``migrations/006_running.sql``): ``step`` in ``steps``, ``bout_summary`` in
  ``bouts`` (``ON CONFLICT DO NOTHING``; ``unseen_steps`` NULL when the payload has none),
  a start's ``belt_speed_m_s`` in ``analyses``.

Delivery into the sink is at-least-once (Bytewax replays the epoch in flight after a
resume); event ids are deterministic, so a replay writes nothing twice. A batch is one
transaction: rows are inserted with ``unnest`` over arrays, a few statements per batch
whatever its size. Capture times are Unix seconds (see :mod:`kinestream.wire`).

An output the database refuses (a capture time beyond PostgreSQL's range, a value no column
takes) does not fail the batch: the batch is split in halves until the refused outputs are
alone (a few transactions per refused output, whatever the batch's size), the rest is
written, and each refused output becomes an ``error`` event of its stream (code
``database_refused``, in ``events``; see :class:`Refusal`) and, with a
:class:`RefusalOutlet`, that event on the events topic and the output on the ``deadletter``
topic (reason ``database_row``). A lost connection is not a refusal: the batch is retried
on a new connection.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import psycopg
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from confluent_kafka import Producer

from kinestream import wire
from kinestream.events import PER_FRAME_TYPES, AnalysisEvent, frame_updates
from kinestream.session import SessionEvent
from kinestream.sports import BOUT_FIGURES
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

_INSERT_STEPS: Final = """
INSERT INTO steps (stream_id, step, strike_at, event_id, bout, athlete_id, foot, toe_off_at,
                   contact_time_s, flight_time_s, step_time_s, step_length_m, speed_m_s,
                   foot_visibility, low_confidence, warnings)
SELECT s.stream_id, s.step, to_timestamp(s.strike_s), s.event_id, s.bout, s.athlete_id, s.foot,
       to_timestamp(s.toe_off_s), s.contact_time_s, s.flight_time_s, s.step_time_s,
       s.step_length_m, s.speed_m_s, s.foot_visibility, s.low_confidence, s.warnings::jsonb
FROM unnest(%s::text[], %s::int[], %s::float8[], %s::uuid[], %s::int[], %s::text[],
            %s::text[], %s::float8[], %s::float8[], %s::float8[], %s::float8[], %s::float8[],
            %s::float8[], %s::float8[], %s::bool[], %s::text[])
    AS s(stream_id, step, strike_s, event_id, bout, athlete_id, foot, toe_off_s,
         contact_time_s, flight_time_s, step_time_s, step_length_m, speed_m_s,
         foot_visibility, low_confidence, warnings)
ON CONFLICT DO NOTHING
"""


_INSERT_BOUTS: Final = f"""
INSERT INTO bouts (stream_id, bout, event_id, athlete_id, started_at, ended_at, steps,
                   low_confidence_steps, unseen_steps, reason, {", ".join(BOUT_FIGURES)},
                   summary)
SELECT b.stream_id, b.bout, b.event_id, b.athlete_id, to_timestamp(b.start_s),
       to_timestamp(b.end_s), b.steps, b.low_confidence_steps, b.unseen_steps, b.reason,
       {", ".join("b." + name for name in BOUT_FIGURES)}, b.summary::jsonb
FROM unnest(%s::text[], %s::int[], %s::uuid[], %s::text[], %s::float8[], %s::float8[],
            %s::int[], %s::int[], %s::int[], %s::text[],
            {"%s::float8[], " * len(BOUT_FIGURES)}%s::text[])
    AS b(stream_id, bout, event_id, athlete_id, start_s, end_s, steps, low_confidence_steps,
         unseen_steps, reason, {", ".join(BOUT_FIGURES)}, summary)
ON CONFLICT DO NOTHING
"""

_UPSERT_ANALYSIS: Final = """
INSERT INTO analyses AS a (analysis_id, stream_id, sport, athlete_id, athlete_height_m,
                           box_height_m, belt_speed_m_s, status, api_key_id, created_at,
                           ended_at, summary)
VALUES (%(analysis_id)s, %(stream_id)s, %(sport)s, %(athlete_id)s, %(athlete_height_m)s,
        %(box_height_m)s, %(belt_speed_m_s)s, %(status)s, %(api_key_id)s,
        COALESCE(to_timestamp(%(started_at_s)s), now()),
        CASE WHEN %(ended)s THEN now() END, %(summary)s::jsonb)
ON CONFLICT (stream_id) DO UPDATE SET
    athlete_id = COALESCE(a.athlete_id, EXCLUDED.athlete_id),
    box_height_m = COALESCE(a.box_height_m, EXCLUDED.box_height_m),
    belt_speed_m_s = COALESCE(a.belt_speed_m_s, EXCLUDED.belt_speed_m_s),
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
    steps: list[list[Any]] = field(default_factory=lambda: [[] for _ in range(16)])
    bouts: list[list[Any]] = field(default_factory=lambda: [[] for _ in range(21)])
    analyses: list[dict[str, Any]] = field(default_factory=list)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _stored_payload(event: AnalysisEvent) -> dict[str, Any]:
    """The payload as stored: without the echoed poses of ``metric_update(s)`` (live drawing
    only, and many times the size of the rest)."""
    payload = event.payload
    if event.event_type == "metric_update" and "pose" in payload:
        return {k: v for k, v in payload.items() if k != "pose"}
    if event.event_type == "metric_updates" and any("pose" in f for f in payload["frames"]):
        frames = [{k: v for k, v in f.items() if k != "pose"} for f in payload["frames"]]
        return {**payload, "frames": frames}
    return payload


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
        "belt_speed_m_s": session.belt_speed_m_s,
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
        if event.event_type in PER_FRAME_TYPES:
            for frame in frame_updates(event):
                for column, value in zip(
                    batch.frames,
                    (
                        frame.stream_id,
                        frame.seq,
                        frame.capture_time_s,
                        str(frame.payload.get("phase", "unknown")),
                        _number(frame.payload.get("com_height_m")),
                        _number(frame.payload.get("com_velocity_m_s")),
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
        elif event.event_type == "step":
            _append(batch.steps, _step_row(event, session))
        elif event.event_type == "bout_summary":
            _append(batch.bouts, _bout_row(event, session))
        elif event.event_type == "session_summary" and session is not None:
            batch.analyses.append(_analysis_row(session, event))
    return batch


def _append(columns: list[list[Any]], row: Sequence[Any]) -> None:
    for column, value in zip(columns, row, strict=True):
        column.append(value)


def _step_row(event: AnalysisEvent, session: StartMessage | None) -> tuple[Any, ...]:
    p = event.payload
    return (
        event.stream_id,
        int(p["step"]),
        _number(p.get("strike_time_s")),
        event.event_id,
        int(p.get("bout", 0)),
        session.athlete_id if session is not None else None,
        str(p.get("foot")),
        _number(p.get("toe_off_time_s")),
        _number(p.get("contact_time_s")),
        _number(p.get("flight_time_s")),
        _number(p.get("step_time_s")),
        _number(p.get("step_length_m")),
        _number(p.get("speed_m_s")),
        _number(p.get("foot_visibility")),
        bool(p.get("low_confidence")),
        json.dumps(p.get("warnings") or [], allow_nan=False),
    )


def _bout_row(event: AnalysisEvent, session: StartMessage | None) -> tuple[Any, ...]:
    p = event.payload
    return (
        event.stream_id,
        int(p["bout"]),
        event.event_id,
        session.athlete_id if session is not None else None,
        _number(p.get("start_time_s")),
        _number(p.get("end_time_s")),
        int(p.get("steps", 0)),
        int(p.get("low_confidence_steps", 0)),
        _count(p.get("unseen_steps")),
        str(p.get("reason", "")),
        *(_number(p.get(name)) for name in BOUT_FIGURES),
        json.dumps(p, allow_nan=False),
    )


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
        if batch.steps[0]:
            cur.execute(_INSERT_STEPS, batch.steps)
        if batch.bouts[0]:
            cur.execute(_INSERT_BOUTS, batch.bouts)


@dataclass(frozen=True, slots=True)
class Refusal:
    """An output the database refused, and why."""

    item: SessionEvent
    error: str

    def error_event(self) -> AnalysisEvent:
        """The stream's ``error`` event about it: at capture time 0 (the refused time may be
        the cause), its index derived from what was refused, so that its id is
        deterministic."""
        event = self.item.event
        what = f"the {event.event_type} of frame {event.seq}" if event else "the session's start"
        refused = event.event_id if event is not None else f"start {self.item.stream_id}"
        return AnalysisEvent(
            "error",
            self.item.stream_id,
            event.seq if event is not None else -1,
            0.0,
            {"code": "database_refused", "message": f"not stored: {what} ({self.error})"},
            index=zlib.crc32(refused.encode()) & 0x7FFFFFFF,
        )

    def dead_letter(self) -> wire.QuarantinedMessage:
        """The refused output on the ``deadletter`` topic: the event's JSON (with whatever
        made it unwritable) or, for a session announcement, its start message."""
        event, session = self.item.event, self.item.session
        key = wire.encode_key(self.item.stream_id)
        if event is not None:
            value = json.dumps(event.to_dict(), separators=(",", ":"), default=repr).encode()
        else:
            value = wire.encode_control(session)[1] if session is not None else b""
        return wire.QuarantinedMessage("database_row", self.error, key, value)


def write_or_refuse(conn: psycopg.Connection[Any], items: Sequence[SessionEvent]) -> list[Refusal]:
    """Write ``items`` (:func:`write_session_events`); if the database refuses the batch,
    write its halves, and so on down to single outputs; return those refused.

    A lost connection (``psycopg.OperationalError``) is raised, not taken for a refusal.
    """
    try:
        write_session_events(conn, items)
    except psycopg.OperationalError:
        raise
    except Exception as exc:  # whatever an output holds, it must not stop the flow
        if len(items) == 1:
            return [Refusal(items[0], f"{type(exc).__name__}: {exc}".strip())]
        middle = len(items) // 2
        return [*write_or_refuse(conn, items[:middle]), *write_or_refuse(conn, items[middle:])]
    return []


@dataclass(frozen=True)
class RefusalOutlet:
    """Where the sink reports refused outputs besides the database: the events topic (the
    stream's ``error`` event) and the ``deadletter`` topic (the output itself)."""

    brokers: tuple[str, ...]
    topics: wire.Topics
    config: Mapping[str, str] = field(default_factory=dict)


class _DatabasePartition(StatelessSinkPartition[SessionEvent]):
    def __init__(
        self, conninfo: str, batch_rows: int, retries: int, outlet: RefusalOutlet | None
    ) -> None:
        self._conninfo = conninfo
        self._batch_rows = batch_rows
        self._retries = retries
        self._outlet = outlet
        self._producer: Producer | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self.refused = 0
        """Outputs the database refused so far (each logged and reported)."""

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._conninfo, autocommit=True)
        return self._conn

    def write_batch(self, items: list[SessionEvent]) -> None:
        for start in range(0, len(items), self._batch_rows):
            chunk = items[start : start + self._batch_rows]
            for attempt in range(self._retries + 1):
                try:
                    refusals = write_or_refuse(self._connection(), chunk)
                    break
                except psycopg.OperationalError:
                    if attempt == self._retries:
                        raise
                    _log.warning("database write failed; reconnecting", exc_info=True)
                    if self._conn is not None:
                        self._conn.close()
                    self._conn = None
                    time.sleep(0.5 * 2**attempt)
            if refusals:
                self._report(refusals)

    def _report(self, refusals: list[Refusal]) -> None:
        self.refused += len(refusals)
        errors = []
        for refusal in refusals:
            _log.error(
                "database refused an output of stream %r (%d refused so far): %s",
                refusal.item.stream_id,
                self.refused,
                refusal.error,
            )
            errors.append(SessionEvent(refusal.item.stream_id, None, refusal.error_event()))
        left = write_or_refuse(self._connection(), errors)
        for refusal in left:
            _log.error("could not store the error event either: %s", refusal.error)
        if self._outlet is None:
            return
        if self._producer is None:
            config = {"bootstrap.servers": ",".join(self._outlet.brokers), **self._outlet.config}
            self._producer = Producer(config)
        topics = self._outlet.topics
        for refusal, error in zip(refusals, errors, strict=True):
            assert error.event is not None
            key, value, headers = wire.encode_event(error.event)
            self._producer.produce(topics.events, value, key, headers=list(headers))
            key_dl, value_dl, headers_dl = wire.encode_quarantined(refusal.dead_letter())
            self._producer.produce(topics.deadletter, value_dl, key_dl, headers=list(headers_dl))
        undelivered = self._producer.flush(30)
        if undelivered:
            _log.error("%d reports of refused outputs not delivered to Kafka", undelivered)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(30)
            self._producer = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class DatabaseSink(DynamicSink[SessionEvent]):
    """Bytewax sink writing the analysis outputs to PostgreSQL; one connection per worker.

    Outputs the database refuses are reported (see the module docstring), to ``outlet``
    when given, and the sink goes on.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        batch_rows: int = 5000,
        retries: int = 3,
        outlet: RefusalOutlet | None = None,
    ) -> None:
        self._conninfo = conninfo
        self._batch_rows = batch_rows
        self._retries = retries
        self._outlet = outlet

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _DatabasePartition:
        """Open this worker's connection (lazily, on its first batch)."""
        return _DatabasePartition(self._conninfo, self._batch_rows, self._retries, self._outlet)
