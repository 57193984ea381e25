"""The analysis dataflow on TestingSource, under run_main and cluster_main (two workers)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from bytewax.connectors.kafka import KafkaError, KafkaSourceMessage
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, run_main
from confluent_kafka import KafkaError as ConsumerError

from kinestream import wire
from kinestream.events import AnalysisEvent, frame_updates
from kinestream.flows.analysis import (
    PREFETCH_MESSAGES,
    UNKEYED_STREAM,
    BatchDecoder,
    FlowIO,
    FlowSettings,
    OutMessage,
    build_flow,
    decode_message,
    kafka_source,
    measure_poses,
)
from kinestream.flows.stream_logic import (
    BadMessage,
    KeyedInput,
    StreamSettings,
    stream_logic_builder,
)
from kinestream.operators.analyzer import StreamAnalyzer, StreamConfig
from kinestream.operators.anthropometry import MeasuredSample, measure
from kinestream.operators.metric_batches import MetricBatcher
from kinestream.operators.pose import PoseSample
from kinestream.session import SessionEvent
from kinestream.simulation.scenarios import countermovement_jumps
from kinestream.sports import Sport
from tests.flows.conftest import Runner

TOPICS = wire.Topics()
T0 = 1_760_000_000.0


class ToyAnalyzer:
    """A stand-in for ``StreamAnalyzer`` whose output is easy to predict.

    It keeps the analyzer's contract (drops duplicate and late samples, bounded state,
    picklable): one ``metric_update`` per new sample, a ``rep_complete`` every
    ``frames_per_rep`` samples, a ``session_summary`` on ``finish``. The tests on realistic
    pose streams (test_kafka_flow.py) use the real analyzer and the synthetic athlete.
    """

    def __init__(self, start: wire.StartMessage, frames_per_rep: int = 30) -> None:
        if start.sport is Sport.DROP_JUMP and start.box_height_m is None:
            raise ValueError("a drop jump needs a box height")
        self.stream_id = start.stream_id
        self.sport = start.sport.value
        self.frames_per_rep = frames_per_rep
        self.last_seq = -1
        self.last_time_s = 0.0
        self.frames = 0
        self.reps = 0
        self.best_jump_m = 0.0

    def process(self, sample: PoseSample) -> list[AnalysisEvent]:
        if sample.seq <= self.last_seq:
            return []
        self.last_seq, self.last_time_s = sample.seq, sample.timestamp_s
        self.frames += 1
        out = [
            AnalysisEvent(
                "metric_update",
                self.stream_id,
                sample.seq,
                sample.timestamp_s,
                {"phase": "standing", "com_height_m": 0.0, "com_velocity_m_s": 0.0},
            )
        ]
        if self.frames % self.frames_per_rep == 0:
            self.reps += 1
            jump = 0.30 + 0.01 * self.reps
            self.best_jump_m = max(self.best_jump_m, jump)
            out.append(
                AnalysisEvent(
                    "rep_complete",
                    self.stream_id,
                    sample.seq,
                    sample.timestamp_s,
                    {
                        "rep": self.reps,
                        "sport": self.sport,
                        "metrics": {
                            "jump_height_m": jump,
                            "flight_time_s": 0.5,
                            "takeoff_time_s": sample.timestamp_s - 0.5,
                        },
                        "quality": {"ok": True},
                    },
                )
            )
        return out

    def finish(self, reason: str) -> list[AnalysisEvent]:
        return [
            AnalysisEvent(
                "session_summary",
                self.stream_id,
                self.last_seq,
                self.last_time_s,
                {
                    "sport": self.sport,
                    "reps": self.reps,
                    "frames": self.frames,
                    "dropped_frames": 0,
                    "duration_s": 0.0,
                    "best": {"jump_height_m": self.best_jump_m},
                    "reason": reason,
                },
            )
        ]


def _msg(
    topic: str, key: bytes | None, value: bytes | None, headers: Any = (), offset: int = 0
) -> KafkaSourceMessage[bytes | None, bytes | None]:
    return KafkaSourceMessage(key, value, topic=topic, headers=list(headers), offset=offset)


def start_msg(stream_id: str, **kw: Any) -> KafkaSourceMessage[bytes | None, bytes | None]:
    kw.setdefault("sport", Sport.CMJ)
    kw.setdefault("athlete_height_m", 1.8)
    return _msg(TOPICS.control, *wire.encode_control(wire.StartMessage(stream_id, **kw)))


def end_msg(
    stream_id: str, last_seq: int | None = None
) -> KafkaSourceMessage[bytes | None, bytes | None]:
    return _msg(TOPICS.control, *wire.encode_control(wire.EndMessage(stream_id, last_seq)))


def sample(seq: int) -> PoseSample:
    landmarks = np.full((33, 4), 0.5)
    return PoseSample(seq, T0 + seq / 30, 640, 480, landmarks)


def pose_msgs(stream_id: str, seqs: Iterable[int]) -> list[Any]:
    return [_msg(TOPICS.poses, *wire.encode_pose(stream_id, sample(s), 30.0)) for s in seqs]


def run_flow(
    runner: Runner,
    inputs: list[Any],
    *,
    stream: StreamSettings | None = None,
    estimator_factory: Any = None,
    recovery: RecoveryConfig | None = None,
) -> tuple[list[AnalysisEvent], list[wire.WebhookEvent]]:
    events: list[OutMessage] = []
    hooks: list[OutMessage] = []
    settings = FlowSettings(
        frames=estimator_factory is not None,
        stream=stream or StreamSettings(idle_timeout_s=60),
    )
    io = FlowIO(
        source=TestingSource(inputs),
        events=TestingSink(events),
        webhooks=TestingSink(hooks),
        analyzer_factory=ToyAnalyzer,
        estimator_factory=estimator_factory,
    )
    flow = build_flow(settings, io)
    if recovery is None:
        runner(flow)
    else:
        run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)  # type: ignore[no-untyped-call]
    return (
        [wire.decode_event(m.key, m.value) for m in events],
        [wire.decode_webhook(m.key, m.value) for m in hooks],
    )


def by_type(events: list[AnalysisEvent], stream_id: str | None = None) -> Counter[str]:
    return Counter(e.event_type for e in events if stream_id in (None, e.stream_id))


def assert_numbered(events: list[AnalysisEvent]) -> None:
    """Each stream's events carry positions 0, 1, 2, ... in the order they were emitted."""
    streams = {e.stream_id for e in events}
    for stream_id in streams:
        positions = [e.position for e in events if e.stream_id == stream_id]
        assert positions == list(range(len(positions))), stream_id


