"""Frames mode's batched pose inference: frames of many streams, one BlazePose run a batch.

:func:`batched_poses` sends the frames (and ends) of the flow through a stateful step keyed
by a bucket of the stream id (:func:`bucket_of`, ``buckets`` keys: Bytewax routes each
bucket to one worker, so scale-out is its own). A bucket's :class:`PoseStage` holds a
:class:`~kinestream.operators.blazepose.batcher.PoseBatcher` of its streams' tracks and
waiting frames, kept as JPEG bytes and decoded only for the batch that runs them, and runs
the batches on :func:`~kinestream.operators.onnx_pose.shared_blazepose` (the ONNX Runtime
sessions once per process, on the CPU or CUDA). It passes on, as ``(stream id, item)``:

- each frame's :class:`~kinestream.operators.pose.PoseSample`, a stream's in the order its
  frames came (one frame per stream a batch), in the stream's first picture: the camera's
  own motion, measured on the background, taken out
  (:class:`~kinestream.operators.camera_motion.CameraMotion`);
- a :class:`~kinestream.flows.stream_logic.FrameIssue` for a frame that gave no pose: an
  ``error`` for one the JPEG decoder refused (its codes: ``bad_frame``, ``too_large``),
  whose batch failed (``pose_estimation_failed``) or of a stream past the worker's budget
  (``frame_streams_full``, :mod:`kinestream.flows.budget`), a ``quality_warning``
  (``frame_dropped``) for a frame skipped because its stream was too far behind live;
- a stream's :class:`~kinestream.wire.EndMessage` once its waiting frames are through (so
  the end never overtakes them here); the stage then forgets the stream, as it does one
  without frames for ``idle_timeout_s`` (to 1.5 times that).

Batches (:class:`~kinestream.operators.blazepose.batcher.BatchPolicy`): at most 16 frames,
one per stream; due when 16 streams wait, when a stream has 2 frames waiting, or when the
oldest frame has waited 20 ms (``notify_at``). Backpressure: the stage runs every due batch
before it takes the next item, so a stream's second waiting frame runs a batch at once
instead of dropping one. Bytewax's worker is synchronous: while inference runs, the Kafka
source is not read, so a backlog (a flow restarted from recovery, started at the topic's
beginning, ``kinestream publish --fast``) waits in Kafka, is read as fast as inference
goes, and its frames get their poses one by one (unless too far behind live, below); a
bucket holds at most 2 JPEGs a stream.

Lag (``max_frame_lag_s``, ``kinestream flow --max-frame-lag-s``, default 30 s): a waiting
frame that Kafka got more than that long ago (its message timestamp,
:attr:`~kinestream.wire.Frame.produced_s`) is skipped when a newer frame of its stream
arrives, each a ``quality_warning`` saying how far behind it was (and a gap in the stream's
seqs, which its analysis counts as dropped). A stream further behind than the bound thus
skips frames until it is within it again, its newest frame always analysed; under a steady
overload it skips the surplus evenly and stays about the bound behind live. The default
is above what a restart replays (the last snapshot's 10 s and the restart), so a flow
restarted after a crash analyses every frame again, as before the crash; one down longer
skips to the bound and takes every frame from there. 0 never skips (backfills). The Kafka
timestamp, not the capture time, is the measure: it is the producer's clock (the API's, a
camera publisher's) or, on a topic with ``message.timestamp.type=LogAppendTime``, the
broker's, while capture times come from device clocks that may be off, relative (before
2001) or ahead of the wall clock (``publish --fast`` stamps a file's frames at their pace
in the file).

The snapshot is a :class:`StageState`, pickled into bytes at once
(:mod:`kinestream.flows.snapshots`): the batcher (tracks, waiting JPEGs), the streams'
camera motions (each with its last grey picture, about 0.2 MB) and last frame times; the
models are rebuilt, not snapshotted. A snapshot that cannot be read back (written by a
version whose classes have changed since, or damaged) starts its bucket afresh: its streams
find their athletes again, and the few frames it held are not posed.
"""

from __future__ import annotations

import functools
import logging
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import bytewax.operators as op
import numpy as np
import numpy.typing as npt
from bytewax.dataflow import Stream
from bytewax.operators import StatefulLogic

