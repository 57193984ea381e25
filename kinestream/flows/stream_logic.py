"""The stateful step of the analysis dataflow: one :class:`StreamLogic` per stream id.

It wraps the stream's analyzer (pure, in :mod:`kinestream.operators`) with the session's
lifecycle:

- a ``start`` control message opens the session and builds the analyzer (a start whose
  parameters do not suit its sport is an ``error`` event, code ``bad_start``, and opens
  nothing);
- pose samples go to the analyzer: a client's, or those the batched pose stage made of a
  stream's frames (:mod:`kinestream.flows.pose_stage`), or frames turned into poses here by
  a per-stream estimator (``--pose mediapipe``), with the camera's motion taken out
  (:class:`~kinestream.operators.camera_motion.CameraMotion`);
- a :class:`FrameIssue` of the pose stage (a frame it could not turn into a pose, or
  dropped) becomes that frame's ``error`` or ``quality_warning`` event, in its place among
  the stream's samples;
- an ``end`` control message finishes the analyzer (``finish("end")``). When the end
  names a ``last_seq`` the stream has not reached yet (control and poses travel on
  different topics, so the end may overtake the last poses), the step waits for that frame
  or for ``end_grace_s``, whichever comes first;
- no input for ``idle_timeout_s`` finishes the analyzer with ``finish("idle")``;
- a message of the stream that could not be decoded (:class:`BadMessage`) becomes an
  ``error`` event of the stream, with the decoder's code (``bad_message``,
  ``bad_capture_time``, ``bad_seq``, ``too_large``; ``quarantined`` for a message a worker
  died on, see :mod:`kinestream.flows.inflight`);
- nothing a stream sends can raise out of this step: a frame that cannot be decoded or
  whose pose estimation fails is that frame's ``error`` event (``bad_frame``, ``too_large``,
  ``pose_estimation_failed``) and the stream goes on; an exception in the stream's analysis
  is an ``error`` event (``analysis_failed``) and ends the stream with that reason (its
  analyzer's state may be half updated), with a ``session_summary``;
- frames mode with a per-stream estimator (about :data:`ESTIMATOR_MEMORY_MIB` MiB each)
  runs at most ``max_frame_streams`` of them a worker (see :mod:`kinestream.flows.budget`);
  a frame stream past that (here or in the pose stage) gets an ``error`` event
  (``frame_streams_full``) and is ended with that reason. An ended stream closes its
  estimator at once;
- capture times must be Unix seconds (they become the stored times): a stream whose first
  frame's time is before ``EARLIEST_UNIX_S`` gets one ``quality_warning``
  (``relative_clock``).

Every event leaves the step numbered: ``position`` counts the stream's events from 0, in
order, without gaps. The counter is part of the snapshot, so a resumed flow gives an event
it emits again the same position (and, from the analyzer, the same id).

Samples of a stream that has no session yet are held, at most ``max_pending`` of them,
until its start arrives (the start may be overtaken too). A stream whose start never comes
gets one ``error`` event (code ``no_start``) and is dropped after the idle timeout; so does
the overflow of the pending buffer.

The snapshot is a :class:`StreamSnapshot` (the picklable analyzer plus the session and the
little lifecycle state above), pickled into bytes at once (:mod:`kinestream.flows.snapshots`:
no deep copy, and a fraction of the standard pickling's cost). Timers are not part of it: a
resumed stream gets a fresh idle deadline. The pose estimator of frames mode is not
picklable and not snapshotted; it is rebuilt lazily on the first frame after a resume, and
its camera motion starts again from that frame. A
snapshot that cannot be read back (written by a version whose classes have changed since,
or damaged) does not stop the flow: that stream ends with one ``error`` event (code
``state_not_restored``) at its next message, and the other streams resume.

A finished stream keeps only a marker for another ``idle_timeout_s``: messages of the stream
that come late (a producer still sending, a redelivery) are dropped, not taken for a new
stream; then its state is discarded, so millions of short streams do not grow memory.
Stream ids are meant to be single-use: one that comes back after that opens a new stream.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Final, Literal, Protocol

import numpy as np
import numpy.typing as npt
from bytewax.operators import StatefulLogic

from kinestream.events import AnalysisEvent
from kinestream.flows import snapshots
from kinestream.flows.budget import (
    ESTIMATOR_MEMORY_MIB,
    MEDIAPIPE_MAX_FRAME_STREAMS,
    FrameStreamBudget,
)
from kinestream.flows.inflight import (
    KIND_FRAME,
    KIND_POSE,
    InflightLog,
    die_like_a_native_crash,
    identity_of,
)
from kinestream.operators.camera_motion import CameraMotion
from kinestream.operators.pose import PoseEstimator, PoseSample
from kinestream.session import SessionEvent
from kinestream.wire import EndMessage, Frame, QuarantinedMessage, StartMessage

_log = logging.getLogger(__name__)


class Analyzer(Protocol):
    """What the step needs of a per-stream analyzer (``kinestream.operators.analyzer``)."""

    def process(self, sample: PoseSample) -> list[AnalysisEvent]:
        """Analyse one sample; duplicates and late samples are the analyzer's to drop."""
        ...

    def finish(self, reason: str) -> list[AnalysisEvent]:
        """End the analysis; returns the ``session_summary`` (and anything still pending)."""
        ...