def test_session_lifecycle(runner: Runner) -> None:
    inputs = [
        start_msg("a", api_key_id="key-1", athlete_id="ath-1"),
        start_msg("b"),
        *[
            m
            for pair in zip(pose_msgs("a", range(40)), pose_msgs("b", range(40)), strict=True)
            for m in pair
        ],
        *pose_msgs("a", range(40, 70)),
        *pose_msgs("a", range(60, 65)),  # redelivered duplicates: dropped by the analyzer
        end_msg("a"),
        end_msg("b"),
    ]
    events, hooks = run_flow(runner, inputs)
    assert by_type(events, "a") == {"metric_update": 70, "rep_complete": 2, "session_summary": 1}
    assert by_type(events, "b") == {"metric_update": 40, "rep_complete": 1, "session_summary": 1}
    assert len({e.event_id for e in events}) == len(events)
    summary = next(e for e in events if e.event_type == "session_summary" and e.stream_id == "a")
    assert summary.payload["reason"] == "end"
    assert summary.payload["reps"] == 2
    assert_numbered(events)
    # Only the session an API key owns goes to the dispatcher, without per-frame updates.
    assert sorted(h.event.event_type for h in hooks) == [
        "rep_complete",
        "rep_complete",
        "session_summary",
    ]
    assert {(h.api_key_id, h.athlete_id, h.sport, h.event.stream_id) for h in hooks} == {
        ("key-1", "ath-1", Sport.CMJ, "a")
    }
    assert [h.event for h in hooks] == [
        e for e in events if e.stream_id == "a" and e.event_type != "metric_update"
    ]


def test_bad_messages_become_error_events_and_the_flow_goes_on(runner: Runner) -> None:
    good_key, good_value, good_headers = wire.encode_pose("a", sample(1), 30.0)
    inputs = [
        start_msg("a"),
        _msg(TOPICS.poses, good_key, b"garbage", good_headers, offset=11),
        _msg(TOPICS.poses, None, good_value, good_headers, offset=12),
        _msg(TOPICS.control, b"a", b"{not json", offset=13),
        _msg(TOPICS.control, b"a", b'{"schema_version": 1, "stream_id": "a", "type": "x"}'),
        _msg("some.other.topic", b"a", good_value, good_headers, offset=14),
        *pose_msgs("a", range(30)),
        end_msg("a"),
    ]
    events, _ = run_flow(runner, inputs)
    errors = [e for e in events if e.event_type == "error"]
    assert len(errors) == 5
    assert {e.payload["code"] for e in errors} == {"bad_message"}
    assert {e.stream_id for e in errors} == {"a", "_unkeyed"}
    assert by_type(events, "a")["rep_complete"] == 1
    assert by_type(events, "a")["session_summary"] == 1
    # The stream's own bad messages are numbered with its events; the unkeyed one is not.
    assert_numbered([e for e in events if e.stream_id == "a"])
    assert [e.position for e in errors if e.stream_id == "_unkeyed"] == [None]
    assert len({e.event_id for e in errors}) == 5


