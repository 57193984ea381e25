"""The batched pose stage of frames mode (``kinestream.flows.pose_stage``), on the real
BlazePose models and the real clip's frames: batches across streams bounded in size and
wait, each stream's poses in order, a backlog handed over at once analysed frame by frame
with bounded queues, frames skipped evenly only when a stream is further behind live than
the bound (never with 0), tracking lost and found again, decoder errors, ends after their
frames, the budget, and a snapshot that holds JPEG bytes only."""

from __future__ import annotations

import functools
import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from bytewax.testing import TestingSink, TestingSource, run_main
from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    TIMESTAMP_NOT_AVAILABLE,
    Producer,
)

from kinestream import wire
from kinestream.cli import build_parser, main
from kinestream.commands.flow import frame_lag_bound
from kinestream.connectors.jpeg import decode_jpeg, encode_jpeg
from kinestream.connectors.video import read_frames
from kinestream.events import AnalysisEvent
from kinestream.flows import snapshots
from kinestream.flows.analysis import (
    FlowIO,
    FlowSettings,
    OutMessage,
    build_flow,
    decode_message,
)
from kinestream.flows.budget import FrameStreamBudget, PoseBackend, default_max_frame_streams
from kinestream.flows.pose_stage import (
    PoseStage,
    PoseStageSettings,
    StageState,
    bucket_of,
    pose_stage_builder,
)
from kinestream.flows.stream_logic import (
    FrameIssue,
    KeyedInput,
    StreamInput,
    StreamSettings,
    stream_logic_builder,
)
from kinestream.operators.blazepose.batcher import (
    DEFAULT_MAX_FRAME_LAG_S,
    BatchPolicy,
    PoseBatcher,
)
from kinestream.operators.blazepose.runtime import BlazePose, PoseRequest, cuda_available
from kinestream.operators.blazepose.tracking import PoseTrack
from kinestream.operators.pose import PoseSample
from kinestream.sports import Sport
from tests.flows.test_analysis import TOPICS, ToyAnalyzer, _msg, end_msg, start_msg
from tests.flows.test_kafka_flow import _wait_for, consume_all, start_flow, topics_env
from tests.footage import DEMO_CLIP, footage
from tests.hostile_packets import jpeg_claiming
from tests.kafka_topics import TopicFactory, fresh_topics

T0 = 1_760_000_000.0
PERSON_FROM = 8
"""The clip's frame where the models find the athlete without tracking; they keep the
track from there on."""


class CountingBlazePose(BlazePose):
    """The real models, recording the size of every batch they run."""

    def __init__(self) -> None:
        super().__init__(device="cpu")
        self.batches: list[int] = []

    def estimate_batch(self, requests: Sequence[PoseRequest]) -> list[tuple[PoseSample, PoseTrack]]:
        self.batches.append(len(requests))
        return super().estimate_batch(requests)


@pytest.fixture(scope="module")
def models() -> CountingBlazePose:
    return CountingBlazePose()


@functools.cache
def clip_jpegs(count: int = 40) -> list[bytes]:
    return [encode_jpeg(rgb) for _, _, rgb in read_frames(footage(DEMO_CLIP), 1280, limit=count)]


@functools.cache
def blank_jpeg() -> bytes:
    return encode_jpeg(np.full((720, 1280, 3), 30, np.uint8))


def frame(
    stream_id: str, seq: int, jpeg: bytes | None = None, produced_s: float | None = None
) -> wire.Frame:
    jpeg = clip_jpegs()[PERSON_FROM + seq % 30] if jpeg is None else jpeg
    return wire.Frame(stream_id, seq, T0 + seq / 30, 30.0, 1280, 720, jpeg, produced_s)


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now


def stage(
    models: CountingBlazePose,
    clock: Clock,
    policy: BatchPolicy | None = None,
    budget: FrameStreamBudget | None = None,
    idle_timeout_s: float = 30.0,
) -> PoseStage:
    models.batches.clear()
    state = StageState(PoseBatcher(policy or BatchPolicy()))
    return PoseStage(state, lambda: models, decode_jpeg, idle_timeout_s, budget, clock=clock)


def feed(
    logic: PoseStage, items: Sequence[tuple[str, wire.Frame | wire.EndMessage]]
) -> list[KeyedInput]:
    out: list[KeyedInput] = []
    for item in items:
        out.extend(logic.on_item(item)[0])
    return out


