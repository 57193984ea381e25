"""Frames mode of the dataflow on its default, the batched ONNX stage, against
``kinestream analyze --pose mediapipe`` on the real clip, every frame sent as a producer
sends it (JPEG at quality 85, 1280 px).

Tolerances: the fraction of frames with a person within 1 % (percentage points) of
MediaPipe's own pipeline on the same frames; the analysis's outcome the same: reps and
their metrics within the accuracy tests' tolerances (jump height 2 cm, flight and contact
time 10 ms), the frames counted, the quality warnings' codes. The committed clip holds no
jump, so both give no rep, for the same reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from bytewax.testing import TestingSink, TestingSource, run_main

from kinestream import wire
from kinestream.cli import main
from kinestream.connectors.jpeg import encode_jpeg
from kinestream.connectors.video import read_frames
from kinestream.events import AnalysisEvent
from kinestream.flows.analysis import (
    FlowIO,
    FlowSettings,
    OutMessage,
    build_flow,
    default_analyzer_factory,
)
from kinestream.flows.pose_stage import PoseStageSettings
from kinestream.flows.stream_logic import Analyzer, StreamSettings
from kinestream.operators.mediapipe_pose import MediaPipePoseEstimator
from kinestream.operators.pose import PoseSample
from kinestream.sports import Sport
from tests.flows.test_analysis import TOPICS, _msg
from tests.footage import DEMO_CLIP, footage

T0 = 1_760_000_000.0
WIDTH_PX = 1280
JUMP_HEIGHT_M = 0.02
TIME_S = 0.010


class RecordingAnalyzer:
    """The flow's own analyzer, noting which frames came with a person."""

    found: ClassVar[dict[int, bool]] = {}

    def __init__(self, start: wire.StartMessage) -> None:
        self.inner: Analyzer = default_analyzer_factory(start)

    def process(self, sample: PoseSample) -> list[AnalysisEvent]:
        RecordingAnalyzer.found[sample.seq] = sample.landmarks is not None
        return self.inner.process(sample)

    def finish(self, reason: str) -> list[AnalysisEvent]:
        return self.inner.finish(reason)


def _outcome(events: list[AnalysisEvent]) -> dict[str, Any]:
    summary = events[-1]
    assert summary.event_type == "session_summary"
    return {
        "reps": [e.payload for e in events if e.event_type == "rep_complete"],
        "warnings": sorted(
            {e.payload["code"] for e in events if e.event_type == "quality_warning"}
        ),
        "summary": {
            k: summary.payload.get(k)
            for k in ("reps", "frames", "dropped_frames", "no_reps_reason")
        },
    }


def _assert_same_reps(ours: list[dict[str, Any]], reference: list[dict[str, Any]]) -> None:
    assert len(ours) == len(reference)
    for a, b in zip(ours, reference, strict=True):
        assert a["jump_height_m"] == pytest.approx(b["jump_height_m"], abs=JUMP_HEIGHT_M)
        for name in ("flight_time_s", "contact_time_s"):
            if b.get(name) is not None:
                assert a[name] == pytest.approx(b[name], abs=TIME_S)


@pytest.mark.footage
def test_frames_mode_on_the_onnx_stage_matches_analyze_with_mediapipe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = footage(DEMO_CLIP)
    frames = list(read_frames(clip, WIDTH_PX))
    messages = [
        _msg(
            TOPICS.control,
            *wire.encode_control(wire.StartMessage("cam", Sport.DROP_JUMP, 1.75, 0.4)),
        )
    ]
    for seq, timestamp_s, rgb in frames:
        frame = wire.Frame(
            "cam", seq, T0 + timestamp_s, 30.0, WIDTH_PX, rgb.shape[0], encode_jpeg(rgb)
        )
        messages.append(_msg(TOPICS.frames, *wire.encode_frame(frame)))
    messages.append(
        _msg(TOPICS.control, *wire.encode_control(wire.EndMessage("cam", len(frames) - 1)))
    )
    out: list[OutMessage] = []
    # Every frame is replayed at once here, as a backlog: the stage's defaults take them all.
    settings = FlowSettings(
        stream=StreamSettings(idle_timeout_s=600), pose_stage=PoseStageSettings(device="cpu")
    )
    io = FlowIO(
        source=TestingSource(messages),
        events=TestingSink(out),
        webhooks=TestingSink([]),
        analyzer_factory=RecordingAnalyzer,
    )
    RecordingAnalyzer.found = {}
    run_main(build_flow(settings, io))  # type: ignore[no-untyped-call]
    flow_events = [wire.decode_event(m.key, m.value) for m in out]
    assert sorted(RecordingAnalyzer.found) == list(range(len(frames)))  # each frame, once

    with MediaPipePoseEstimator() as mediapipe:
        found = [mediapipe.estimate(rgb, seq, t).landmarks is not None for seq, t, rgb in frames]
    rate_flow = sum(RecordingAnalyzer.found.values()) / len(frames)
    rate_mediapipe = sum(found) / len(frames)
    print(f"detection rate: flow (ONNX stage) {rate_flow:.2%}, MediaPipe {rate_mediapipe:.2%}")
    assert abs(rate_flow - rate_mediapipe) <= 0.01

    reference_file = tmp_path / "mediapipe.jsonl"
    args = ["--sport", "drop_jump", "--athlete-height", "1.75", "--box-height", "0.4"]
    status = main(
        [
            "analyze",
            str(clip),
            *args,
            "--quiet",
            "--pose",
            "mediapipe",
            "--json",
            str(reference_file),
        ]
    )
    assert status == 0, capsys.readouterr()
    reference_events = [
        AnalysisEvent.from_dict(json.loads(line))
        for line in reference_file.read_text().splitlines()
    ]
    ours, reference = _outcome(flow_events), _outcome(reference_events)
    _assert_same_reps(ours["reps"], reference["reps"])
    assert ours["warnings"] == reference["warnings"]
    assert ours["summary"] == reference["summary"]
    assert ours["summary"]["frames"] == len(frames)