def test_a_start_that_does_not_suit_its_sport_is_refused_and_reported(runner: Runner) -> None:
    inputs: list[Any] = [
        start_msg("dj", sport=Sport.DROP_JUMP),
        *pose_msgs("dj", range(3)),
        TestingSource.PAUSE(timedelta(seconds=1)),
    ]
    events, _ = run_flow(runner, inputs, stream=StreamSettings(idle_timeout_s=0.2))
    assert [(e.event_type, e.payload["code"]) for e in events] == [
        ("error", "bad_start"),
        ("error", "no_start"),
    ]
    assert "box height" in events[0].payload["message"]
    assert_numbered(events)


def test_poses_before_the_start_are_held_until_it_arrives(runner: Runner) -> None:
    inputs = [*pose_msgs("late", range(45)), start_msg("late"), end_msg("late")]
    events, _ = run_flow(runner, inputs)
    assert by_type(events) == {"metric_update": 45, "rep_complete": 1, "session_summary": 1}


def test_an_end_that_overtakes_the_last_poses_waits_for_them(runner: Runner) -> None:
    inputs: list[Any] = [
        start_msg("s"),
        *pose_msgs("s", range(40)),
        end_msg("s", last_seq=59),
        *pose_msgs("s", range(40, 60)),
        *pose_msgs("s", range(60, 65)),  # late, after the end: dropped
        TestingSource.PAUSE(timedelta(seconds=1)),
    ]
    events, _ = run_flow(runner, inputs, stream=StreamSettings(idle_timeout_s=0.3))
    assert by_type(events)["error"] == 0  # the late ones did not open an unstarted stream
    summaries = [e for e in events if e.event_type == "session_summary"]
    assert len(summaries) == 1
    assert summaries[0].payload["frames"] == 60
    assert summaries[0].seq == 59
    assert by_type(events)["rep_complete"] == 2


def test_idle_streams_are_finished_and_unstarted_ones_reported(runner: Runner) -> None:
    inputs: list[Any] = [
        start_msg("idle"),
        *pose_msgs("idle", range(31)),
        *pose_msgs("orphan", range(5)),
        TestingSource.PAUSE(timedelta(seconds=1.5)),
    ]
    events, _ = run_flow(runner, inputs, stream=StreamSettings(idle_timeout_s=0.3))
    summary = next(e for e in events if e.event_type == "session_summary")
    assert summary.stream_id == "idle"
    assert summary.payload["reason"] == "idle"
    errors = [e for e in events if e.event_type == "error"]
    assert [(e.stream_id, e.payload["code"], e.seq) for e in errors] == [("orphan", "no_start", 4)]


def test_a_stream_that_never_starts_reports_once_when_its_buffer_overflows(
    runner: Runner,
) -> None:
    inputs = pose_msgs("orphan", range(20))
    events, _ = run_flow(runner, inputs, stream=StreamSettings(max_pending=5))
    assert [(e.event_type, e.payload["code"], e.seq) for e in events] == [("error", "no_start", 5)]


class FakeEstimator:
    """Finds a 'person' whose hip height is the frame's mean brightness."""

    built = 0

    def __init__(self) -> None:
        FakeEstimator.built += 1

    def estimate(self, rgb: npt.NDArray[np.uint8], seq: int, timestamp_s: float) -> PoseSample:
        landmarks = np.full((33, 4), float(rgb.mean()) / 255.0)
        return PoseSample(seq, timestamp_s, rgb.shape[1], rgb.shape[0], landmarks)

    def close(self) -> None:
        pass


def frame_msgs(stream_id: str, seqs: Iterable[int]) -> list[Any]:
    out = []
    for seq in seqs:
        ok, jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), seq % 256, dtype=np.uint8))
        assert ok
        frame = wire.Frame(stream_id, seq, T0 + seq / 30, 30.0, 64, 48, jpeg.tobytes())
        out.append(_msg(TOPICS.frames, *wire.encode_frame(frame)))
    return out