def seq_of(item: StreamInput) -> int:
    assert isinstance(item, PoseSample | FrameIssue)
    return item.seq


def notify_after_deadline(logic: PoseStage, clock: Clock) -> list[KeyedInput]:
    at = logic.notify_at()
    assert at is not None
    clock.now = max(clock.now, at.timestamp())
    return list(logic.on_notify()[0])


def test_frames_of_many_streams_go_through_one_model_run_at_the_deadline(
    models: CountingBlazePose,
) -> None:
    clock = Clock()
    logic = stage(models, clock, BatchPolicy(max_batch=16, max_wait_s=0.02))
    assert feed(logic, [(f"s{i}", frame(f"s{i}", 0)) for i in range(5)]) == []
    at = logic.notify_at()
    assert at is not None
    assert at.timestamp() == pytest.approx(T0 + 0.02)  # the oldest frame's deadline
    clock.now = T0 + 0.019
    assert list(logic.on_notify()[0]) == []  # not due yet: nothing ran
    assert models.batches == []
    clock.now = T0 + 0.02
    out = list(logic.on_notify()[0])
    assert models.batches == [5]  # one landmark run for the five streams
    assert [stream for stream, _ in out] == [f"s{i}" for i in range(5)]
    assert all(isinstance(s, PoseSample) and s.landmarks is not None for _, s in out)


def test_a_batch_holds_at_most_max_batch_frames_and_runs_at_once_when_full(
    models: CountingBlazePose,
) -> None:
    clock = Clock()
    logic = stage(models, clock, BatchPolicy(max_batch=4, max_wait_s=0.02))
    out = feed(logic, [(f"s{i}", frame(f"s{i}", 0)) for i in range(6)])
    assert models.batches == [4]  # the fourth stream filled a batch: it ran, no wait
    assert len(out) == 4
    out += notify_after_deadline(logic, clock)
    assert models.batches == [4, 2]
    assert sorted(stream for stream, _ in out) == sorted(f"s{i}" for i in range(6))


def test_each_streams_poses_come_in_seq_order(models: CountingBlazePose) -> None:
    clock = Clock()
    logic = stage(models, clock, BatchPolicy(max_batch=16, max_wait_s=0.02, max_waiting=3))
    out: list[KeyedInput] = []
    for seq in range(6):
        clock.now = T0 + seq * 0.005  # three frames each land inside one deadline
        out += feed(logic, [("a", frame("a", seq)), ("b", frame("b", seq))])
        if seq % 3 == 2:
            out += notify_after_deadline(logic, clock)
    out += list(logic.on_eof()[0])
    for stream in ("a", "b"):
        seqs = [seq_of(item) for sid, item in out if sid == stream]
        assert seqs == list(range(6))
    assert max(models.batches) == 2  # one frame per stream a batch, never two of a stream


def test_a_backlog_of_one_stream_handed_over_at_once_gets_a_pose_for_every_frame_in_order(
    models: CountingBlazePose,
) -> None:
    """A Kafka batch of 32 frames of one stream, 10 s behind live (under the 30 s bound): a
    stream's second waiting frame runs a batch at once, so every frame is analysed, or is
    its decoder's error, in order, and at most two wait."""
    clock = Clock(T0 + 10.0)
    logic = stage(models, clock)
    out: list[KeyedInput] = []
    for seq in range(32):
        jpeg = b"\xff\xd8 not really a jpeg" if seq == 12 else None
        out += feed(logic, [("b", frame("b", seq, jpeg, produced_s=T0 + seq / 300))])
        assert len(logic.state.batcher.waiting.get("b", [])) <= 1  # 2 at most, while it runs
    out += list(logic.on_eof()[0])
    assert [seq_of(item) for _, item in out] == list(range(32))
    kinds = {getattr(item, "code", type(item).__name__) for _, item in out}
    assert kinds == {"PoseSample", "bad_frame"}
    assert [seq_of(item) for _, item in out if isinstance(item, FrameIssue)] == [12]
    assert len(models.batches) >= 30  # one frame of the stream a batch, as it came


