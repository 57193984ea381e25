"""Frames of many streams gathered into pose-inference batches, bounded in size and wait.

:class:`PoseBatcher` is the state of one batching stage (a worker's share of the streams):
each stream's tracking state and its frames waiting for inference. It is a plain,
picklable value, and it never reads a clock: callers pass the time. A waiting frame's
pixels are whatever the caller keeps until inference (the dataflow keeps the JPEG bytes, so
a snapshot holds no decoded image).

Policy (:class:`BatchPolicy`):

- a batch holds at most one frame per stream (a stream's next crop comes from its previous
  frame's landmarks, so its frames go through the models in order, one batch each) and at
  most ``max_batch`` frames, the streams whose oldest waiting frame is oldest first;
- a batch is due when ``max_batch`` streams have a frame waiting, when a stream has
  ``max_waiting`` frames waiting (its queue is full: due at once), or when the oldest
  waiting frame has waited ``max_wait_s``;
- backpressure: a full queue runs inference instead of dropping a frame. A caller that runs
  every due batch before it adds the next frame (the dataflow's stage does) holds at most
  ``max_waiting`` frames a stream, and in a synchronous consumer the pace of inference is
  then the pace of reading: a backlog waits in Kafka, not here;
- lag: a waiting frame that is more than ``max_frame_lag_s`` behind live (its
  ``produced_s``, when Kafka got it, that much before the caller's time) is dropped when a
  newer frame of its stream arrives. A stream further behind than that thus skips frames
  until it is within the bound again (under a steady overload, it skips the surplus evenly
  and stays about ``max_frame_lag_s`` behind); its newest frame always runs. Each dropped
  frame is reported to the caller, who tells the stream's analysis (a
  ``quality_warning``). ``max_frame_lag_s`` 0 never drops a frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Final, Generic, TypeVar

from kinestream.operators.blazepose.tracking import PoseTrack

P = TypeVar("P")
"""A waiting frame's pixels: an RGB array, or the JPEG bytes it is decoded from."""

DEFAULT_MAX_BATCH: Final = 16
DEFAULT_MAX_WAIT_S: Final = 0.020  # under a frame interval at 30 fps
DEFAULT_MAX_WAITING: Final = 2
DEFAULT_MAX_FRAME_LAG_S: Final = 30.0
"""Above a recovery replay (``kinestream flow``'s 10 s snapshot interval plus a restart),
so a flow restarted after a crash analyses every frame again; see ``kinestream flow``."""


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """Bounds of a batch: its size, the longest wait for it, each stream's queue, and how
    far behind live a frame may be before a newer one of its stream replaces it."""

    max_batch: int = DEFAULT_MAX_BATCH
    max_wait_s: float = DEFAULT_MAX_WAIT_S
    max_waiting: int = DEFAULT_MAX_WAITING
    max_frame_lag_s: float = DEFAULT_MAX_FRAME_LAG_S
    """0: never drop a frame."""

    def __post_init__(self) -> None:
        valid_times = self.max_wait_s >= 0 and self.max_frame_lag_s >= 0
        if self.max_batch < 1 or self.max_waiting < 1 or not valid_times:
            raise ValueError(f"invalid batch policy {self}")


@dataclass(frozen=True, slots=True)
class WaitingFrame(Generic[P]):
    """A frame waiting for inference: its pixels, seq, capture time, arrival time and when
    Kafka got it (Unix seconds; ``None``: unknown, never behind live)."""

    pixels: P
    seq: int
    timestamp_s: float
    arrived_s: float
    produced_s: float | None = None

    def __setstate__(self, state: Sequence[object]) -> None:
        """Resume a snapshot, also one taken before ``produced_s`` existed (``None``)."""
        for name, value in zip(_WAITING_FIELDS, (*state, None), strict=False):
            object.__setattr__(self, name, value)


_WAITING_FIELDS: Final = tuple(f.name for f in fields(WaitingFrame))


@dataclass(slots=True)
class PoseBatcher(Generic[P]):
    """Streams' tracks and waiting frames; batches taken by :meth:`take`, tracks given back
    by :meth:`finish` once the batch has run."""

    policy: BatchPolicy = field(default_factory=BatchPolicy)
    tracks: dict[str, PoseTrack] = field(default_factory=dict)
    waiting: dict[str, list[WaitingFrame[P]]] = field(default_factory=dict)

    def add(
        self, stream_id: str, frame: WaitingFrame[P], now_s: float
    ) -> list[tuple[WaitingFrame[P], float]]:
        """Queue a stream's frame at ``now_s``; return the waiting frames of the stream it
        replaced (its oldest ones more than ``max_frame_lag_s`` behind live), each with how
        far behind it was."""
        queue = self.waiting.setdefault(stream_id, [])
        dropped: list[tuple[WaitingFrame[P], float]] = []
        while queue and (lag := self._lag_past_bound(queue[0], now_s)) is not None:
            dropped.append((queue.pop(0), lag))
        queue.append(frame)
        return dropped

    def _lag_past_bound(self, frame: WaitingFrame[P], now_s: float) -> float | None:
        """How far ``frame`` is behind live at ``now_s``, if more than ``max_frame_lag_s``."""
        bound = self.policy.max_frame_lag_s
        if bound == 0 or frame.produced_s is None:
            return None
        lag = now_s - frame.produced_s
        return lag if lag > bound else None

    def due_at(self) -> float | None:
        """When the next batch is due (``None``: nothing waits); due since the oldest frame
        came if the batch is full or a stream's queue is."""
        heads = [queue[0].arrived_s for queue in self.waiting.values() if queue]
        if not heads:
            return None
        full = self.policy.max_waiting
        if len(heads) >= self.policy.max_batch or any(
            len(queue) >= full for queue in self.waiting.values()
        ):
            return min(heads)
        return min(heads) + self.policy.max_wait_s

    def take(self) -> list[tuple[str, WaitingFrame[P], PoseTrack]]:
        """The next batch: each stream's oldest frame with its track, oldest first."""
        ready = sorted(
            (queue[0].arrived_s, stream_id) for stream_id, queue in self.waiting.items() if queue
        )[: self.policy.max_batch]
        batch: list[tuple[str, WaitingFrame[P], PoseTrack]] = []
        for _, stream_id in ready:
            frame = self.waiting[stream_id].pop(0)
            if not self.waiting[stream_id]:
                del self.waiting[stream_id]
            batch.append((stream_id, frame, self.tracks.get(stream_id, PoseTrack())))
        return batch

    def finish(self, stream_id: str, track: PoseTrack) -> None:
        """Keep a stream's track after its frame of a batch."""
        self.tracks[stream_id] = track

    def end(self, stream_id: str) -> None:
        """Forget a stream that ended (its track and any waiting frames)."""
        self.tracks.pop(stream_id, None)
        self.waiting.pop(stream_id, None)