from kinestream.connectors.jpeg import decode_jpeg
from kinestream.flows import snapshots
from kinestream.flows.budget import ONNX_MAX_FRAME_STREAMS, FrameStreamBudget
from kinestream.flows.inflight import KIND_FRAME, InflightLog
from kinestream.flows.stream_logic import FrameIssue, JpegDecoder, KeyedInput, StreamSettings
from kinestream.operators.blazepose.batcher import BatchPolicy, PoseBatcher, WaitingFrame
from kinestream.operators.blazepose.tracking import PoseTrack
from kinestream.operators.camera_motion import CameraMotion
from kinestream.operators.pose import PoseSample
from kinestream.wire import EndMessage, Frame

if TYPE_CHECKING:  # ONNX Runtime is imported only by a flow that runs the stage
    from kinestream.operators.blazepose.runtime import BlazePose, Device, PoseRequest

_log = logging.getLogger(__name__)

StageInput = tuple[str, Frame | EndMessage]
"""What the stage receives: a frame or an end, with its stream id."""
Clock = Callable[[], float]
"""Unix seconds now."""

DEFAULT_BUCKETS: Final = 1


def bucket_of(stream_id: str, buckets: int) -> str:
    """The stage key of a stream: one of ``buckets``, the same on every worker."""
    return str(zlib.crc32(stream_id.encode()) % buckets)


@dataclass(frozen=True, slots=True)
class PoseStageSettings:
    """How frames mode's pose stage runs."""

    device: Device | None = None
    """``None``: CUDA when onnxruntime offers it, else the CPU."""
    policy: BatchPolicy = field(default_factory=BatchPolicy)
    buckets: int = DEFAULT_BUCKETS
    """Keys the stage is split into, each one batcher on one worker: about the number of
    workers (more spread the streams more evenly, fewer make fuller batches)."""

    def __post_init__(self) -> None:
        if self.buckets < 1:
            raise ValueError(f"the pose stage needs at least one bucket, got {self.buckets}")


@dataclass(slots=True)
class StageState:
    """The recoverable state of one bucket: plain, picklable values only."""

    batcher: PoseBatcher[bytes]
    seen: dict[str, float] = field(default_factory=dict)
    """Streams holding a place in the budget, with their last frame's arrival time."""
    refused: dict[str, float] = field(default_factory=dict)
    """Streams refused a place, with their last frame's arrival time."""
    ends: dict[str, EndMessage] = field(default_factory=dict)
    """Ends waiting for their stream's waiting frames."""
    cameras: dict[str, CameraMotion] = field(default_factory=dict)
    """Each stream's camera motion, taken out of its poses."""


StoredStage = bytes | StageState
"""What a bucket resumes from: its snapshot's bytes, or (recovery data written before the
snapshots became bytes) the :class:`StageState` itself."""


def _utc_datetime(unix_s: float) -> datetime:
    return datetime.fromtimestamp(unix_s, UTC)