def flood(logic: PoseStage, clock: Clock, behind_s: float) -> list[StreamInput]:
    """Every 100 ms a steady stream sends one frame and a flooding one three (a Kafka batch
    hands them over at once) that Kafka got ``behind_s`` before; then the deadline passes."""
    out: list[KeyedInput] = []
    seq = 0
    for tick in range(8):
        clock.now = T0 + tick * 0.1
        out += feed(logic, [("steady", frame("steady", tick, produced_s=clock.now))])
        for _ in range(3):
            out += feed(logic, [("flood", frame("flood", seq, produced_s=clock.now - behind_s))])
            seq += 1
            assert len(logic.state.batcher.waiting.get("flood", [])) <= 1
        out += notify_after_deadline(logic, clock)
    steady = [item for sid, item in out if sid == "steady"]
    assert [seq_of(i) for i in steady] == list(range(8))
    assert all(isinstance(i, PoseSample) for i in steady)
    return [item for sid, item in out if sid == "flood"]


def test_a_flooding_stream_within_the_lag_bound_loses_nothing(
    models: CountingBlazePose,
) -> None:
    logic = stage(models, clock := Clock(), BatchPolicy(max_frame_lag_s=30.0))
    frames = flood(logic, clock, behind_s=20.0)
    assert [seq_of(i) for i in frames] == list(range(24))
    assert all(isinstance(i, PoseSample) for i in frames)
    assert len(models.batches) == 8 * 3  # each flood frame after the first ran a batch


def test_a_stream_further_behind_live_than_the_bound_skips_frames_evenly_with_warnings(
    models: CountingBlazePose,
) -> None:
    """Of the flooding stream's three frames, 40 s behind live, the two a newer frame
    replaced go, each with a warning that says how far behind it was; the third runs."""
    logic = stage(models, clock := Clock(), BatchPolicy(max_frame_lag_s=30.0))
    frames = flood(logic, clock, behind_s=40.0)
    analysed = [i.seq for i in frames if isinstance(i, PoseSample)]
    dropped = [i for i in frames if isinstance(i, FrameIssue)]
    assert analysed == list(range(2, 24, 3))  # the newest of each handover, evenly
    assert sorted(analysed + [i.seq for i in dropped]) == list(range(24))
    assert {(i.event_type, i.code) for i in dropped} == {("quality_warning", "frame_dropped")}
    assert "40.0 s ago, more than the flow's bound of 30 s behind live" in dropped[0].message


def test_a_lag_bound_of_0_never_skips_a_frame(models: CountingBlazePose) -> None:
    logic = stage(models, clock := Clock(), BatchPolicy(max_frame_lag_s=0.0))
    frames = flood(logic, clock, behind_s=3600.0)
    assert [seq_of(i) for i in frames] == list(range(24))
    assert all(isinstance(i, PoseSample) for i in frames)


def test_tracking_is_lost_on_frames_without_a_person_and_found_again(
    models: CountingBlazePose,
) -> None:
    clock = Clock()
    logic = stage(models, clock, BatchPolicy(max_batch=1))  # every frame a batch of its own
    person = clip_jpegs()
    frames = [
        *(frame("t", seq, person[PERSON_FROM + seq]) for seq in range(5)),
        *(frame("t", seq, blank_jpeg()) for seq in range(5, 8)),
        *(frame("t", seq, person[PERSON_FROM + seq - 8]) for seq in range(8, 14)),
    ]
    found = []
    tracked = []
    for item in frames:
        [(_, sample)] = feed(logic, [("t", item)])
        assert isinstance(sample, PoseSample)
        found.append(sample.landmarks is not None)
        tracked.append(logic.state.batcher.tracks["t"].roi is not None)
    assert found == [True] * 5 + [False] * 3 + [True] * 6
    assert tracked == found  # lost on the blank frames, re-detected on the next person


def test_a_frame_the_decoder_refuses_is_its_error_and_the_stream_goes_on(
    models: CountingBlazePose,
) -> None:
    clock = Clock()
    logic = stage(models, clock)
    out = feed(
        logic,
        [
            ("e", frame("e", 0)),
            ("e", frame("e", 1, b"\xff\xd8 not really a jpeg")),
            ("e", frame("e", 2, jpeg_claiming(65500, 65500))),
        ],
    )
    out += notify_after_deadline(logic, clock)
    out += list(logic.on_eof()[0])
    kinds = [(seq_of(item), getattr(item, "code", "pose")) for _, item in out]
    assert kinds == [(0, "pose"), (1, "bad_frame"), (2, "too_large")]  # in order, none lost
    out = feed(logic, [("e", frame("e", 3))]) + notify_after_deadline(logic, clock)
    assert [(s, type(i).__name__) for s, i in out] == [("e", "PoseSample")]


