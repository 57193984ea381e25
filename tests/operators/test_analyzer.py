"""The per-stream analyzer as a stream processor: ordering, events, state, lifecycle."""

from __future__ import annotations

import pickle
from dataclasses import replace

import pytest

from kinestream.events import AnalysisEvent
from kinestream.operators.analyzer import StreamAnalyzer, StreamConfig
from kinestream.operators.pose import drawable_pose
from kinestream.simulation.camera import Camera
from kinestream.simulation.scenarios import countermovement_jumps, quiet_standing
from kinestream.sports import Sport


def run(analyzer: StreamAnalyzer, samples: list) -> list[AnalysisEvent]:  # type: ignore[type-arg]
    events: list[AnalysisEvent] = []
    for sample in samples:
        events.extend(analyzer.process(sample))
    return events


def new_analyzer(stream_id: str = "s-1") -> StreamAnalyzer:
    return StreamAnalyzer(StreamConfig(stream_id, Sport.CMJ, 1.80))


def test_every_event_has_a_deterministic_unique_id() -> None:
    samples = countermovement_jumps(reps=2, seed=11).samples
    first = run(new_analyzer(), samples)
    second = run(new_analyzer(), samples)
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert len({e.event_id for e in first}) == len(first)
    kinds = {e.event_type for e in first}
    assert {"metric_update", "phase_change", "rep_complete"} <= kinds
    for event in first:
        assert AnalysisEvent.from_json(event.to_json()) == event


def test_phases_follow_the_countermovement_jump_in_order() -> None:
    events = run(new_analyzer(), countermovement_jumps(reps=1, seed=12).samples)
    phases = [e.payload["to_phase"] for e in events if e.event_type == "phase_change"]
    assert phases == ["standing", "eccentric", "concentric", "flight", "landing", "stable"]
    times = [e.payload["phase_time_s"] for e in events if e.event_type == "phase_change"]
    assert times == sorted(times)


def test_rep_is_emitted_live_right_after_landing() -> None:
    trial = countermovement_jumps(reps=1, seed=13)
    analyzer = new_analyzer()
    for sample in trial.samples:
        events = analyzer.process(sample)
        if any(e.event_type == "rep_complete" for e in events):
            # 2 frames to confirm contact plus the smoothing lag (2-3 frames) at 60 fps.
            assert sample.timestamp_s - trial.reps[0].landing_s < 0.12
            break
    else:
        pytest.fail("no rep_complete")


def test_duplicates_and_late_frames_are_dropped_and_gaps_counted() -> None:
    samples = countermovement_jumps(reps=1, seed=14).samples
    clean = run(new_analyzer(), samples)
    shuffled = list(samples)
    shuffled.insert(100, samples[50])  # late
    shuffled.insert(200, samples[199])  # duplicate
    del shuffled[300:303]  # a gap of three frames
    analyzer = new_analyzer()
    events = run(analyzer, shuffled)
    assert analyzer.late_frames == 1
    assert analyzer.dropped_frames == 3
    assert len([e for e in events if e.event_type == "rep_complete"]) == 1
    assert len(events) < len(clean)


def test_timestamp_going_backwards_is_an_error_event() -> None:
    samples = countermovement_jumps(reps=1, seed=15).samples[:10]
    analyzer = new_analyzer()
    run(analyzer, samples)
    bad = replace(samples[-1], seq=samples[-1].seq + 1, timestamp_s=samples[0].timestamp_s)
    events = analyzer.process(bad)
    assert [e.event_type for e in events] == ["error"]
    assert events[0].payload["code"] == "timestamp_not_increasing"


def test_snapshot_mid_stream_resumes_with_identical_events() -> None:
    samples = countermovement_jumps(reps=2, seed=16).samples
    reference = run(new_analyzer(), samples)
    analyzer = new_analyzer()
    cut = len(samples) // 2
    before = run(analyzer, samples[:cut])
    restored = pickle.loads(pickle.dumps(analyzer))
    after = run(restored, samples[cut:])
    assert [e.event_id for e in before + after] == [e.event_id for e in reference]
    assert before + after == reference


def test_state_is_small_and_does_not_grow_with_stream_length() -> None:
    analyzer = new_analyzer()
    short = quiet_standing(duration_s=20.0, seed=17, camera=Camera(fps=240)).samples
    run(analyzer, short)
    size_short = len(pickle.dumps(analyzer))
    long = quiet_standing(duration_s=120.0, seed=18, camera=Camera(fps=240)).samples
    offset = short[-1].seq + 1
    t0 = short[-1].timestamp_s + 1.0 / 240
    run(analyzer, [replace(s, seq=s.seq + offset, timestamp_s=s.timestamp_s + t0) for s in long])
    size_long = len(pickle.dumps(analyzer))
    assert size_long < 1_000_000
    assert size_long < 1.2 * size_short


def test_finish_emits_a_session_summary() -> None:
    analyzer = new_analyzer()
    run(analyzer, countermovement_jumps(reps=2, seed=19).samples)
    events = analyzer.finish("end")
    summary = events[-1]
    assert summary.event_type == "session_summary"
    assert summary.payload["reps"] == 2
    assert summary.payload["reason"] == "end"
    assert summary.payload["best"]["jump_height_m"] > 0.1


def test_lost_athlete_recalibrates_and_warns() -> None:
    samples = countermovement_jumps(reps=1, seed=20).samples
    blank = [replace(s, landmarks=None) for s in samples[120:200]]
    events = run(new_analyzer(), samples[:120] + blank + samples[200:])
    codes = [e.payload["code"] for e in events if e.event_type == "quality_warning"]
    assert "athlete_lost" in codes
    phases = [e.payload["to_phase"] for e in events if e.event_type == "phase_change"]
    assert phases.count("standing") >= 2


@pytest.mark.parametrize(
    ("sport", "height", "box", "message"),
    [
        (Sport.DROP_JUMP, 1.8, None, "box height"),
        (Sport.CMJ, 1.8, 0.3, "drop jumps only"),
        (Sport.CMJ, 0.2, None, "athlete height"),
    ],
)
def test_bad_configuration_is_refused(
    sport: Sport, height: float, box: float | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        StreamConfig("s", sport, height, box)


def test_echoed_pose_is_the_pose_of_the_frame_each_update_is_about() -> None:
    samples = countermovement_jumps(reps=1, seed=4).samples
    analyzer = StreamAnalyzer(StreamConfig("s-pose", Sport.CMJ, 1.80, echo_pose=True))
    updates = [e for e in run(analyzer, samples) if e.event_type == "metric_update"]
    by_seq = {s.seq: s for s in samples}
    assert len(updates) > 0.9 * len(samples)
    for update in updates:
        pose = update.payload["pose"]
        # The smoothed updates lag the stream; each still carries its own frame's pose.
        assert pose == drawable_pose(by_seq[update.seq])
        if pose is not None:
            assert len(pose["landmarks"]) == 33
    plain = [e for e in run(new_analyzer(), samples) if e.event_type == "metric_update"]
    assert all("pose" not in e.payload for e in plain)