AnalyzerFactory = Callable[[StartMessage], Analyzer]
"""Builds a started stream's analyzer; raises ``ValueError`` for parameters it refuses."""
EstimatorFactory = Callable[[], PoseEstimator]
JpegDecoder = Callable[[bytes], npt.NDArray[np.uint8]]
Clock = Callable[[], datetime]

EARLIEST_UNIX_S: Final = 1_000_000_000.0
"""Capture times before this (2001-09-09) are taken for a relative clock, not Unix time."""


@dataclass(frozen=True, slots=True)
class BadMessage:
    """A message keyed by this stream that could not be decoded.

    ``seq`` is the frame's sequence number where its headers still say it (else ``-1``)
    and ``index`` tells apart the bad messages of one ``seq`` (derived from the message's
    topic, partition and offset), so that the error's event id is deterministic.
    """

    seq: int
    index: int
    message: str
    code: str = "bad_message"
    """The error event's code: the decoder's (:class:`~kinestream.wire.WireError`)."""
    dead_letter: QuarantinedMessage | None = None
    """A quarantined message, for the ``deadletter`` topic (see ``inflight``)."""


@dataclass(frozen=True, slots=True)
class FrameIssue:
    """A frame the pose stage turned into no pose: its ``error`` (``bad_frame``,
    ``too_large``, ``pose_estimation_failed``, ``frame_streams_full``) or
    ``quality_warning`` (``frame_dropped``) event, with the frame's seq and capture time."""

    seq: int
    timestamp_s: float
    event_type: Literal["error", "quality_warning"]
    code: str
    message: str


StreamInput = StartMessage | EndMessage | PoseSample | Frame | FrameIssue | BadMessage
"""What the step receives for one stream id."""

KeyedInput = tuple[str, StreamInput]
"""The step's value: the stream id (Bytewax's builder does not see the key) and the item."""


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """Timing and limits of the per-stream step."""

    idle_timeout_s: float = 30.0
    end_grace_s: float = 5.0
    max_pending: int = 3000
    """Samples held for a stream whose start has not arrived: 100 s at 30 fps (a catch-up
    after downtime reads poses and control at different paces, so hold generously)."""
    max_frame_streams: int | None = None
    """Frame streams one worker runs at once (``None``: the pose backend's default,
    :func:`~kinestream.flows.budget.default_max_frame_streams`)."""