def test_an_end_waits_for_its_streams_frames_and_the_stream_is_forgotten(
    models: CountingBlazePose,
) -> None:
    clock = Clock()
    budget = FrameStreamBudget(1)
    logic = stage(models, clock, budget=budget)
    out = feed(logic, [("x", frame("x", 0)), ("x", wire.EndMessage("x", 0))])
    assert out == []  # the end waits behind the frame
    out = notify_after_deadline(logic, clock)
    assert [type(item).__name__ for _, item in out] == ["PoseSample", "EndMessage"]
    assert "x" not in logic.state.batcher.tracks
    assert budget.in_use == 0


def test_a_stream_past_the_budget_is_refused_once_and_an_idle_one_gives_its_place_back(
    models: CountingBlazePose,
) -> None:
    clock = Clock()
    budget = FrameStreamBudget(1)
    logic = stage(models, clock, budget=budget, idle_timeout_s=5.0)
    out = feed(logic, [("p", frame("p", 0)), ("q", frame("q", 0)), ("q", frame("q", 1))])
    [(stream, refused)] = out
    assert stream == "q"
    assert isinstance(refused, FrameIssue)
    assert (refused.event_type, refused.code) == ("error", "frame_streams_full")
    notify_after_deadline(logic, clock)
    clock.now = T0 + 5.0
    logic.on_notify()  # both idle for the timeout: forgotten
    assert logic.state.seen == {}
    assert logic.state.refused == {}
    assert budget.in_use == 0
    out = feed(logic, [("r", frame("r", 0))]) + notify_after_deadline(logic, clock)
    assert [(s, type(i).__name__) for s, i in out] == [("r", "PoseSample")]


def test_the_snapshot_holds_jpeg_bytes_and_a_resumed_bucket_goes_on_tracking(
    models: CountingBlazePose,
) -> None:
    clock = Clock()
    logic = stage(models, clock)
    feed(logic, [("k", frame("k", 0))])
    notify_after_deadline(logic, clock)
    feed(logic, [("k", frame("k", 1))])
    snapshot = logic.snapshot()
    [waiting] = snapshots.loads(snapshot).batcher.waiting["k"]
    assert isinstance(waiting.pixels, bytes)
    camera_picture = 640 * 360  # the camera motion's grey reference picture
    assert len(pickle.dumps(snapshot)) < 2 * len(waiting.pixels) + camera_picture + 10_000
    restarted = PoseStageSettings(policy=BatchPolicy(max_frame_lag_s=0.0))
    build = pose_stage_builder(restarted, lambda: models, decode_jpeg, 30.0, 4)
    # From the bytes, and from recovery data that stored the state object itself.
    for stored in (snapshot, snapshots.loads(snapshot)):
        resumed = build(pickle.loads(pickle.dumps(stored)))
        resumed.clock = clock
        assert resumed.state.batcher.policy == restarted.policy  # the restart's settings apply
        assert resumed.state.batcher.tracks["k"] == logic.state.batcher.tracks["k"]
        [(_, sample)] = notify_after_deadline(resumed, clock)
        assert isinstance(sample, PoseSample)
        assert sample.seq == 1
        assert sample.landmarks is not None


def test_a_bucket_whose_snapshot_cannot_be_read_starts_afresh_and_poses_new_frames(
    models: CountingBlazePose,
) -> None:
    clock = Clock()
    build = pose_stage_builder(PoseStageSettings(), lambda: models, decode_jpeg, 30.0, 4)
    resumed = build(b"not a pickle")
    resumed.clock = clock
    assert not resumed.state.batcher.waiting
    feed(resumed, [("k", frame("k", 7))])
    [(stream_id, sample)] = notify_after_deadline(resumed, clock)
    assert stream_id == "k"
    assert isinstance(sample, PoseSample)
    assert sample.seq == 7


