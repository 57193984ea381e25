"""PoseBatcher: batches bounded in size and wait, one frame per stream, bounded queues."""

from __future__ import annotations

import pickle

import numpy as np
import numpy.typing as npt
import pytest

from kinestream.operators.blazepose.batcher import BatchPolicy, PoseBatcher, WaitingFrame
from kinestream.operators.blazepose.geometry import Roi
from kinestream.operators.blazepose.tracking import PoseTrack

Pixels = npt.NDArray[np.uint8]
PIXELS: Pixels = np.zeros((4, 4, 3), np.uint8)


def frame(seq: int, arrived_s: float) -> WaitingFrame[Pixels]:
    return WaitingFrame(PIXELS, seq, seq / 30, arrived_s)


def test_a_full_batch_is_due_at_once_and_holds_the_oldest_streams() -> None:
    batcher = PoseBatcher[Pixels](BatchPolicy(max_batch=4, max_wait_s=0.02))
    for i in range(6):
        batcher.add(f"s{i}", frame(0, 1.0 + i / 1000))
    assert batcher.due_at() == 1.0  # four or more streams wait: due since the oldest came
    batch = batcher.take()
    assert [stream for stream, _, _ in batch] == ["s0", "s1", "s2", "s3"]
    assert batcher.due_at() == pytest.approx(1.004 + 0.02)  # two left: due by the deadline
    assert [stream for stream, _, _ in batcher.take()] == ["s4", "s5"]
    assert batcher.due_at() is None
    assert batcher.take() == []


def test_a_stream_gives_one_frame_a_batch_in_order() -> None:
    batcher = PoseBatcher[Pixels](BatchPolicy(max_batch=8, max_waiting=3))
    for seq in range(3):
        batcher.add("a", frame(seq, seq * 0.01))
    batcher.add("b", frame(0, 0.005))
    seqs = []
    while batcher.due_at() is not None:
        batch = batcher.take()
        assert len({stream for stream, _, _ in batch}) == len(batch)
        seqs += [(stream, waiting.seq) for stream, waiting, _ in batch]
    assert [s for s in seqs if s[0] == "a"] == [("a", 0), ("a", 1), ("a", 2)]
    assert seqs[:2] == [("a", 0), ("b", 0)]


def test_tracks_go_out_with_their_frames_and_come_back() -> None:
    batcher = PoseBatcher[Pixels]()
    batcher.add("a", frame(0, 0.0))
    [(_, _, track)] = batcher.take()
    assert track == PoseTrack()
    tracked = PoseTrack(Roi(0.5, 0.5, 0.2, 0.3, 0.0), frames=1)
    batcher.finish("a", tracked)
    batcher.add("a", frame(1, 0.033))
    [(_, _, track)] = batcher.take()
    assert track == tracked
    restored = pickle.loads(pickle.dumps(batcher))
    assert restored.tracks == batcher.tracks
    batcher.end("a")
    assert batcher.tracks == {}


def test_a_full_queue_drops_its_oldest_frame() -> None:
    batcher = PoseBatcher[Pixels](BatchPolicy(max_waiting=2))
    assert batcher.add("a", frame(0, 0.0)) is None
    assert batcher.add("a", frame(1, 0.1)) is None
    dropped = batcher.add("a", frame(2, 0.2))
    assert dropped is not None
    assert dropped.seq == 0
    assert [w.seq for w in batcher.waiting["a"]] == [1, 2]


def test_under_steady_overload_a_stream_skips_frames_evenly() -> None:
    """Frames at 30 fps, a batch every 50 ms: a third of the frames go, evenly spread."""
    batcher = PoseBatcher[Pixels](BatchPolicy(max_batch=4, max_wait_s=0.0, max_waiting=1))
    dropped: list[int] = []
    served: list[int] = []
    for seq in range(90):
        now = seq / 30
        lost = batcher.add("a", frame(seq, now))
        if lost is not None:
            dropped.append(lost.seq)
        if now >= len(served) * 0.05:  # the models are free again
            served += [waiting.seq for _, waiting, _ in batcher.take()]
    assert len(dropped) == pytest.approx(30, abs=2)
    gaps = np.diff(dropped)
    assert set(gaps.tolist()) <= {2, 3, 4}  # spread evenly, never a burst
    assert sorted(served + dropped) == list(range(len(served) + len(dropped)))


def test_invalid_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="batch policy"):
        BatchPolicy(max_batch=0)
    with pytest.raises(ValueError, match="batch policy"):
        BatchPolicy(max_wait_s=float("nan"))
