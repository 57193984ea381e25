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
- a batch is due when ``max_batch`` streams have a frame waiting, or when the oldest waiting
  frame has waited ``max_wait_s``;
- backpressure: a stream keeps at most ``max_waiting`` frames; a frame arriving at a full
  stream drops that stream's oldest waiting one. Under a steady overload a stream thus
  skips frames evenly (every k-th) and latency stays bounded, and nothing grows without
  bound: at most ``max_waiting`` frames per stream wait. Each dropped frame is reported to
  the caller, who tells the stream's analysis (a ``quality_warning``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

from kinestream.operators.blazepose.tracking import PoseTrack

P = TypeVar("P")
"""A waiting frame's pixels: an RGB array, or the JPEG bytes it is decoded from."""

DEFAULT_MAX_BATCH: Final = 16
DEFAULT_MAX_WAIT_S: Final = 0.020  # under a frame interval at 30 fps
DEFAULT_MAX_WAITING: Final = 2


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """Bounds of a batch: its size, the longest wait for it, and each stream's queue."""

    max_batch: int = DEFAULT_MAX_BATCH
    max_wait_s: float = DEFAULT_MAX_WAIT_S
    max_waiting: int = DEFAULT_MAX_WAITING

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.max_waiting < 1 or not self.max_wait_s >= 0:
            raise ValueError(f"invalid batch policy {self}")


@dataclass(frozen=True, slots=True)
class WaitingFrame(Generic[P]):
    """A frame waiting for inference: its pixels, seq, capture time and arrival time."""

    pixels: P
    seq: int
    timestamp_s: float
    arrived_s: float


@dataclass(slots=True)
class PoseBatcher(Generic[P]):
    """Streams' tracks and waiting frames; batches taken by :meth:`take`, tracks given back
    by :meth:`finish` once the batch has run."""

    policy: BatchPolicy = field(default_factory=BatchPolicy)
    tracks: dict[str, PoseTrack] = field(default_factory=dict)
    waiting: dict[str, list[WaitingFrame[P]]] = field(default_factory=dict)

    def add(self, stream_id: str, frame: WaitingFrame[P]) -> WaitingFrame[P] | None:
        """Queue a stream's frame; return the frame it dropped, if its queue was full."""
        queue = self.waiting.setdefault(stream_id, [])
        dropped = queue.pop(0) if len(queue) >= self.policy.max_waiting else None
        queue.append(frame)
        return dropped

    def due_at(self) -> float | None:
        """When the next batch is due (``None``: nothing waits); due now if it is full."""
        heads = [queue[0].arrived_s for queue in self.waiting.values() if queue]
        if not heads:
            return None
        if len(heads) >= self.policy.max_batch:
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
