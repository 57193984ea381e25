"""PoseBatcher: batches bounded in size and wait, one frame per stream, a full queue due at
once, frames too far behind live replaced by newer ones."""

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


def frame(seq: int, arrived_s: float, produced_s: float | None = None) -> WaitingFrame[Pixels]:
    return WaitingFrame(PIXELS, seq, seq / 30, arrived_s, produced_s)


def test_a_full_batch_is_due_at_once_and_holds_the_oldest_streams() -> None:
    batcher = PoseBatcher[Pixels](BatchPolicy(max_batch=4, max_wait_s=0.02))
    for i in range(6):
        batcher.add(f"s{i}", frame(0, 1.0 + i / 1000), 1.0 + i / 1000)
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
        batcher.add("a", frame(seq, seq * 0.01), seq * 0.01)
    batcher.add("b", frame(0, 0.005), 0.005)
    seqs = []
    while batcher.due_at() is not None:
        batch = batcher.take()
        assert len({stream for stream, _, _ in batch}) == len(batch)
        seqs += [(stream, waiting.seq) for stream, waiting, _ in batch]
    assert [s for s in seqs if s[0] == "a"] == [("a", 0), ("a", 1), ("a", 2)]
    assert seqs[:2] == [("a", 0), ("b", 0)]


def test_tracks_go_out_with_their_frames_and_come_back() -> None:
    batcher = PoseBatcher[Pixels]()
    batcher.add("a", frame(0, 0.0), 0.0)
    [(_, _, track)] = batcher.take()
    assert track == PoseTrack()
    tracked = PoseTrack(Roi(0.5, 0.5, 0.2, 0.3, 0.0), frames=1)
    batcher.finish("a", tracked)
    batcher.add("a", frame(1, 0.033), 0.033)
    [(_, _, track)] = batcher.take()
    assert track == tracked
    restored = pickle.loads(pickle.dumps(batcher))
    assert restored.tracks == batcher.tracks
    batcher.end("a")
    assert batcher.tracks == {}


def test_a_full_queue_is_due_at_once_and_drops_nothing() -> None:
    batcher = PoseBatcher[Pixels](BatchPolicy(max_batch=16, max_wait_s=0.02, max_waiting=2))
    assert batcher.add("a", frame(0, 1.0, produced_s=1.0), 1.0) == []
    assert batcher.add("b", frame(0, 1.001, produced_s=1.001), 1.001) == []
    assert batcher.due_at() == pytest.approx(1.02)  # one frame a stream: the deadline
    assert batcher.add("a", frame(1, 1.002, produced_s=1.002), 1.002) == []
    assert batcher.due_at() == 1.0  # a's queue is full: due now, with b's frame
    assert [(s, w.seq) for s, w, _ in batcher.take()] == [("a", 0), ("b", 0)]
    assert [w.seq for w in batcher.waiting["a"]] == [1]
    assert batcher.due_at() == pytest.approx(1.022)


def test_only_frames_further_behind_live_than_the_bound_give_way_to_newer_ones() -> None:
    batcher = PoseBatcher[Pixels](BatchPolicy(max_waiting=4, max_frame_lag_s=5.0))
    now = 100.0
    batcher.add("a", frame(0, now, produced_s=now - 8.0), now)
    batcher.add("a", frame(1, now, produced_s=now - 6.0), now)
    batcher.add("a", frame(2, now, produced_s=now - 4.0), now)  # 0 and 1 lag 8 and 6 s: gone
    assert [w.seq for w in batcher.waiting["a"]] == [2]
    batcher.add("a", frame(3, now, produced_s=None), now)
    lost = batcher.add("a", frame(4, now + 2.0, produced_s=now - 1.0), now + 2.0)
    [(gone, lag)] = lost
    assert gone.seq == 2
    assert lag == pytest.approx(6.0)
    assert [w.seq for w in batcher.waiting["a"]] == [3, 4]  # no Kafka time: never behind
    behind = batcher.add("b", frame(0, now, produced_s=now - 60.0), now)
    assert behind == []  # behind, but the stream's newest frame: it runs
    never = PoseBatcher[Pixels](BatchPolicy(max_waiting=4, max_frame_lag_s=0.0))
    for seq in range(4):
        assert never.add("a", frame(seq, now, produced_s=now - 600.0), now) == []
    assert len(never.waiting["a"]) == 4


def test_a_stream_behind_live_skips_frames_evenly_and_its_queue_stays_bounded() -> None:
    """Frames at 30 fps, a batch every 50 ms (an overload a caller that does not wait for
    inference lets through): the queue grows until its oldest frame is 0.21 s behind, then
    a third of the frames go, evenly spread, and at most that much of the stream waits."""
    bound = 0.21
    batcher = PoseBatcher[Pixels](BatchPolicy(max_batch=4, max_wait_s=0.0, max_frame_lag_s=bound))
    dropped: list[int] = []
    served: list[int] = []
    for seq in range(150):
        now = seq / 30
        dropped += [lost.seq for lost, lag in batcher.add("a", frame(seq, now, now), now)]
        assert len(batcher.waiting["a"]) <= 7  # frames up to 0.21 s old, and the new one
        if now >= len(served) * 0.05:  # the models are free again
            served += [waiting.seq for _, waiting, _ in batcher.take()]
    assert dropped[0] == 12  # from when the frames waiting span more than the bound
    assert len(dropped) == pytest.approx((150 - 12) / 3, abs=3)  # a third from there on
    assert set(np.diff(dropped).tolist()) <= {2, 3, 4}  # spread evenly, never a burst
    assert sorted(served + dropped) == list(range(len(served) + len(dropped)))
    assert served == sorted(served)


def test_a_waiting_frame_of_a_snapshot_from_before_kafka_times_resumes_without_one() -> None:
    restored = pickle.loads(pickle.dumps(frame(3, 1.0, produced_s=0.5)))
    assert (restored.seq, restored.arrived_s, restored.produced_s) == (3, 1.0, 0.5)
    older = WaitingFrame.__new__(WaitingFrame)
    older.__setstate__([PIXELS, 3, 0.1, 1.0])  # the four fields such a snapshot holds
    assert (older.seq, older.arrived_s, older.produced_s) == (3, 1.0, None)


def test_invalid_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="batch policy"):
        BatchPolicy(max_batch=0)
    with pytest.raises(ValueError, match="batch policy"):
        BatchPolicy(max_wait_s=float("nan"))
    with pytest.raises(ValueError, match="batch policy"):
        BatchPolicy(max_frame_lag_s=-1.0)