@dataclass(slots=True)
class StreamSnapshot:
    """The recoverable state of one stream: plain, picklable values only."""

    stream_id: str = ""
    session: StartMessage | None = None
    analyzer: Analyzer | None = None
    pending: tuple[PoseSample | Frame | FrameIssue, ...] = ()
    end: EndMessage | None = None
    highest_seq: int = -1
    reported_no_start: bool = False
    emitted: int = 0
    """Events emitted so far: the position of the next one."""
    ended: bool = False
    """The session is over; late messages of the stream are dropped until the state goes."""
    unreadable: str = ""
    """Why the stream's saved state could not be read back (empty when it could)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


StoredState = bytes | StreamSnapshot
"""What a stream resumes from: its snapshot's bytes, or (recovery data written before the
snapshots became bytes) the :class:`StreamSnapshot` itself."""


@dataclass
class StreamLogic(StatefulLogic[KeyedInput, SessionEvent, StoredState]):
    """Bytewax stateful logic for one stream; see the module docstring."""

    analyzer_factory: AnalyzerFactory
    settings: StreamSettings
    state: StreamSnapshot = field(default_factory=StreamSnapshot)
    estimator_factory: EstimatorFactory | None = None
    jpeg_decoder: JpegDecoder | None = None
    clock: Clock = _utc_now
    budget: FrameStreamBudget | None = None
    inflight: InflightLog | None = None
    crash_on: tuple[str, int] | None = None
    """Test-only: die like a native crash on this (stream id, seq) (see ``inflight``)."""
    _estimator: PoseEstimator | None = field(default=None, init=False, repr=False)
    _camera: CameraMotion = field(default_factory=CameraMotion, init=False, repr=False)
    _deadline: datetime | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._touch()

    # -- Bytewax callbacks ------------------------------------------------------------------

    @property
    def stream_id(self) -> str:
        """The id of the stream this logic serves."""
        return self.state.stream_id

    def on_item(self, value: KeyedInput) -> tuple[Iterable[SessionEvent], bool]:
        """Handle one control message, pose sample or frame; never raises."""
        stream_id, item = value
        if not self.state.stream_id:
            self.state.stream_id = stream_id
        if self.state.unreadable:
            return self._unrestored(item), StatefulLogic.RETAIN
        if self.state.ended:
            return [], StatefulLogic.RETAIN
        inflight = self.inflight
        if inflight is None:
            return self._guarded(item)
        identity = identity_of(stream_id, item)
        inflight.begin(identity)
        try:
            if self.crash_on is not None:
                self._test_crash(identity)
            return self._guarded(item)
        finally:
            inflight.end()

    def _unrestored(self, item: StreamInput) -> list[SessionEvent]:
        """The one ``error`` event (``state_not_restored``) of a stream whose saved state
        could not be read; the stream ends with it."""
        message = (
            f"this stream's saved analysis could not be read back after a restart "
            f"({self.state.unreadable}); its session cannot go on: start a new one"
        )
        self.state.unreadable = ""
        self.state.ended = True
        self._touch()
        return self._out([self._error(getattr(item, "seq", -1), "state_not_restored", message)])

    def _guarded(self, item: StreamInput) -> tuple[Iterable[SessionEvent], bool]:
        try:
            return self._on_item(item)
        except Exception as exc:  # a bug; the analysis's own failures are handled below
            _log.exception("stream %r: failed on %s", self.stream_id, type(item).__name__)
            error = self._error(getattr(item, "seq", -1), "internal_error", _describe(exc))
            return self._out([error]), StatefulLogic.RETAIN

    def _on_item(self, item: StreamInput) -> tuple[Iterable[SessionEvent], bool]:
        if isinstance(item, StartMessage):
            return self._on_start(item)
        if isinstance(item, EndMessage):
            return self._on_end(item)
        if isinstance(item, BadMessage):
            self._touch()
            error = AnalysisEvent(
                "error",
                self.stream_id,
                item.seq,
                0.0,
                {"code": item.code, "message": item.message},
                index=item.index,
            )
            return self._out([error]), StatefulLogic.RETAIN
        self._touch()
        if self.state.analyzer is None:
            return self._hold(item), StatefulLogic.RETAIN
        out = self._analyse(item)
        if self.state.ended:
            return out, StatefulLogic.RETAIN
        end = self.state.end
        if end is not None and end.last_seq is not None and self.state.highest_seq >= end.last_seq:
            return [*out, *self._finish("end")], StatefulLogic.RETAIN
        return out, StatefulLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[SessionEvent], bool]:
        """The stream went quiet: finish it (or report that it never started), or the
        ended stream's state goes."""
        if self.state.ended:
            return [], StatefulLogic.DISCARD
        if self.state.analyzer is None:
            return self._no_start(), StatefulLogic.DISCARD
        reason = "end" if self.state.end is not None else "idle"
        return self._finish(reason), StatefulLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[SessionEvent], bool]:
        """Input ended (finite sources only): keep the state, a resume may continue it."""
        return (), StatefulLogic.RETAIN

    def notify_at(self) -> datetime | None:
        """When the stream counts as idle (or its end's grace period is over)."""
        return self._deadline

    def snapshot(self) -> bytes:
        """The state pickled (it changes in place as items come, the bytes do not);
        estimator and timers are rebuilt after a resume."""
        return snapshots.dumps(self.state)

    # -- lifecycle --------------------------------------------------------------------------

    def _on_start(self, start: StartMessage) -> tuple[list[SessionEvent], bool]:
        self._touch()
        if self.state.session is not None:
            return [], StatefulLogic.RETAIN  # a repeated start (redelivery): nothing new
        try:
            analyzer = self.analyzer_factory(start)
        except ValueError as exc:
            error = AnalysisEvent(
                "error",
                self.stream_id,
                -1,
                0.0,
                {"code": "bad_start", "message": f"start refused: {exc}"},
            )
            return self._out([error]), StatefulLogic.RETAIN
        pending = self.state.pending
        self.state.session, self.state.analyzer, self.state.pending = start, analyzer, ()
        out = [SessionEvent(self.stream_id, start, None)]
        for item in pending:
            out.extend(self._analyse_held(item))
            if self.state.ended:
                return out, StatefulLogic.RETAIN
        end = self.state.end
        if end is not None and (end.last_seq is None or self.state.highest_seq >= end.last_seq):
            return [*out, *self._finish("end")], StatefulLogic.RETAIN
        return out, StatefulLogic.RETAIN

    def _on_end(self, end: EndMessage) -> tuple[list[SessionEvent], bool]:
        if self.state.analyzer is None:
            # The end overtook the start (or the stream never started): wait for it briefly.
            self.state.end = end
            self._touch(self.settings.end_grace_s)
            return [], StatefulLogic.RETAIN
        if end.last_seq is not None and self.state.highest_seq < end.last_seq:
            self.state.end = end
            self._touch(self.settings.end_grace_s)
            return [], StatefulLogic.RETAIN
        return self._finish("end"), StatefulLogic.RETAIN

    def _finish(self, reason: str, before: Iterable[AnalysisEvent] = ()) -> list[SessionEvent]:
        """Finish the analysis (after ``before``, the events that ended it); keep only a
        marker that the stream ended, for a while."""
        analyzer = self.state.analyzer
        assert analyzer is not None
        events = list(before)
        try:
            events.extend(analyzer.finish(reason))
        except Exception as exc:
            _log.exception("stream %r: the analysis could not finish", self.stream_id)
            events.append(self._error(self.state.highest_seq, "analysis_failed", _describe(exc)))
            events.append(self._summary_without_analyzer(analyzer, reason))
        self._close_estimator()
        out = self._out(events)
        self.state = StreamSnapshot(self.stream_id, emitted=self.state.emitted, ended=True)
        self._touch()
        return out

    def _summary_without_analyzer(self, analyzer: Analyzer, reason: str) -> AnalysisEvent:
        """The ``session_summary`` of a stream whose analyzer failed: what it had counted."""
        assert self.state.session is not None
        counts = {name: getattr(analyzer, name, None) for name in ("reps", "frames")}
        return AnalysisEvent(
            "session_summary",
            self.stream_id,
            max(self.state.highest_seq, 0),
            0.0,
            {
                "sport": self.state.session.sport.value,
                **{k: v if isinstance(v, int) else None for k, v in counts.items()},
                "dropped_frames": None,
                "duration_s": None,
                "best": {},
                "reason": reason,
            },
        )

    def _hold(self, item: PoseSample | Frame | FrameIssue) -> list[SessionEvent]:
        pending = (*self.state.pending, _own_landmarks(item))
        out: list[SessionEvent] = []
        if len(pending) > self.settings.max_pending:
            pending = pending[-self.settings.max_pending :]
            if not self.state.reported_no_start:
                out = self._no_start_error(item, "pending buffer full")
                self.state.reported_no_start = True
        self.state.pending = pending
        return out

    def _no_start(self) -> list[SessionEvent]:
        self._close_estimator()
        if self.state.reported_no_start or not self.state.pending:
            if self.state.end is not None and not self.state.pending:
                return self._no_start_error(None, "end without start")
            return []
        return self._no_start_error(self.state.pending[-1], "no input for the idle timeout")

    def _no_start_error(
        self, item: PoseSample | Frame | FrameIssue | None, why: str
    ) -> list[SessionEvent]:
        seq = item.seq if item is not None else -1
        capture = item.timestamp_s if item is not None else 0.0
        event = AnalysisEvent(
            "error",
            self.stream_id,
            seq,
            capture,
            {
                "code": "no_start",
                "message": f"stream {self.stream_id!r} has no start control message ({why})",
            },
        )
        return self._out([event])

    # -- analysis ---------------------------------------------------------------------------

    def _analyse_held(self, item: PoseSample | Frame | FrameIssue) -> list[SessionEvent]:
        """Analyse a sample held until the start came, unless a worker died on it."""
        inflight = self.inflight
        if inflight is None:
            return self._analyse(item)
        identity = identity_of(self.stream_id, item)
        deaths = inflight.quarantined.get(identity)
        if deaths is not None:
            message = (
                f"{type(item).__name__.lower()} {item.seq} skipped: the dataflow's worker died "
                f"{deaths} times while analysing it (it had been held for the start)"
            )
            return self._out([self._error(item.seq, "quarantined", message)])
        inflight.begin(identity)
        if self.crash_on is not None:
            self._test_crash(identity)
        return self._analyse(item)

    def _analyse(self, item: PoseSample | Frame | FrameIssue) -> list[SessionEvent]:
        analyzer = self.state.analyzer
        assert analyzer is not None
        if isinstance(item, FrameIssue):
            return self._frame_issue(item)
        if isinstance(item, Frame):
            sample_or_error = self._estimate(item)
            if isinstance(sample_or_error, AnalysisEvent):
                if sample_or_error.payload["code"] == "frame_streams_full":
                    return self._finish("frame_streams_full", [sample_or_error])
                return self._out([sample_or_error])
            sample = sample_or_error
        else:
            sample = item
        first = self.state.highest_seq < 0
        if sample.seq > self.state.highest_seq:
            self.state.highest_seq = sample.seq
        try:
            events = analyzer.process(sample)
        except Exception as exc:
            # The analyzer may be half updated: end the stream rather than trust it.
            _log.exception("stream %r: the analysis failed on seq %d", self.stream_id, sample.seq)
            failure = self._error(sample.seq, "analysis_failed", _describe(exc), sample.timestamp_s)
            return self._finish("analysis_failed", [failure])
        if first and sample.timestamp_s < EARLIEST_UNIX_S:
            events.insert(0, self._relative_clock_warning(sample))
        return self._out(events)

    def _frame_issue(self, issue: FrameIssue) -> list[SessionEvent]:
        """The pose stage's word on a frame: its event; the frame counts as reached (an
        end naming it as the last need not wait for it)."""
        self.state.highest_seq = max(self.state.highest_seq, issue.seq)
        payload = {"code": issue.code, "message": issue.message}
        event = AnalysisEvent(
            issue.event_type, self.stream_id, issue.seq, issue.timestamp_s, payload
        )
        if issue.code == "frame_streams_full":
            return self._finish("frame_streams_full", [event])
        return self._out([event])

    def _error(
        self, seq: int, code: str, message: str, capture_time_s: float = 0.0
    ) -> AnalysisEvent:
        payload = {"code": code, "message": message}
        return AnalysisEvent("error", self.stream_id, seq, capture_time_s, payload)

    def _test_crash(self, identity: tuple[str, int, int]) -> None:
        assert self.crash_on is not None
        stream_id, kind, seq = identity
        if (stream_id, seq) == self.crash_on and kind in (KIND_POSE, KIND_FRAME):
            die_like_a_native_crash()

    def _relative_clock_warning(self, sample: PoseSample) -> AnalysisEvent:
        # Not about one frame, but the stream's clock: seq -1 keeps its id apart from the
        # analyzer's warnings.
        return AnalysisEvent(
            "quality_warning",
            self.stream_id,
            -1,
            sample.timestamp_s,
            {
                "code": "relative_clock",
                "message": f"capture time {sample.timestamp_s:g} s is not a Unix time: the "
                "analysis is not affected, but the stored times of this stream's reps and "
                "frames will be in 1970; send Unix seconds",
            },
        )

    def _out(self, events: list[AnalysisEvent]) -> list[SessionEvent]:
        """Number the events and attach the session (``None`` before the start)."""
        first = self.state.emitted
        self.state.emitted = first + len(events)
        session = self.state.session
        return [
            SessionEvent(self.stream_id, session, event.numbered(first + i))
            for i, event in enumerate(events)
        ]

    def _estimate(self, frame: Frame) -> PoseSample | AnalysisEvent:
        if self.estimator_factory is None or self.jpeg_decoder is None:
            return self._frame_error(frame, "frames_disabled", "this flow has no pose estimator")
        try:  # first, so that a frame refused here never builds an estimator
            rgb = self.jpeg_decoder(frame.jpeg)
        except Exception as exc:  # cv2.error as well as ValueError
            return self._frame_error(frame, getattr(exc, "code", "bad_frame"), str(exc))
        if self._estimator is None:
            budget = self.budget
            if budget is not None and not budget.acquire():
                return self._frame_error(
                    frame,
                    "frame_streams_full",
                    f"this worker already runs {budget.limit} frame streams, its limit (each "
                    f"holds a pose estimator of about {ESTIMATOR_MEMORY_MIB} MiB); the stream "
                    "is ended: send poses estimated on the client, or try again later",
                )
            try:
                self._estimator = self.estimator_factory()
            except Exception:
                if budget is not None:
                    budget.release()
                raise
        try:
            sample = self._estimator.estimate(rgb, frame.seq, frame.timestamp_s)
        except Exception as exc:
            return self._frame_error(frame, "pose_estimation_failed", _describe(exc))
        return self._camera.steady(rgb, sample)

    def _frame_error(self, frame: Frame, code: str, message: str) -> AnalysisEvent:
        return self._error(frame.seq, code, message, frame.timestamp_s)

    def _close_estimator(self) -> None:
        estimator, self._estimator = self._estimator, None
        self._camera = CameraMotion()
        if estimator is None:
            return
        if self.budget is not None:
            self.budget.release()
        try:
            estimator.close()
        except Exception:
            _log.exception("stream %r: closing its pose estimator failed", self.stream_id)

    def _touch(self, seconds: float | None = None) -> None:
        wait = self.settings.idle_timeout_s if seconds is None else seconds
        self._deadline = self.clock() + _timedelta(wait)


