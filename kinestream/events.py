"""Analysis events: the one contract for what the per-stream analysis emits.

Every event shares one envelope (:class:`AnalysisEvent`) and carries a type-specific
``payload``. The shape is versioned by :data:`EVENT_SCHEMA_VERSION`; a change that removes
or renames a field bumps it.

Event types and their payload keys:

``metric_update`` (one per analysed frame)
    ``phase`` (str), ``com_height_m`` (float | None: CoM height above the standing
    baseline), ``com_velocity_m_s`` (float | None, up positive); with the session's
    ``echo_pose``, also ``pose`` (the frame's landmarks for drawing, see
    :func:`kinestream.operators.pose.drawable_pose`; None without a person).
``metric_updates`` (several frames' ``metric_update`` in one event; what the dataflow emits)
    ``frames``: one object per frame, in capture order: ``seq`` (int), ``capture_time_s``
    (float) and the keys of that frame's ``metric_update``. The event's ``seq`` and
    ``capture_time_s`` are its last frame's. :func:`metric_updates` makes one,
    :func:`frame_updates` gives the frames back as ``metric_update`` events.
``phase_change``
    ``from_phase``, ``to_phase`` (str), ``phase_time_s`` (capture time at which the new
    phase began, sub-frame where it is interpolated), ``rep`` (int, 1-based).
``rep_complete``
    ``rep`` (int), ``sport`` (str), ``metrics`` (dict of metric name to float, bool or
    None; names carry their unit), ``quality`` (dict, see :mod:`kinestream.operators.quality`).
``quality_warning``
    ``code`` (str), ``message`` (str).
``error``
    ``code`` (str), ``message`` (str).
``session_summary``
    ``sport``, ``reps`` (int), ``frames`` (int), ``dropped_frames`` (int),
    ``duration_s`` (float), ``best`` (dict of metric name to best value), ``reason`` (str:
    what ended the session); without repetitions also ``no_reps_reason`` (``no_person``,
    ``no_quiet_standing``, ``no_jump_seen``, ``flight_rejected`` or ``ended_in_flight``) and
    ``no_reps_message`` (str, for people). A running session also has ``steps`` and
    ``bouts`` (int; its ``reps`` counts the steps) and, without steps, ``no_reps_reason``
    ``not_running`` or ``no_steps_seen``.
``step`` (running: one per foot contact, see :mod:`kinestream.operators.gait.bout`)
    ``step`` (int, 1-based in the session), ``bout`` (int), ``foot`` (``left``/``right``),
    ``strike_time_s``, ``toe_off_time_s`` (capture times, sub-frame), ``contact_time_s``,
    ``flight_time_s`` (before this strike) and ``step_time_s`` (strike to strike; both None
    when the other foot's contact before it was not seen), ``step_length_m`` and
    ``speed_m_s`` (None without a scale), ``foot_visibility`` (0-1), ``low_confidence``
    (bool: the far foot, or hidden), ``warnings`` (list of str).
``gait_update`` (running: after each step from a bout's fourth on)
    ``bout``, ``steps`` (in the window), ``window_steps`` (its size, 10), ``cadence_spm``,
    ``contact_time_s``, ``flight_time_s``, ``step_time_s``, ``duty_factor``,
    ``left_contact_time_s``, ``right_contact_time_s``, ``contact_time_asymmetry_pct``,
    ``step_length_m``, ``speed_m_s`` (float | None each).
``bout_summary`` (running: when a bout of running ends)
    The ``gait_update`` figures over the whole bout, and ``bout``, ``steps``,
    ``start_time_s``, ``end_time_s``, ``duration_s``, ``low_confidence_steps``, ``reason``
    (``walking``, ``stopped``, ``athlete_lost`` or ``end_of_stream``).

Event ids are deterministic (UUID 5 over stream id, type, sequence number and index), so a
replay or an at-least-once redelivery produces the same ids and duplicates can be dropped.

``position`` numbers a stream's events in the order the dataflow emitted them: 0, 1, 2, …
with no gaps, the same again when a resumed flow emits an event a second time. A reader
that has seen position ``n`` resumes after it (the WebSocket relay's cursor). Events made
outside the dataflow (``kinestream analyze``) have none.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from kinestream.slots import field_setters

EVENT_SCHEMA_VERSION: Final = 1

EventType = Literal[
    "metric_update",
    "metric_updates",
    "phase_change",
    "rep_complete",
    "quality_warning",
    "error",
    "session_summary",
    "step",
    "gait_update",
    "bout_summary",
]
EVENT_TYPES: Final[tuple[EventType, ...]] = (
    "metric_update",
    "metric_updates",
    "phase_change",
    "rep_complete",
    "quality_warning",
    "error",
    "session_summary",
    "step",
    "gait_update",
    "bout_summary",
)

PER_FRAME_TYPES: Final[frozenset[str]] = frozenset({"metric_update", "metric_updates"})
"""The event types that carry every frame's values (many, small, for live display)."""

_NAMESPACE: Final = uuid.UUID("6f1c7e5e-2b0a-4d8e-9a51-3c0f1d6b7a21")


