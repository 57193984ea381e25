"""The batched pose stage of frames mode (``kinestream.flows.pose_stage``), on the real
BlazePose models and the real clip's frames: batches across streams bounded in size and
wait, each stream's poses in order, bounded queues that skip a flooding stream's frames
evenly, tracking lost and found again, decoder errors, ends after their frames, the
budget, and a snapshot that holds JPEG bytes only."""

from __future__ import annotations

import functools
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from bytewax.testing import TestingSink, TestingSource, run_main
from confluent_kafka import Producer

from kinestream import wire
from kinestream.cli import main
from kinestream.connectors.jpeg import decode_jpeg, encode_jpeg
from kinestream.connectors.video import read_frames
from kinestream.events import AnalysisEvent
from kinestream.flows.analysis import FlowIO, FlowSettings, OutMessage, build_flow
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
from kinestream.operators.blazepose.batcher import BatchPolicy, PoseBatcher
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


def frame(stream_id: str, seq: int, jpeg: bytes | None = None) -> wire.Frame:
    jpeg = clip_jpegs()[PERSON_FROM + seq % 30] if jpeg is None else jpeg
    return wire.Frame(stream_id, seq, T0 + seq / 30, 30.0, 1280, 720, jpeg)


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


def test_a_flooding_stream_skips_frames_evenly_with_a_warning_and_its_queue_stays_bounded(
    models: CountingBlazePose,
) -> None:
    """Every 100 ms a steady stream sends one frame and a flooding one sends three, while
    two wait at most: the flood loses one frame in three, evenly, the steady one none."""
    clock = Clock()
    logic = stage(models, clock, BatchPolicy(max_batch=16, max_wait_s=0.02, max_waiting=2))
    out: list[KeyedInput] = []
    seq = 0
    for tick in range(8):
        clock.now = T0 + tick * 0.1
        out += feed(logic, [("steady", frame("steady", tick))])
        for _ in range(3):
            out += feed(logic, [("flood", frame("flood", seq))])
            seq += 1
            assert len(logic.state.batcher.waiting.get("flood", [])) <= 2
        out += notify_after_deadline(logic, clock)
    flood = [item for sid, item in out if sid == "flood"]
    analysed = [i.seq for i in flood if isinstance(i, PoseSample)]
    dropped = [i.seq for i in flood if isinstance(i, FrameIssue)]
    assert all(
        i.event_type == "quality_warning" and i.code == "frame_dropped"
        for i in flood
        if isinstance(i, FrameIssue)
    )
    assert np.diff(dropped).tolist() == [3] * (len(dropped) - 1)  # evenly, one in three
    assert sorted(analysed + dropped) == list(range(24))
    assert len(dropped) == 8
    steady = [item for sid, item in out if sid == "steady"]
    assert [seq_of(i) for i in steady] == list(range(8))
    assert all(isinstance(i, PoseSample) for i in steady)


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
    assert (0, "frame_dropped") in kinds  # three frames at once: the oldest was dropped
    assert (1, "bad_frame") in kinds
    assert (2, "too_large") in kinds
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
    [waiting] = snapshot.batcher.waiting["k"]
    assert isinstance(waiting.pixels, bytes)
    assert len(pickle.dumps(snapshot)) < 2 * len(waiting.pixels) + 10_000
    build = pose_stage_builder(PoseStageSettings(), lambda: models, decode_jpeg, 30.0, 4)
    resumed = build(pickle.loads(pickle.dumps(snapshot)))
    resumed.clock = clock
    assert resumed.state.batcher.tracks["k"] == logic.state.batcher.tracks["k"]
    [(_, sample)] = notify_after_deadline(resumed, clock)
    assert isinstance(sample, PoseSample)
    assert sample.seq == 1
    assert sample.landmarks is not None


def test_buckets_are_stable_and_spread_streams() -> None:
    assert bucket_of("cam-1", 8) == bucket_of("cam-1", 8)
    assert len({bucket_of(f"cam-{i}", 8) for i in range(100)}) == 8
    assert {bucket_of(f"cam-{i}", 1) for i in range(10)} == {"0"}


def test_kinestream_flow_analyses_frames_on_the_onnx_stage_by_default(
    kafka_bootstrap: str, topic_factory: TopicFactory, tmp_path: Path
) -> None:
    """Real Kafka, ``kinestream flow`` with its defaults: a stream's every frame is a pose
    for its analysis, a frame the backlog made it skip (quality_warning) or its error."""
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
    assert errors == ([] if 12 in skipped else [(12, "bad_frame")])  # skipped: not decoded
    assert summary.payload["reason"] == "end"
    assert summary.payload["frames"] >= 2
    assert summary.payload["frames"] + len(skipped) + len(errors) == count
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
        }
    )
    assert (chosen.pose, chosen.pose_stage.device, chosen.pose_stage.buckets) == (
        "mediapipe",
        "cpu",
        4,
    )
    assert chosen.stream.max_frame_streams == 3
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
    """Twelve frames replayed at once: the live ONNX stage keeps two waiting and skips the
    rest evenly, each with a warning; a MediaPipe graph per stream takes every frame."""
    count = 12
    messages = [start_msg("b")]
    for seq in range(count):
        messages.append(_msg(TOPICS.frames, *wire.encode_frame(frame("b", seq))))
    messages.append(end_msg("b", count - 1))
    out: list[OutMessage] = []
    settings = FlowSettings(pose=pose, pose_stage=PoseStageSettings(device="cpu"))
    io = FlowIO(
        source=TestingSource(messages),
        events=TestingSink(out),
        webhooks=TestingSink([]),
        analyzer_factory=ToyAnalyzer,
    )
    run_main(build_flow(settings, io))  # type: ignore[no-untyped-call]
    events = [wire.decode_event(m.key, m.value) for m in out]
    analysed = [e.seq for e in events if e.event_type == "metric_update"]
    skipped = [e.seq for e in events if e.payload.get("code") == "frame_dropped"]
    assert sorted(analysed + skipped) == list(range(count))
    assert events[-1].event_type == "session_summary"
    if pose == "mediapipe":
        assert skipped == []
    else:
        assert 0 < len(skipped) < count