def _own_landmarks(item: PoseSample | Frame | FrameIssue) -> PoseSample | Frame | FrameIssue:
    """``item``, a sample with landmarks that are a row of a batch's array
    (:func:`~kinestream.wire.decode_poses`) with a copy of them instead: a sample held for
    its start must not keep the whole batch in memory."""
    if not isinstance(item, PoseSample):
        return item
    landmarks = item.landmarks
    if landmarks is None or landmarks.base is None or landmarks.base.nbytes <= landmarks.nbytes:
        return item
    return replace(item, landmarks=landmarks.copy())


@cache
def _timedelta(seconds: float) -> timedelta:
    """``timedelta(seconds=seconds)``, made once for each of the few waits there are."""
    return timedelta(seconds=seconds)


def _describe(exc: BaseException) -> str:
    """An exception for an error event's message (bounded: it may quote the input)."""
    return f"{type(exc).__name__}: {exc}"[:500]


def stream_logic_builder(
    analyzer_factory: AnalyzerFactory,
    settings: StreamSettings,
    estimator_factory: EstimatorFactory | None = None,
    jpeg_decoder: JpegDecoder | None = None,
    inflight: InflightLog | None = None,
    crash_on: tuple[str, int] | None = None,
) -> Callable[[StoredState | None], StreamLogic]:
    """Return the builder Bytewax's ``stateful`` operator calls for each new stream id.

    The frame streams' budget (``settings.max_frame_streams``) is shared by the streams of
    each worker."""
    limit = settings.max_frame_streams
    limit = MEDIAPIPE_MAX_FRAME_STREAMS if limit is None else limit
    budget = FrameStreamBudget(limit) if estimator_factory else None

    def build(resume: StoredState | None) -> StreamLogic:
        return StreamLogic(
            analyzer_factory=analyzer_factory,
            settings=settings,
            state=_restored(resume),
            estimator_factory=estimator_factory,
            jpeg_decoder=jpeg_decoder,
            budget=budget,
            inflight=inflight,
            crash_on=crash_on,
        )

    return build


def _restored(resume: StoredState | None) -> StreamSnapshot:
    """The stream's state from its snapshot; a fresh one marked ``unreadable`` where the
    snapshot cannot be read (written by a version whose classes have changed since, or
    damaged), so that one stream's old state cannot stop the flow from resuming."""
    if resume is None:
        return StreamSnapshot()
    if not isinstance(resume, bytes):
        return resume
    try:
        return snapshots.load_state(resume, StreamSnapshot)
    except snapshots.UnreadableSnapshotError as exc:
        _log.warning("a stream's snapshot could not be read (%s); it ends", exc)
        return StreamSnapshot(unreadable=str(exc))