@dataclass
class PoseStage(StatefulLogic[StageInput, KeyedInput, StoredStage]):
    """Bytewax stateful logic of one bucket of streams; see the module docstring."""

    state: StageState
    blazepose: Callable[[], BlazePose]
    """The worker's models (built on the first batch, shared by the buckets)."""
    jpeg_decoder: JpegDecoder
    idle_timeout_s: float
    budget: FrameStreamBudget | None = None
    inflight: InflightLog | None = None
    clock: Clock = time.time
    _sweep_at: float | None = field(default=None, init=False, repr=False)
    """When to look for idle streams next (``None``: the bucket knows none)."""

    def __post_init__(self) -> None:
        if self.state.seen or self.state.refused:  # resumed: streams may go idle
            self._sweep_at = self.clock() + self.idle_timeout_s

    def on_item(self, value: StageInput) -> tuple[Iterable[KeyedInput], bool]:
        """Queue a frame (running what is due), or pass an end on after its frames."""
        stream_id, item = value
        now = self.clock()
        if isinstance(item, EndMessage):
            if stream_id in self.state.batcher.waiting:
                self.state.ends[stream_id] = item
                return self._run_due(now), StatefulLogic.RETAIN
            self._forget(stream_id)
            return [*self._run_due(now), (stream_id, item)], StatefulLogic.RETAIN
        return [*self._add(stream_id, item, now), *self._run_due(now)], StatefulLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[KeyedInput], bool]:
        """Run the batches that are due; forget streams idle for ``idle_timeout_s`` (looked
        for every half of it, so a stream goes 1 to 1.5 times that after its last frame)."""
        now = self.clock()
        out = self._run_due(now)
        if self._sweep_at is not None and now >= self._sweep_at:
            cutoff = now - self.idle_timeout_s
            state = self.state
            for stream_id, last in [*state.seen.items(), *state.refused.items()]:
                if last <= cutoff and stream_id not in state.batcher.waiting:
                    self._forget(stream_id)
            known = state.seen or state.refused
            self._sweep_at = now + self.idle_timeout_s / 2 if known else None
        return out, StatefulLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[KeyedInput], bool]:
        """Input ended (finite sources): run every waiting frame."""
        out: list[KeyedInput] = []
        while self.state.batcher.due_at() is not None:
            out.extend(self._run_batch())
        return out, StatefulLogic.RETAIN

    def notify_at(self) -> datetime | None:
        """The next batch's deadline, or the next look for idle streams."""
        times = [t for t in (self.state.batcher.due_at(), self._sweep_at) if t is not None]
        return _utc_datetime(min(times)) if times else None

    def snapshot(self) -> bytes:
        """The state pickled (it changes in place as frames come, the bytes do not)."""
        return snapshots.dumps(self.state)

    # -- frames in ----------------------------------------------------------------------

    def _add(self, stream_id: str, frame: Frame, now: float) -> list[KeyedInput]:
        state = self.state
        if self._sweep_at is None:
            self._sweep_at = now + self.idle_timeout_s
        if stream_id in state.refused:
            state.refused[stream_id] = now  # its per-stream step has ended it already
            return []
        if stream_id not in state.seen and self.budget is not None and not self.budget.acquire():
            state.refused[stream_id] = now
            limit = self.budget.limit
            message = (
                f"this worker already runs {limit} frame streams, its limit; the stream is "
                "ended: send poses estimated on the client, or try again later"
            )
            return [(stream_id, _error(frame, "frame_streams_full", message))]
        state.seen[stream_id] = now
        waiting = WaitingFrame(frame.jpeg, frame.seq, frame.timestamp_s, now, frame.produced_s)
        bound = state.batcher.policy.max_frame_lag_s
        out: list[KeyedInput] = []
        for dropped, lag in state.batcher.add(stream_id, waiting, now):
            message = (
                f"frame {dropped.seq} was skipped: Kafka got it {lag:.1f} s ago, more than the "
                f"flow's bound of {bound:g} s behind live (--max-frame-lag-s), and a newer "
                "frame of this stream was waiting; the stream skips frames until it is back "
                "within the bound"
            )
            issue = FrameIssue(
                dropped.seq, dropped.timestamp_s, "quality_warning", "frame_dropped", message
            )
            out.append((stream_id, issue))
        return out

    def _forget(self, stream_id: str) -> None:
        state = self.state
        if state.seen.pop(stream_id, None) is not None and self.budget is not None:
            self.budget.release()
        state.refused.pop(stream_id, None)
        state.ends.pop(stream_id, None)
        state.cameras.pop(stream_id, None)
        state.batcher.end(stream_id)

    # -- batches ------------------------------------------------------------------------

    def _run_due(self, now: float) -> list[KeyedInput]:
        out: list[KeyedInput] = []
        while (due := self.state.batcher.due_at()) is not None and due <= now:
            out.extend(self._run_batch())
        return out

    def _run_batch(self) -> list[KeyedInput]:
        """Decode, estimate and pass on the next batch, with any end it lets through."""
        batcher = self.state.batcher
        from kinestream.operators.blazepose.runtime import PoseRequest

        batch = batcher.take()
        results: list[PoseSample | FrameIssue | None] = []
        requests: list[PoseRequest] = []
        for stream_id, waiting, track in batch:
            rgb = self._decode(stream_id, waiting)
            if isinstance(rgb, FrameIssue):
                results.append(rgb)
            else:
                results.append(None)
                requests.append(PoseRequest(track, rgb, waiting.seq, waiting.timestamp_s))
        estimated = iter(self._estimate(requests))
        out: list[KeyedInput] = []
        pictures = iter(requests)
        for (stream_id, waiting, _), result in zip(batch, results, strict=True):
            if result is None:
                pose, picture = next(estimated), next(pictures).rgb
                if isinstance(pose, tuple):
                    sample, next_track = pose
                    batcher.finish(stream_id, next_track)
                    camera = self.state.cameras.setdefault(stream_id, CameraMotion())
                    result = camera.steady(picture, sample)
                else:
                    result = _error(waiting, "pose_estimation_failed", pose)
            out.append((stream_id, result))
            end = self.state.ends.get(stream_id)
            if end is not None and stream_id not in batcher.waiting:
                self._forget(stream_id)
                out.append((stream_id, end))
        return out

    def _decode(
        self, stream_id: str, waiting: WaitingFrame[bytes]
    ) -> npt.NDArray[np.uint8] | FrameIssue:
        inflight = self.inflight
        if inflight is not None:  # a JPEG that kills the decoder is quarantined next start
            inflight.begin((stream_id, KIND_FRAME, waiting.seq))
        try:
            return self.jpeg_decoder(waiting.pixels)
        except Exception as exc:  # cv2.error as well as the decoder's own refusals
            return _error(waiting, getattr(exc, "code", "bad_frame"), str(exc))
        finally:
            if inflight is not None:
                inflight.end()

    def _estimate(self, requests: list[PoseRequest]) -> list[tuple[PoseSample, PoseTrack] | str]:
        """Each request's (pose, next track), or the reason the batch failed."""
        if not requests:
            return []
        try:
            return list(self.blazepose().estimate_batch(requests))
        except Exception as exc:
            _log.exception("a pose batch of %d frames failed", len(requests))
            return [f"{type(exc).__name__}: {exc}"[:500]] * len(requests)