def test_buckets_are_stable_and_spread_streams() -> None:
    assert bucket_of("cam-1", 8) == bucket_of("cam-1", 8)
    assert len({bucket_of(f"cam-{i}", 8) for i in range(100)}) == 8
    assert {bucket_of(f"cam-{i}", 1) for i in range(10)} == {"0"}


def test_kinestream_flow_analyses_frames_on_the_onnx_stage_by_default(
    kafka_bootstrap: str, topic_factory: TopicFactory, tmp_path: Path
) -> None:
    """Real Kafka, ``kinestream flow`` with its defaults, started on a backlog of a
    stream's frames: every frame is a pose for its analysis, or its error; none skipped."""
    topics = fresh_topics(topic_factory, partitions=2)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    start = wire.StartMessage("live", Sport.CMJ, 1.8)
    key, value = wire.encode_control(start)
    producer.produce(topics.control, value, key)
    count = 30
    for seq in range(count):
        jpeg = b"\xff\xd8 not really a jpeg" if seq == 12 else None
        key, value, headers = wire.encode_frame(frame("live", seq, jpeg))
        producer.produce(topics.frames, value, key, headers=list(headers))
    key, value = wire.encode_control(wire.EndMessage("live", count - 1))
    producer.produce(topics.control, value, key)
    assert producer.flush(30) == 0

    env = {**topics_env(topics), "KINESTREAM_KAFKA": kafka_bootstrap, "KINESTREAM_DEVICE": "cpu"}
    log = tmp_path / "flow.log"
    flow = start_flow([], {**env, "KINESTREAM_DATABASE_URL": ""}, log, frames=True)
    events: list[AnalysisEvent] = []
    try:

        def summarised() -> bool:
            events.extend(
                wire.decode_event(k, v) for k, v in consume_all(kafka_bootstrap, topics.events, 1)
            )
            return any(e.event_type == "session_summary" for e in events)

        _wait_for(summarised, 120, "the stream's summary")
    finally:
        flow.kill()
        flow.wait(10)
    events = list({e.event_id: e for e in events}.values())
    [summary] = [e for e in events if e.event_type == "session_summary"]
    skipped = {e.seq for e in events if e.payload.get("code") == "frame_dropped"}
    errors = [(e.seq, e.payload["code"]) for e in events if e.event_type == "error"]
    assert skipped == set()
    assert errors == [(12, "bad_frame")]
    assert summary.payload["reason"] == "end"
    assert summary.payload["frames"] == count - 1
    assert "mediapipe" not in log.read_text().lower()


def test_the_environment_chooses_the_pose_backend_device_and_budget() -> None:
    default = FlowSettings.from_env({})
    assert (default.pose, default.pose_stage.device, default.pose_stage.buckets) == (
        "onnx",
        None,  # CUDA when onnxruntime offers it, else the CPU
        1,
    )
    assert default.stream.max_frame_streams is None  # the backend's own default
    assert (default_max_frame_streams("onnx"), default_max_frame_streams("mediapipe")) == (512, 14)
    chosen = FlowSettings.from_env(
        {
            "KINESTREAM_POSE": "mediapipe",
            "KINESTREAM_DEVICE": "cpu",
            "KINESTREAM_POSE_BUCKETS": "4",
            "KINESTREAM_MAX_FRAME_STREAMS": "3",
            "KINESTREAM_MAX_FRAME_LAG_S": "0",
        }
    )
    assert (chosen.pose, chosen.pose_stage.device, chosen.pose_stage.buckets) == (
        "mediapipe",
        "cpu",
        4,
    )
    assert chosen.stream.max_frame_streams == 3
    assert default.pose_stage.policy.max_frame_lag_s == DEFAULT_MAX_FRAME_LAG_S == 30.0
    assert chosen.pose_stage.policy.max_frame_lag_s == 0.0
    with pytest.raises(ValueError, match="KINESTREAM_POSE"):
        FlowSettings.from_env({"KINESTREAM_POSE": "tflite"})
    with pytest.raises(ValueError, match="KINESTREAM_DEVICE"):
        FlowSettings.from_env({"KINESTREAM_DEVICE": "tpu"})


