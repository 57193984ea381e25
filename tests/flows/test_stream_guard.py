"""Nothing one stream sends stops the flow: failures become that stream's error events,
frame streams stay within their memory budget, and a message workers died on is
quarantined (the crash-loop guard, in process; tests/flows/test_crash_loop.py kills real
processes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bytewax.testing import TestingSink, TestingSource, run_main

from kinestream import wire
from kinestream.events import AnalysisEvent
from kinestream.flows.analysis import FlowIO, FlowSettings, OutMessage, build_flow
from kinestream.flows.inflight import (
    KIND_POSE,
    KIND_START,
    InflightLog,
    crash_hook_from_env,
    identity_of,
    read_deaths,
)
from kinestream.flows.stream_logic import StreamLogic, StreamSettings
from kinestream.operators.analyzer import StreamAnalyzer, StreamConfig
from kinestream.operators.pose import PoseSample
from kinestream.session import SessionEvent
from kinestream.sports import Sport
from tests.flows.conftest import Runner
from tests.flows.test_analysis import (
    TOPICS,
    FakeEstimator,
    ToyAnalyzer,
    _msg,
    assert_numbered,
    by_type,
    end_msg,
    frame_msgs,
    pose_msgs,
    sample,
    start_msg,
)
from tests.hostile_packets import jpeg_claiming


def run(
    runner: Runner,
    inputs: list[Any],
    *,
    analyzer_factory: Any = ToyAnalyzer,
    estimator_factory: Any = None,
    stream: StreamSettings | None = None,
    inflight_dir: Path | None = None,
) -> tuple[list[AnalysisEvent], list[OutMessage]]:
    events: list[OutMessage] = []
    letters: list[OutMessage] = []
    settings = FlowSettings(
        frames=estimator_factory is not None,
        stream=stream or StreamSettings(idle_timeout_s=60),
        inflight_dir=inflight_dir,
    )
    io = FlowIO(
        source=TestingSource(inputs),
        events=TestingSink(events),
        webhooks=TestingSink([]),
        deadletter=TestingSink(letters),
        analyzer_factory=analyzer_factory,
        estimator_factory=estimator_factory,
    )
    runner(build_flow(settings, io))
    return [wire.decode_event(m.key, m.value) for m in events], letters


def codes(events: list[AnalysisEvent], stream_id: str) -> list[tuple[str, int, str]]:
    return [
        (e.event_type, e.seq, e.payload.get("code") or e.payload.get("reason", ""))
        for e in events
        if e.stream_id == stream_id and e.event_type in ("error", "session_summary")
    ]


class FailingAnalyzer(ToyAnalyzer):
    """Raises what the smoother raised on a capture time of 1e300, on one frame."""

    fail_at = 10
    fail_finish = False

    def process(self, sample: PoseSample) -> list[AnalysisEvent]:
        if self.stream_id.startswith("bad") and sample.seq == self.fail_at:
            raise np.linalg.LinAlgError("SVD did not converge")
        return super().process(sample)

    def finish(self, reason: str) -> list[AnalysisEvent]:
        if self.fail_finish and self.stream_id.startswith("bad"):
            raise ZeroDivisionError("float division by zero")
        return super().finish(reason)


def test_an_exception_in_one_streams_analysis_ends_that_stream_only(runner: Runner) -> None:
    inputs = [
        start_msg("bad"),
        start_msg("good"),
        *pose_msgs("bad", range(40)),
        *pose_msgs("good", range(40)),
        end_msg("bad"),
        end_msg("good"),
    ]
    events, _ = run(runner, inputs, analyzer_factory=FailingAnalyzer)
    assert codes(events, "bad") == [
        ("error", 10, "analysis_failed"),
        ("session_summary", 9, "analysis_failed"),  # the last frame it analysed
    ]
    failure = next(e for e in events if e.payload.get("code") == "analysis_failed")
    assert "LinAlgError: SVD did not converge" in failure.payload["message"]
    summary = next(e for e in events if e.stream_id == "bad" and e.event_type == "session_summary")
    assert summary.payload["frames"] == 10  # what the analyzer took before it failed
    assert by_type(events, "bad")["metric_update"] == 10  # the rest of the stream is dropped
    assert by_type(events, "good") == {
        "metric_update": 40,
        "rep_complete": 1,
        "session_summary": 1,
    }
    assert_numbered(events)


def test_an_analyzer_that_cannot_finish_still_ends_its_session(runner: Runner) -> None:
    class CannotFinish(FailingAnalyzer):
        fail_at = -1
        fail_finish = True

    events, _ = run(
        runner,
        [start_msg("bad"), *pose_msgs("bad", range(35)), end_msg("bad")],
        analyzer_factory=CannotFinish,
    )
    assert codes(events, "bad") == [
        ("error", 34, "analysis_failed"),
        ("session_summary", 34, "end"),
    ]
    summary = events[-1].payload
    assert (summary["reps"], summary["frames"]) == (1, 35)


def test_hostile_samples_past_the_wire_never_raise_out_of_the_step() -> None:
    """The real analyzer, fed what the wire now refuses (the probe's 1e300 and 1e15 capture
    times, huge or degenerate landmarks), straight into the per-stream step."""
    start = wire.StartMessage("h", Sport.CMJ, 1.8)
    logic = StreamLogic(
        analyzer_factory=lambda s: StreamAnalyzer(StreamConfig(s.stream_id, s.sport, 1.8)),
        settings=StreamSettings(),
    )
    logic.on_item(("h", start))
    t0 = 1_760_000_000.0
    standing = [PoseSample(s, t0 + s / 60, 640, 480, np.full((33, 4), 0.5)) for s in range(90)]
    hostile = [
        PoseSample(90, 1e300, 640, 480, np.full((33, 4), 0.5)),
        PoseSample(91, 1e15, 640, 480, np.full((33, 4), 0.5)),
        PoseSample(92, t0 + 2.0, 640, 480, np.full((33, 4), 3e38)),
        PoseSample(93, t0 + 2.1, 640, 480, np.zeros((33, 4))),
        PoseSample(94, t0 + 2.2, 10**9, 10**9, np.random.default_rng(1).random((33, 4))),
    ]
    out: list[SessionEvent] = []
    for item in [*standing, *hostile]:
        events, _ = logic.on_item(("h", item))
        out.extend(events)
    out.extend(logic.on_notify()[0])
    for output in out:
        if output.event is not None:
            wire.encode_event(output.event)  # every event is still JSON
    assert out[-1].event is not None
    assert out[-1].event.event_type == "session_summary"


def _bomb_frame(stream_id: str, seq: int, width: int, height: int) -> Any:
    frame = wire.Frame(
        stream_id, seq, 1_760_000_000.0 + seq / 30, 30.0, 64, 48, jpeg_claiming(width, height)
    )
    return _msg(TOPICS.frames, *wire.encode_frame(frame))


class FlakyEstimator(FakeEstimator):
    closed = 0

    def estimate(self, rgb: Any, seq: int, timestamp_s: float) -> PoseSample:
        if seq == 7:
            raise RuntimeError("CalculatorGraph::Run() failed")
        return super().estimate(rgb, seq, timestamp_s)

    def close(self) -> None:
        FlakyEstimator.closed += 1


def test_a_frame_that_cannot_be_decoded_or_estimated_is_an_error_and_the_stream_goes_on(
    runner: Runner,
) -> None:
    inputs = [
        start_msg("f"),
        *frame_msgs("f", range(5)),
        _bomb_frame("f", 5, 65500, 65500),  # OpenCV raised cv2.error on this
        _bomb_frame("f", 6, 20000, 20000),  # and took 7.8 s and 2.5 GiB on this
        *frame_msgs("f", range(7, 40)),
        end_msg("f"),
    ]
    events, _ = run(runner, inputs, estimator_factory=FlakyEstimator)
    assert codes(events, "f") == [
        ("error", 5, "too_large"),
        ("error", 6, "too_large"),
        ("error", 7, "pose_estimation_failed"),
        ("session_summary", 39, "end"),
    ]
    assert by_type(events, "f")["metric_update"] == 37


def test_a_worker_refuses_frame_streams_past_its_budget_and_ended_ones_give_back() -> None:
    FakeEstimator.built = FlakyEstimator.closed = 0
    inputs = [
        start_msg("f1"),
        start_msg("f2"),
        *frame_msgs("f1", range(3)),
        *frame_msgs("f2", range(3)),  # f1 holds the only estimator
        end_msg("f1"),
        start_msg("f3"),
        *frame_msgs("f3", range(3)),  # f1's place is free again
        end_msg("f3"),
    ]
    events, _ = run(
        lambda flow: run_main(flow),  # type: ignore[no-untyped-call]
        inputs,
        estimator_factory=FlakyEstimator,
        stream=StreamSettings(idle_timeout_s=60, max_frame_streams=1),
    )
    assert codes(events, "f2") == [
        ("error", 0, "frame_streams_full"),
        ("session_summary", -1, "frame_streams_full"),  # it analysed no frame
    ]
    refused = next(e for e in events if e.payload.get("code") == "frame_streams_full")
    assert "already runs 1 frame streams" in refused.payload["message"]
    assert codes(events, "f1") == [("session_summary", 2, "end")]
    assert codes(events, "f3") == [("session_summary", 2, "end")]
    assert (FakeEstimator.built, FlakyEstimator.closed) == (2, 2)


class NanAnalyzer(ToyAnalyzer):
    def process(self, sample: PoseSample) -> list[AnalysisEvent]:
        events = super().process(sample)
        if sample.seq == 3:
            events[0].payload["com_height_m"] = float("nan")
        return events


def test_an_event_json_cannot_carry_is_replaced_by_an_error_in_its_place(runner: Runner) -> None:
    events, _ = run(
        runner,
        [start_msg("n"), *pose_msgs("n", range(5)), end_msg("n")],
        analyzer_factory=NanAnalyzer,
    )
    assert codes(events, "n")[0] == ("error", 3, "unencodable_event")
    assert by_type(events, "n")["metric_update"] == 4
    assert_numbered(events)


# --- the crash-loop guard ---------------------------------------------------------------


def _die_on(directory: Path, identity: tuple[str, int, int]) -> None:
    """What a run that died while analysing ``identity`` leaves behind."""
    log = InflightLog(directory)
    log.begin(identity)  # ... and never log.end(): the process died


def test_a_death_is_retried_once_and_quarantined_the_second_time(tmp_path: Path) -> None:
    item = ("cam-1", KIND_POSE, 41)
    _die_on(tmp_path, item)
    first = InflightLog(tmp_path)
    assert first.deaths == {item: 1}
    assert first.quarantined == {}  # a kill -9 from outside may land on any message
    first.begin(item)  # the retry dies too
    second = InflightLog(tmp_path)
    assert second.quarantined == {item: 2}
    second.begin(("cam-1", KIND_POSE, 42))
    second.end()
    assert read_deaths(tmp_path) == {}  # the marker moved on: nothing is held against 41
    assert InflightLog(tmp_path, quarantine_after=1).quarantined == {}
    _die_on(tmp_path, ("cam-2", KIND_START, -1))
    assert InflightLog(tmp_path, quarantine_after=1).quarantined == {("cam-2", KIND_START, -1): 1}


def test_a_quarantined_message_goes_to_the_dead_letter_topic_and_the_stream_goes_on(
    tmp_path: Path, runner: Runner
) -> None:
    poison = ("q", KIND_POSE, 5)
    _die_on(tmp_path, poison)
    InflightLog(tmp_path).begin(poison)
    inputs = [start_msg("q"), *pose_msgs("q", range(31)), end_msg("q")]
    events, letters = run(runner, inputs, inflight_dir=tmp_path)
    [error] = [e for e in events if e.event_type == "error"]
    assert (error.seq, error.payload["code"]) == (5, "quarantined")
    assert "died 2 times" in error.payload["message"]
    assert by_type(events, "q")["metric_update"] == 30
    [letter] = letters
    quarantined = wire.decode_quarantined(letter.key, letter.value, letter.headers)
    original = pose_msgs("q", [5])[0]
    assert (quarantined.key, quarantined.value) == (original.key, original.value)
    assert (quarantined.topic, quarantined.offset) == (TOPICS.poses, original.offset)
    assert quarantined.reason == "worker_died"
    assert "died 2 times" in quarantined.error


def test_a_held_sample_workers_died_on_is_skipped_when_its_start_comes(tmp_path: Path) -> None:
    poison = identity_of("h", sample(3))
    _die_on(tmp_path, poison)
    InflightLog(tmp_path).begin(poison)
    logic = StreamLogic(
        analyzer_factory=ToyAnalyzer,
        settings=StreamSettings(),
        inflight=InflightLog(tmp_path),
    )
    for seq in range(6):
        assert logic.on_item(("h", sample(seq)))[0] == []
    out, _ = logic.on_item(("h", wire.StartMessage("h", Sport.CMJ, 1.8)))
    events = [o.event for o in out if o.event is not None]
    assert [(e.event_type, e.seq) for e in events] == [
        ("metric_update", 0),
        ("metric_update", 1),
        ("metric_update", 2),
        ("error", 3),
        ("metric_update", 4),
        ("metric_update", 5),
    ]
    assert events[3].payload["code"] == "quarantined"


def test_the_crash_hook_is_read_only_from_its_variable() -> None:
    assert crash_hook_from_env({}) is None
    assert crash_hook_from_env({"KINESTREAM_TEST_CRASH_ON": "cam:1:40"}) == ("cam:1", 40)
    with pytest.raises(ValueError, match="stream id"):
        crash_hook_from_env({"KINESTREAM_TEST_CRASH_ON": "40"})


def test_a_refused_frame_builds_no_estimator() -> None:
    FakeEstimator.built = 0
    inputs = [start_msg("b"), _bomb_frame("b", 0, 65500, 65500), end_msg("b")]
    events, _ = run(lambda flow: run_main(flow), inputs, estimator_factory=FakeEstimator)  # type: ignore[no-untyped-call]
    assert codes(events, "b") == [("error", 0, "too_large"), ("session_summary", -1, "end")]
    assert FakeEstimator.built == 0  # no 110 MiB MediaPipe graph for a frame never decoded
