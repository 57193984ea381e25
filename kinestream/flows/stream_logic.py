"""The stateful step of the analysis dataflow: one :class:`StreamLogic` per stream id.

It wraps the stream's analyzer (pure, in :mod:`kinestream.operators`) with the session's
lifecycle:

- a ``start`` control message opens the session and builds the analyzer (a start whose
  parameters do not suit its sport is an ``error`` event, code ``bad_start``, and opens
  nothing);
- pose samples (or frames, turned into poses by a per-stream estimator) go to the analyzer;
- an ``end`` control message finishes the analyzer (``finish("end")``). When the end
  names a ``last_seq`` the stream has not reached yet (control and poses travel on
  different topics, so the end may overtake the last poses), the step waits for that frame
  or for ``end_grace_s``, whichever comes first;
- no input for ``idle_timeout_s`` finishes the analyzer with ``finish("idle")``;
- a message of the stream that could not be decoded (:class:`BadMessage`) becomes an
  ``error`` event of the stream (code ``bad_message``);
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

The snapshot is a :class:`StreamSnapshot`: the picklable analyzer plus the session and the
little lifecycle state above. Timers are not part of it: a resumed stream gets a fresh
idle deadline. The pose estimator of frames mode is not picklable and not snapshotted; it
is rebuilt lazily on the first frame after a resume.

A finished stream keeps only a marker for another ``idle_timeout_s``: messages of the stream
that come late (a producer still sending, a redelivery) are dropped, not taken for a new
stream; then its state is discarded, so millions of short streams do not grow memory.
Stream ids are meant to be single-use: one that comes back after that opens a new stream.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt
from bytewax.operators import StatefulLogic

from kinestream.events import AnalysisEvent
from kinestream.operators.pose import PoseEstimator, PoseSample
from kinestream.session import SessionEvent
from kinestream.wire import EndMessage, Frame, StartMessage


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


StreamInput = StartMessage | EndMessage | PoseSample | Frame | BadMessage
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


@dataclass(slots=True)
class StreamSnapshot:
    """The recoverable state of one stream: plain, picklable values only."""

    stream_id: str = ""
    session: StartMessage | None = None
    analyzer: Analyzer | None = None
    pending: tuple[PoseSample | Frame, ...] = ()
    end: EndMessage | None = None
    highest_seq: int = -1
    reported_no_start: bool = False
    emitted: int = 0
    """Events emitted so far: the position of the next one."""
    ended: bool = False
    """The session is over; late messages of the stream are dropped until the state goes."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class StreamLogic(StatefulLogic[KeyedInput, SessionEvent, StreamSnapshot]):
    """Bytewax stateful logic for one stream; see the module docstring."""

    analyzer_factory: AnalyzerFactory
    settings: StreamSettings
    state: StreamSnapshot = field(default_factory=StreamSnapshot)
    estimator_factory: EstimatorFactory | None = None
    jpeg_decoder: JpegDecoder | None = None
    clock: Clock = _utc_now
    _estimator: PoseEstimator | None = field(default=None, init=False, repr=False)
    _deadline: datetime | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._touch()

    # -- Bytewax callbacks ------------------------------------------------------------------

    @property
    def stream_id(self) -> str:
        """The id of the stream this logic serves."""
        return self.state.stream_id

    def on_item(self, value: KeyedInput) -> tuple[Iterable[SessionEvent], bool]:
        """Handle one control message, pose sample or frame."""
        stream_id, item = value
        if not self.state.stream_id:
            self.state.stream_id = stream_id
        if self.state.ended:
            return [], StatefulLogic.RETAIN
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
                {"code": "bad_message", "message": item.message},
                index=item.index,
            )
            return self._out([error]), StatefulLogic.RETAIN
        self._touch()
        if self.state.analyzer is None:
            return self._hold(item), StatefulLogic.RETAIN
        out = self._analyse(item)
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

    def snapshot(self) -> StreamSnapshot:
        """A copy of the picklable state (which changes in place as items come); estimator
        and timers are rebuilt after a resume."""
        return copy.deepcopy(self.state)

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
            out.extend(self._analyse(item))
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

    def _finish(self, reason: str) -> list[SessionEvent]:
        """Finish the analysis; keep only a marker that the stream ended, for a while."""
        assert self.state.analyzer is not None
        events = self.state.analyzer.finish(reason)
        self._close_estimator()
        out = self._out(events)
        self.state = StreamSnapshot(self.stream_id, emitted=self.state.emitted, ended=True)
        self._touch()
        return out

    def _hold(self, item: PoseSample | Frame) -> list[SessionEvent]:
        pending = (*self.state.pending, item)
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

    def _no_start_error(self, item: PoseSample | Frame | None, why: str) -> list[SessionEvent]:
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

    def _analyse(self, item: PoseSample | Frame) -> list[SessionEvent]:
        assert self.state.analyzer is not None
        if isinstance(item, Frame):
            sample_or_error = self._estimate(item)
            if isinstance(sample_or_error, AnalysisEvent):
                return self._out([sample_or_error])
            sample = sample_or_error
        else:
            sample = item
        analyzer = self.state.analyzer
        first = self.state.highest_seq < 0
        if sample.seq > self.state.highest_seq:
            self.state.highest_seq = sample.seq
        events = analyzer.process(sample)
        if first and sample.timestamp_s < EARLIEST_UNIX_S:
            events.insert(0, self._relative_clock_warning(sample))
        return self._out(events)

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
        try:
            rgb = self.jpeg_decoder(frame.jpeg)
        except ValueError as exc:
            return self._frame_error(frame, "bad_frame", str(exc))
        if self._estimator is None:
            self._estimator = self.estimator_factory()
        return self._estimator.estimate(rgb, frame.seq, frame.timestamp_s)

    def _frame_error(self, frame: Frame, code: str, message: str) -> AnalysisEvent:
        return AnalysisEvent(
            "error",
            self.stream_id,
            frame.seq,
            frame.timestamp_s,
            {"code": code, "message": message},
        )

    def _close_estimator(self) -> None:
        if self._estimator is not None:
            self._estimator.close()
            self._estimator = None

    def _touch(self, seconds: float | None = None) -> None:
        wait = self.settings.idle_timeout_s if seconds is None else seconds
        self._deadline = self.clock() + timedelta(seconds=wait)


def stream_logic_builder(
    analyzer_factory: AnalyzerFactory,
    settings: StreamSettings,
    estimator_factory: EstimatorFactory | None = None,
    jpeg_decoder: JpegDecoder | None = None,
) -> Callable[[StreamSnapshot | None], StreamLogic]:
    """Return the builder Bytewax's ``stateful`` operator calls for each new stream id."""

    def build(resume: StreamSnapshot | None) -> StreamLogic:
        return StreamLogic(
            analyzer_factory=analyzer_factory,
            settings=settings,
            state=resume if resume is not None else StreamSnapshot(),
            estimator_factory=estimator_factory,
            jpeg_decoder=jpeg_decoder,
        )

    return build