def test_the_per_stream_step_turns_the_stages_issues_into_events_in_their_place() -> None:
    build = stream_logic_builder(ToyAnalyzer, StreamSettings(idle_timeout_s=60))
    logic = build(None)
    dropped = FrameIssue(0, T0, "quality_warning", "frame_dropped", "frame 0 was dropped")
    bad = FrameIssue(1, T0 + 1 / 30, "error", "bad_frame", "not a JPEG")
    held = [logic.on_item(("s", item))[0] for item in (dropped, bad)]
    assert held == [[], []]  # before the start: held, like the stream's poses
    out = list(logic.on_item(("s", wire.StartMessage("s", Sport.CMJ, 1.8)))[0])
    assert [(o.event.event_type, o.event.seq) for o in out if o.event] == [
        ("quality_warning", 0),
        ("error", 1),
    ]
    skipped_last = FrameIssue(2, T0 + 2 / 30, "quality_warning", "frame_dropped", "dropped")
    assert list(logic.on_item(("s", wire.EndMessage("s", 2)))[0]) == []  # waits for seq 2
    out = list(logic.on_item(("s", skipped_last))[0])
    assert [o.event.event_type for o in out if o.event] == ["quality_warning", "session_summary"]

    full = build(None)
    full.on_item(("f", wire.StartMessage("f", Sport.CMJ, 1.8)))
    refusal = FrameIssue(0, T0, "error", "frame_streams_full", "this worker already runs 1")
    out = list(full.on_item(("f", refusal))[0])
    assert [(o.event.event_type, o.event.payload.get("reason")) for o in out if o.event] == [
        ("error", None),
        ("session_summary", "frame_streams_full"),
    ]


@pytest.mark.skipif(cuda_available(), reason="CUDA is here: the flow would run")
def test_kinestream_flow_refuses_cuda_where_onnxruntime_has_none(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["flow", "--device", "cuda"]) == 2
    assert "--device cuda needs onnxruntime-gpu" in capsys.readouterr().err


@pytest.mark.parametrize("pose", ["onnx", "mediapipe"])
def test_the_flow_runs_frames_on_the_backend_its_settings_name(pose: PoseBackend) -> None:
    """Forty frames of a stream replayed at once (more than a Kafka batch): both backends
    take every frame, the ONNX stage running a batch whenever two wait."""
    count = 40
    events = run_frames_flow(
        FlowSettings(pose=pose, pose_stage=PoseStageSettings(device="cpu")), count
    )
    analysed = [e.seq for e in events if e.event_type == "metric_update"]
    assert analysed == list(range(count))
    assert events[-1].event_type == "session_summary"


@pytest.mark.parametrize("max_frame_lag_s", [30.0, 0.0])
def test_the_flow_skips_frames_kafka_got_longer_ago_than_the_bound(max_frame_lag_s: float) -> None:
    """Frames whose Kafka timestamp is ten minutes old: the flow skips those a newer frame
    of the stream replaced, with warnings, and analyses the newest; 0 skips none."""
    count = 12
    produced = (TIMESTAMP_CREATE_TIME, int((time.time() - 600) * 1000))
    policy = BatchPolicy(max_frame_lag_s=max_frame_lag_s)
    settings = FlowSettings(pose_stage=PoseStageSettings(device="cpu", policy=policy))
    events = run_frames_flow(settings, count, produced)
    analysed = [e.seq for e in events if e.event_type == "metric_update"]
    skipped = [e for e in events if e.payload.get("code") == "frame_dropped"]
    assert sorted(analysed + [e.seq for e in skipped]) == list(range(count))
    assert events[-1].event_type == "session_summary"
    if max_frame_lag_s == 0:
        assert skipped == []
    else:
        assert count - 1 in analysed  # the newest frame runs
        assert len(skipped) >= count // 2
        assert all(e.event_type == "quality_warning" for e in skipped)
        assert "behind live (--max-frame-lag-s)" in skipped[0].payload["message"]


def run_frames_flow(
    settings: FlowSettings, count: int, timestamp: tuple[int, int] | None = None
) -> list[AnalysisEvent]:
    """Run the flow on a start, ``count`` frames of stream "b" with this Kafka timestamp
    and its end, all at once; return its events."""
    messages = [start_msg("b")]
    for seq in range(count):
        key, value, headers = wire.encode_frame(frame("b", seq))
        msg = _msg(TOPICS.frames, key, value, headers, offset=seq)
        messages.append(replace(msg, timestamp=timestamp))
    messages.append(end_msg("b", count - 1))
    out: list[OutMessage] = []
    io = FlowIO(
        source=TestingSource(messages),
        events=TestingSink(out),
        webhooks=TestingSink([]),
        analyzer_factory=ToyAnalyzer,
    )
    run_main(build_flow(settings, io))  # type: ignore[no-untyped-call]
    return [wire.decode_event(m.key, m.value) for m in out]