_NAMESPACE_BYTES: Final = _NAMESPACE.bytes
_JSON: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
"""What ``json.dumps(body, separators=(",", ":"), allow_nan=False)`` builds on every call."""


def event_id_for(stream_id: str, event_type: str, seq: int, index: int = 0) -> str:
    """Return the deterministic id of the ``index``-th event of ``event_type`` at ``seq``:
    ``uuid.uuid5(_NAMESPACE, name)``, without building a ``UUID`` (a third of its cost)."""
    name = f"{stream_id}\x1f{event_type}\x1f{seq}\x1f{index}".encode()
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True, slots=True, init=False)
class AnalysisEvent:
    """One event of one stream's analysis.

    ``seq`` is the sequence number of the frame the event is about (``-1`` when none is
    known), and ``capture_time_s`` that frame's capture timestamp (seconds, the producer's
    clock). ``position`` is the event's place in its stream (see the module docstring).
    """

    event_type: EventType
    stream_id: str
    seq: int
    capture_time_s: float
    payload: dict[str, Any] = field(default_factory=dict)
    index: int = 0
    position: int | None = None
    schema_version: int = EVENT_SCHEMA_VERSION

    def __init__(
        self,
        event_type: EventType,
        stream_id: str,
        seq: int,
        capture_time_s: float,
        payload: dict[str, Any] | None = None,
        index: int = 0,
        position: int | None = None,
        schema_version: int = EVENT_SCHEMA_VERSION,
    ) -> None:
        # The frozen dataclass's own __init__ sets each field through object.__setattr__,
        # twice as slow as the slots' setters (an event a frame or more).
        _set_event_type(self, event_type)
        _set_stream_id(self, stream_id)
        _set_seq(self, seq)
        _set_capture_time_s(self, capture_time_s)
        _set_payload(self, {} if payload is None else payload)
        _set_index(self, index)
        _set_position(self, position)
        _set_schema_version(self, schema_version)

    def numbered(self, position: int) -> AnalysisEvent:
        """This event at its place in the stream (``dataclasses.replace``, but cheap)."""
        return AnalysisEvent(
            self.event_type,
            self.stream_id,
            self.seq,
            self.capture_time_s,
            self.payload,
            self.index,
            position,
            self.schema_version,
        )

    @property
    def event_id(self) -> str:
        """Deterministic id of this event."""
        return event_id_for(self.stream_id, self.event_type, self.seq, self.index)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready wire form of the event."""
        return {
            "schema_version": self.schema_version,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "stream_id": self.stream_id,
            "seq": self.seq,
            "index": self.index,
            "position": self.position,
            "capture_time_s": self.capture_time_s,
            "payload": self.payload,
        }

    def to_json(self) -> bytes:
        """Encode the event as compact UTF-8 JSON."""
        return _JSON.encode(self.to_dict()).encode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnalysisEvent:
        """Decode an event from its wire form; raise ``ValueError`` on a malformed one."""
        try:
            event_type = data["event_type"]
            if event_type not in EVENT_TYPES:
                raise ValueError(f"unknown event type {event_type!r}")
            event = cls(
                event_type=event_type,
                stream_id=str(data["stream_id"]),
                seq=int(data["seq"]),
                capture_time_s=float(data["capture_time_s"]),
                payload=dict(data.get("payload", {})),
                index=int(data.get("index", 0)),
                position=None if data.get("position") is None else int(data["position"]),
                schema_version=int(data.get("schema_version", EVENT_SCHEMA_VERSION)),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed event: {exc}") from exc
        if "event_id" in data and data["event_id"] != event.event_id:
            raise ValueError("event_id does not match the event's content")
        return event

    @classmethod
    def from_json(cls, raw: bytes | str) -> AnalysisEvent:
        """Decode an event from JSON."""
        return cls.from_dict(json.loads(raw))


(
    _set_event_type,
    _set_stream_id,
    _set_seq,
    _set_capture_time_s,
    _set_payload,
    _set_index,
    _set_position,
    _set_schema_version,
) = field_setters(AnalysisEvent)


def metric_updates(frames: Sequence[AnalysisEvent]) -> AnalysisEvent:
    """One ``metric_updates`` event carrying ``frames`` (``metric_update`` events of one
    stream, in order, at least one); its id follows from the last frame's."""
    last = frames[-1]
    payload = {
        "frames": [{"seq": f.seq, "capture_time_s": f.capture_time_s, **f.payload} for f in frames]
    }
    return AnalysisEvent(
        "metric_updates", last.stream_id, last.seq, last.capture_time_s, payload, last.index
    )


def frame_updates(event: AnalysisEvent) -> list[AnalysisEvent]:
    """The ``metric_update`` events of a ``metric_updates`` event (without their position:
    they share the batch's); any other event alone."""
    if event.event_type != "metric_updates":
        return [event]
    out = []
    for frame in event.payload["frames"]:
        payload = {k: v for k, v in frame.items() if k not in ("seq", "capture_time_s")}
        out.append(
            AnalysisEvent(
                "metric_update", event.stream_id, frame["seq"], frame["capture_time_s"], payload
            )
        )
    return out