def _error(frame: Frame | WaitingFrame[bytes], code: str, message: str) -> FrameIssue:
    return FrameIssue(frame.seq, frame.timestamp_s, "error", code, message)


def pose_stage_builder(
    settings: PoseStageSettings,
    blazepose: Callable[[], BlazePose],
    jpeg_decoder: JpegDecoder,
    idle_timeout_s: float,
    max_frame_streams: int,
    inflight: InflightLog | None = None,
) -> Callable[[StoredStage | None], PoseStage]:
    """Return the builder Bytewax's ``stateful`` operator calls for each bucket; the frame
    streams' budget is shared by the buckets of each worker."""
    budget = FrameStreamBudget(max_frame_streams)

    def build(resume: StoredStage | None) -> PoseStage:
        state = _restored(resume, settings.policy)
        state.batcher.policy = settings.policy  # a restart may change it (--max-frame-lag-s)
        for _ in state.seen:  # a resumed bucket's streams hold their places again
            budget.acquire()
        return PoseStage(state, blazepose, jpeg_decoder, idle_timeout_s, budget, inflight)

    return build


def _restored(resume: StoredStage | None, policy: BatchPolicy) -> StageState:
    """A bucket's state from its snapshot; a fresh one where there is none or it cannot be
    read (written by a version whose classes have changed since, or damaged): its streams
    then find their athletes again, and the few frames it held are not posed."""
    if isinstance(resume, StageState):
        return resume
    if resume is not None:
        try:
            return snapshots.load_state(resume, StageState)
        except snapshots.UnreadableSnapshotError as exc:
            _log.warning("a pose bucket's snapshot could not be read (%s); it starts afresh", exc)
    return StageState(PoseBatcher(policy))


def batched_poses(
    step_id: str,
    items: Stream[KeyedInput],
    settings: PoseStageSettings,
    stream: StreamSettings,
    inflight: InflightLog | None = None,
) -> Stream[KeyedInput]:
    """``items`` with every frame turned into its pose (or issue) by the stage, ends after
    their stream's frames; everything else passes by."""
    from kinestream.operators.blazepose.runtime import default_device
    from kinestream.operators.onnx_pose import shared_blazepose

    limit = stream.max_frame_streams
    builder = pose_stage_builder(
        settings,
        functools.partial(shared_blazepose, settings.device or default_device()),
        decode_jpeg,
        stream.idle_timeout_s,
        ONNX_MAX_FRAME_STREAMS if limit is None else limit,
        inflight,
    )
    buckets = settings.buckets
    split = op.branch(f"{step_id}_frames", items, lambda kv: isinstance(kv[1], Frame | EndMessage))
    keyed = op.key_on(f"{step_id}_bucket", split.trues, lambda kv: bucket_of(kv[0], buckets))
    staged = op.key_rm(f"{step_id}_unkey", op.stateful(step_id, keyed, builder))  # type: ignore[arg-type]
    return op.merge(f"{step_id}_merge", staged, split.falses)