def test_the_decode_step_carries_the_kafka_timestamp_on_the_frame() -> None:
    key, value, headers = wire.encode_frame(frame("d", 0))
    msg = _msg(TOPICS.frames, key, value, headers)
    for timestamp, produced_s in [
        ((TIMESTAMP_CREATE_TIME, 1_760_000_123_456), 1_760_000_123.456),
        ((TIMESTAMP_LOG_APPEND_TIME, 1_760_000_000_000), 1_760_000_000.0),
        ((TIMESTAMP_NOT_AVAILABLE, -1), None),
        (None, None),
    ]:
        status, decoded = decode_message(TOPICS, replace(msg, timestamp=timestamp))
        assert status == "ok"
        assert isinstance(decoded, tuple)
        item = decoded[1]
        assert isinstance(item, wire.Frame)
        assert item.produced_s == produced_s
        assert replace(item, produced_s=None) == frame("d", 0)


def test_kinestream_flow_takes_every_frame_of_a_backfill_and_refuses_a_negative_bound(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def bound(*argv: str) -> float:
        return frame_lag_bound(build_parser().parse_args(["flow", *argv]))

    monkeypatch.delenv("KINESTREAM_MAX_FRAME_LAG_S", raising=False)
    assert bound() == DEFAULT_MAX_FRAME_LAG_S
    assert bound("--stop-at-end") == 0.0  # a backfill
    assert bound("--stop-at-end", "--max-frame-lag-s", "5") == 5.0
    monkeypatch.setenv("KINESTREAM_MAX_FRAME_LAG_S", "7")
    assert (bound(), bound("--stop-at-end")) == (7.0, 7.0)
    assert main(["flow", "--max-frame-lag-s", "-1"]) == 2
    assert "--max-frame-lag-s must be 0 or more" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["flow", "--help"])
    assert "--max-frame-lag-s" in capsys.readouterr().out


def tilted(jpeg: bytes, down_px: float) -> bytes:
    """The frame as a camera tilted up by ``down_px`` would have seen it (edges repeated)."""
    rgb = decode_jpeg(jpeg)
    shift = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, down_px]])
    moved = cv2.warpAffine(rgb, shift, (1280, 720), borderMode=cv2.BORDER_REPLICATE)
    return encode_jpeg(np.asarray(moved, dtype=np.uint8))


def test_a_camera_tilting_during_a_stream_is_taken_out_of_its_poses(
    models: CountingBlazePose,
) -> None:
    """Two streams of the same frames, one filmed by a camera that tilts up from its 6th
    frame, its picture 30 px lower from then on: that stream's feet stay within 3 px of the
    still one's (median over the foot landmarks, each frame), where the poses as found lie
    30 px apart. The models themselves place the landmarks of a moved picture up to about
    2 px differently on these frames."""
    clock = Clock()
    logic = stage(models, clock, BatchPolicy(max_batch=2, max_wait_s=0.02))
    out: list[KeyedInput] = []
    for seq in range(14):
        jpeg = clip_jpegs()[PERSON_FROM + 12 + seq]
        down = 30.0 * min(1.0, max(0.0, (seq - 5) / 4))
        out += feed(logic, [("still", frame("still", seq, jpeg))])
        out += feed(logic, [("tilted", frame("tilted", seq, tilted(jpeg, down)))])
    out += list(logic.on_eof()[0])
    poses = {
        stream: [i for sid, i in out if sid == stream and isinstance(i, PoseSample)]
        for stream in ("still", "tilted")
    }
    assert [p.seq for p in poses["tilted"]] == [p.seq for p in poses["still"]] == list(range(14))
    feet = slice(27, 33)
    apart = [
        np.median(np.abs(t.pixels()[feet] - s.pixels()[feet])[:, 1])
        for s, t in zip(poses["still"][9:], poses["tilted"][9:], strict=True)
    ]
    assert max(apart) < 3.0, apart