def test_frames_mode_estimates_poses_with_one_estimator_per_stream(runner: Runner) -> None:
    FakeEstimator.built = 0
    bad = frame_msgs("f", [30])[0]
    inputs = [
        start_msg("f"),
        *frame_msgs("f", range(30)),
        _msg(TOPICS.frames, bad.key, b"\xff\xd8 not really a jpeg", bad.headers),
        end_msg("f"),
    ]
    events, _ = run_flow(runner, inputs, estimator_factory=FakeEstimator)
    assert by_type(events) == {
        "metric_update": 30,
        "rep_complete": 1,
        "error": 1,
        "session_summary": 1,
    }
    assert FakeEstimator.built == 1


def test_resume_after_abort_loses_no_state_and_repeats_the_same_event_ids(
    tmp_path: Path,
) -> None:
    init_db_dir(tmp_path, 1)  # type: ignore[no-untyped-call]
    recovery = RecoveryConfig(str(tmp_path))  # type: ignore[no-untyped-call]
    inputs: list[Any] = [
        start_msg("r", api_key_id="key-1"),
        *pose_msgs("r", range(50)),
        TestingSource.ABORT(),
        *pose_msgs("r", range(50, 90)),
        end_msg("r"),
    ]
    first, _ = run_flow(run_main, inputs, recovery=recovery)
    assert by_type(first)["session_summary"] == 0
    second, _ = run_flow(run_main, inputs, recovery=recovery)
    everything = {e.event_id: e for e in [*first, *second]}
    merged = Counter(e.event_type for e in everything.values())
    assert merged == {"metric_update": 90, "rep_complete": 3, "session_summary": 1}
    summary = next(e for e in second if e.event_type == "session_summary")
    assert summary.payload["frames"] == 90  # the analyzer's state survived the crash
    # What was emitted twice (the epoch in flight) has the same ids both times.
    overlap = {e.event_id for e in first} & {e.event_id for e in second}
    assert all(everything[i].seq < 50 for i in overlap)
    # ... and the same positions: merged, the stream is numbered without gaps or doubles.
    by_id = {e.event_id: e.position for e in first}
    assert all(by_id[e.event_id] == e.position for e in second if e.event_id in by_id)
    merged_positions = sorted(e.position for e in everything.values() if e.position is not None)
    assert merged_positions == list(range(len(everything)))


def test_a_stream_on_a_relative_clock_is_warned_once(runner: Runner) -> None:
    relative = [
        _msg(TOPICS.poses, *wire.encode_pose("rel", replace(sample(s), timestamp_s=s / 30), 30.0))
        for s in range(35)
    ]
    events, _ = run_flow(runner, [start_msg("rel"), *relative, end_msg("rel")])
    warnings = [e for e in events if e.event_type == "quality_warning"]
    assert [(w.payload["code"], w.position) for w in warnings] == [("relative_clock", 0)]
    unix, _ = run_flow(runner, [start_msg("unix"), *pose_msgs("unix", range(35)), end_msg("unix")])
    assert by_type(unix)["quality_warning"] == 0


def test_poses_are_measured_per_batch_across_streams() -> None:
    start = wire.StartMessage("a", Sport.CMJ, 1.8)
    nobody = replace(sample(2), landmarks=None)
    batch: list[KeyedInput] = [("a", start), ("a", sample(0)), ("b", sample(1)), ("b", nobody)]
    measured = measure_poses(batch)
    assert measured[0] == batch[0]
    assert [stream_id for stream_id, _ in measured] == ["a", "a", "b", "b"]
    for (_, before), (_, after) in zip(batch[1:], measured[1:], strict=True):
        assert isinstance(after, MeasuredSample)
        assert (after.seq, after.timestamp_s) == (before.seq, before.timestamp_s)  # type: ignore[union-attr]
        assert after.body == measure(before)  # type: ignore[arg-type]
    assert measured[3][1].body is None  # type: ignore[union-attr]


def test_a_batch_is_decoded_measured_and_keyed_in_order() -> None:
    error = KafkaError(ConsumerError(ConsumerError._TRANSPORT), _msg(TOPICS.poses, None, None))
    batch = [start_msg("a"), error, *pose_msgs("a", [0]), _msg(TOPICS.poses, None, b"x")]
    out = BatchDecoder(TOPICS, None, measure=True)(batch)
    assert [type(o) for o in out] == [tuple, tuple, SessionEvent]
    assert out[0] == ("a", ("a", wire.StartMessage("a", Sport.CMJ, 1.8)))
    assert (out[1][0], out[1][1][0]) == ("a", "a")
    assert isinstance(out[1][1][1], MeasuredSample)
    assert out[2].stream_id == UNKEYED_STREAM
    unmeasured = BatchDecoder(TOPICS, None, measure=False)(batch)
    assert unmeasured[1][0] == "a"
    assert type(unmeasured[1][1]) is PoseSample


