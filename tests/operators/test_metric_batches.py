"""metric_update batching: every frame's values, fewer events, nothing else held back."""

from __future__ import annotations

import pickle
from itertools import pairwise

from kinestream.events import AnalysisEvent, frame_updates
from kinestream.operators.analyzer import StreamAnalyzer, StreamConfig
from kinestream.operators.metric_batches import MetricBatcher
from kinestream.operators.pose import PoseSample
from kinestream.simulation.camera import Camera
from kinestream.simulation.scenarios import countermovement_jumps
from kinestream.sports import Sport


def run(analysis: StreamAnalyzer | MetricBatcher, samples: list[PoseSample]) -> list[AnalysisEvent]:
    return [e for s in samples for e in analysis.process(s)] + analysis.finish("end")


def expanded(events: list[AnalysisEvent]) -> list[AnalysisEvent]:
    return [f for e in events for f in frame_updates(e)]


def test_every_frame_and_every_other_event_arrive_in_order_in_fewer_events() -> None:
    trial = countermovement_jumps(reps=2, camera=Camera(fps=30.0), seed=11)
    config = StreamConfig("cmj", Sport.CMJ, trial.athlete_height_m, echo_pose=True)
    alone = run(StreamAnalyzer(config), trial.samples)
    batched = run(MetricBatcher(StreamAnalyzer(config), interval_s=0.05), trial.samples)
    assert expanded(batched) == alone
    frames = sum(e.event_type == "metric_update" for e in alone)
    batches = [e for e in batched if e.event_type == "metric_updates"]
    assert sum(len(b.payload["frames"]) for b in batches) == frames
    assert len(batches) < frames / 2.5  # 3 frames a batch at 30 fps, but around other events
    # A batch spans at most the interval (and is cut short by any other event).
    for batch in batches:
        times = [f["capture_time_s"] for f in batch.payload["frames"]]
        assert times == sorted(times)
        assert times[-1] - times[0] < 0.05 + 1 / 30
        assert (batch.seq, batch.capture_time_s) == (batch.payload["frames"][-1]["seq"], times[-1])
    assert "pose" in batches[0].payload["frames"][0]
    assert len({e.event_id for e in batched}) == len(batched)


def test_no_frame_waits_behind_another_event_or_the_end() -> None:
    trial = countermovement_jumps(reps=1, camera=Camera(fps=60.0), seed=2)
    batcher = MetricBatcher(StreamAnalyzer(StreamConfig("s", Sport.CMJ, 1.8)), interval_s=10.0)
    events = run(batcher, trial.samples)
    # With a long interval only the other events (and the end) let the frames go.
    for before, after in pairwise(events):
        if before.event_type == "metric_updates":
            assert after.event_type != "metric_updates"
    assert events[-2].event_type == "metric_updates"
    assert events[-1].event_type == "session_summary"


def test_a_zero_interval_sends_each_frame_alone_and_state_pickles() -> None:
    trial = countermovement_jumps(reps=1, seed=3)
    batcher = MetricBatcher(StreamAnalyzer(StreamConfig("s", Sport.CMJ, 1.8)), interval_s=0.0)
    half = len(trial.samples) // 2
    first = [e for s in trial.samples[:half] for e in batcher.process(s)]
    resumed = pickle.loads(pickle.dumps(batcher))
    rest = [e for s in trial.samples[half:] for e in resumed.process(s)] + resumed.finish("end")
    events = first + rest
    assert all(len(e.payload["frames"]) == 1 for e in events if e.event_type == "metric_updates")
    straight = run(StreamAnalyzer(StreamConfig("s", Sport.CMJ, 1.8)), trial.samples)
    assert expanded(events) == straight