def test_a_batch_of_poses_decodes_and_measures_as_each_message_alone() -> None:
    """The batch's poses, decoded and measured together, are what each message gives
    alone (:func:`decode_message`, then measured): samples, bodies and errors."""
    trial = countermovement_jumps(reps=1, seed=2)
    poses = [
        _msg(
            TOPICS.poses,
            *wire.encode_pose(f"s{i % 3}", replace(s, timestamp_s=T0 + s.timestamp_s)),
            offset=i,
        )
        for i, s in enumerate(trial.samples[:40])
    ]
    bad = bytearray(poses[5].value or b"")
    bad[40:44] = b"\xff\xff\xff\x7f"  # a NaN landmark
    poses[5] = _msg(TOPICS.poses, poses[5].key, bytes(bad), poses[5].headers, offset=5)
    poses[9] = _msg(TOPICS.poses, poses[9].key, b"KP", poses[9].headers, offset=9)
    batch = [start_msg("s0"), *poses, end_msg("s0")]
    out = BatchDecoder(TOPICS, None, measure=True)(batch)
    alone = [decode_message(TOPICS, m)[1] for m in batch]
    assert len(out) == len(alone)
    for (key, (stream_id, item)), decoded in zip(out, alone, strict=True):
        assert isinstance(decoded, tuple)
        one_id, one = decoded
        assert key == stream_id == one_id
        if isinstance(one, PoseSample):
            assert isinstance(item, MeasuredSample)
            assert (item.seq, item.timestamp_s) == (one.seq, one.timestamp_s)
            np.testing.assert_array_equal(item.landmarks, one.landmarks)  # type: ignore[arg-type]
            assert item.body == measure(one)
        else:
            assert item == one
    assert sum(isinstance(o[1][1], BadMessage) for o in out) == 2


def test_a_sample_held_for_its_start_keeps_its_landmarks_not_its_batchs() -> None:
    poses = [*pose_msgs("late", [0]), *pose_msgs("other", range(1, 50))]
    out = BatchDecoder(TOPICS, None, measure=True)(poses)
    held = out[0][1][1]
    assert held.landmarks.base is not None
    assert held.landmarks.base.nbytes > held.landmarks.nbytes
    logic = stream_logic_builder(ToyAnalyzer, StreamSettings())(None)
    assert logic.on_item(out[0][1]) == ([], False)
    kept = logic.state.pending[0]
    assert isinstance(kept, MeasuredSample)
    assert kept.landmarks is not None
    assert kept.landmarks.base is None
    np.testing.assert_array_equal(kept.landmarks, held.landmarks)
    assert (kept.body, kept.width_ratio, kept.seq) == (held.body, held.width_ratio, held.seq)


def test_the_flow_analyses_like_the_analyzer_on_its_own(runner: Runner) -> None:
    trial = countermovement_jumps(reps=2, seed=4)
    poses = [
        _msg(TOPICS.poses, *wire.encode_pose("cmj", replace(s, timestamp_s=T0 + s.timestamp_s)))
        for s in trial.samples
    ]
    alone = MetricBatcher(StreamAnalyzer(StreamConfig("cmj", Sport.CMJ, trial.athlete_height_m)))
    received = [wire.decode_pose(m.key, m.value, m.headers) for m in poses]
    expected = [e for s in received for e in alone.process(s)] + alone.finish("end")
    inputs = [start_msg("cmj", athlete_height_m=trial.athlete_height_m), *poses, end_msg("cmj")]
    out: list[OutMessage] = []
    io = FlowIO(source=TestingSource(inputs, batch_size=100), events=TestingSink(out))
    runner(build_flow(FlowSettings(frames=False), io))
    events = [wire.decode_event(m.key, m.value) for m in out]
    assert [(e.event_id, e.payload) for e in events] == [(e.event_id, e.payload) for e in expected]
    assert by_type(events)["rep_complete"] == 2
    # Frames' values leave a few to an event, every frame once.
    frames = [f.seq for e in events for f in frame_updates(e) if f.event_type == "metric_update"]
    assert frames == [s.seq for s in received]
    assert by_type(events)["metric_updates"] < len(frames) / 2


def test_the_source_fetches_a_bounded_number_of_messages_ahead_unless_told_otherwise() -> None:
    # Bytewax's KafkaSource keeps the consumers' extra settings as given.
    config = kafka_source(FlowSettings())._add_config
    assert config["queued.min.messages"] == str(PREFETCH_MESSAGES)
    told = kafka_source(FlowSettings(kafka_config={"queued.min.messages": "500"}))._add_config
    assert told["queued.min.messages"] == "500"
