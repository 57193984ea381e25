"""``kinestream replay`` through the real broker and the real dataflow.

The reference is ``kinestream analyze`` of the same recording. Recordings and pose
packets both carry float32 landmarks, so the dataflow sees exactly the samples analyze
reads: with ``--keep-timestamps`` every event is identical, bit for bit.

The default shifts capture times to the time of the replay (about 1.7e9 s), which rounds
each one to 2.4e-7 s. The analysis compares time spans with thresholds, and the synthetic
athlete's frames lie on an exact 1/60 s grid, so a boundary such as the end of the
calibration window can fall one frame later; the repetitions are the same and their
metrics move by at most a few 1e-5 s or m and 3e-4 m/s (measured over seeds and sports).
"""

from __future__ import annotations

import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from bytewax.testing import run_main

from kinestream import wire
from kinestream.cli import build_parser, main
from kinestream.commands.replay import run_replay
from kinestream.commands.simulate import simulate, write_trial
from kinestream.connectors.jpeg import encode_jpeg
from kinestream.connectors.recording import RecordingParams, RecordingWriter
from kinestream.events import AnalysisEvent, frame_updates
from kinestream.flows.analysis import FlowSettings, build_flow
from kinestream.sports import Sport
from tests.commands.simulated_clock import SimulatedClock
from tests.kafka_topics import TopicFactory, fresh_topics, read_topic, use_topics
from tests.synthetic_video import render

TIME_METRICS = frozenset({"takeoff_time_s", "landing_time_s", "drop_time_s"})


@pytest.fixture
def topics(topic_factory: TopicFactory, monkeypatch: pytest.MonkeyPatch) -> wire.Topics:
    topics = fresh_topics(topic_factory)
    use_topics(monkeypatch, topics)
    return topics


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def comparable(event: AnalysisEvent) -> tuple[Any, ...]:
    """An event without what depends on how it was produced (stream id, position)."""
    payload = dict(event.payload)
    payload.pop("reason", None)  # "end_of_input" in analyze, "end" in the dataflow
    return (event.event_type, event.seq, event.index, event.capture_time_s, payload)


@pytest.mark.parametrize("sport", [Sport.CMJ, Sport.DROP_JUMP])
def test_the_dataflow_reports_what_analyze_reports(
    sport: Sport,
    tmp_path: Path,
    kafka_bootstrap: str,
    topics: wire.Topics,
    capsys: pytest.CaptureFixture[str],
) -> None:
    recording = tmp_path / "session.arrow"
    trial = simulate(sport, reps=2, fps=60.0, seed=7)
    write_trial(trial, recording, "sim")
    status, out, err = run(["analyze", str(recording), "--json", "-", "--all-events"], capsys)
    assert status == 0, out + err
    reference = [AnalysisEvent.from_json(line) for line in out.splitlines()]
    reference_reps = [e for e in reference if e.event_type == "rep_complete"]
    assert len(reference_reps) == 2

    ran: list[tuple[float, float]] = []
    for extra in (["--stream-id", "kept", "--keep-timestamps"], ["--stream-id", "shifted"]):
        began = time.time()
        status, out, err = run(["replay", str(recording), "--fast", *extra], capsys)
        ran.append((began, time.time()))
        assert status == 0, out + err
    settings = FlowSettings(
        brokers=(kafka_bootstrap,), topics=topics, database_url=None, frames=False, tail=False
    )
    run_main(build_flow(settings))  # type: ignore[no-untyped-call]
    # The dataflow sends frames' values a few to an event: one event per frame again.
    events = [
        frame
        for m in read_topic(kafka_bootstrap, topics.events)
        for frame in frame_updates(wire.decode_event(m.key(), m.value()))
    ]
    kept = [e for e in events if e.stream_id == "kept"]
    shifted = [e for e in events if e.stream_id == "shifted"]

    # Recorded capture times: every event, metric and rep is identical (the dataflow also
    # says, once, that these times are not Unix times, which analyze does not care about).
    clock = [e for e in kept if e.payload.get("code") == "relative_clock"]
    assert len(clock) == 1
    kept = [e for e in kept if e not in clock]
    assert [comparable(e) for e in kept] == [comparable(e) for e in reference]
    assert kept[-1].payload["reason"] == "end"

    # Shifted to now: the same repetitions, their times moved by the shift.
    shift = shifted[0].capture_time_s - reference[0].capture_time_s
    began, ended = ran[1]  # the recording's start moved to when the replay started
    assert began - 1e-3 <= shift + trial.samples[0].timestamp_s <= ended + 1e-3
    reps = [e for e in shifted if e.event_type == "rep_complete"]
    for got, want in zip(reps, reference_reps, strict=True):
        assert got.capture_time_s - shift == pytest.approx(want.capture_time_s, abs=1e-6)
        metrics, expected = got.payload["metrics"], want.payload["metrics"]
        assert metrics.keys() == expected.keys()
        for name, value in expected.items():
            if isinstance(value, float):
                moved = shift if name in TIME_METRICS else 0.0
                tolerance = 1e-3 if name.endswith("_m_s") else 1e-4
                assert metrics[name] - moved == pytest.approx(value, abs=tolerance), name
            else:
                assert metrics[name] == value, name
        quality = got.payload["quality"]
        assert quality["warnings"] == want.payload["quality"]["warnings"]
        assert quality["confidence"] == want.payload["quality"]["confidence"]
    assert shifted[-1].payload["reps"] == 2


def test_pace_and_speed(
    tmp_path: Path, kafka_bootstrap: str, topics: wire.Topics, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = simulate(Sport.CMJ, reps=1, fps=60.0, seed=1).samples[:31]  # 0.5 s
    path = tmp_path / "short.arrow"
    with RecordingWriter(path, RecordingParams("short", Sport.CMJ, 1.8, fps=60.0)) as writer:
        for sample in samples:
            writer.write(sample)
    recorded = samples[30].timestamp_s - samples[0].timestamp_s
    ran: dict[str, tuple[float, float]] = {}
    for speed in ("1", "4"):
        clock = SimulatedClock()
        argv = ["replay", str(path), "--speed", speed, "--stream-id", f"x{speed}"]
        began = time.time()
        status = run_replay(build_parser().parse_args(argv), clock.pace_clock)
        ran[speed] = (began, time.time())
        out, err = capsys.readouterr()
        assert status == 0, out + err
        assert f"at {speed}x the recorded pace" in out, out
        assert "31 pose packets (seq 0-30) delivered" in out, out
        # Each packet was held back to the recorded spacing divided by the speed.
        steps = [b.timestamp_s - a.timestamp_s for a, b in pairwise(samples)]
        assert clock.sleeps == pytest.approx([step / float(speed) for step in steps], abs=1e-6)
        assert sum(clock.sleeps) == pytest.approx(recorded / float(speed), abs=1e-6)
    sent = {
        stream: [
            wire.decode_pose(m.key(), m.value(), m.headers())
            for m in read_topic(kafka_bootstrap, topics.poses)
            if m.key() == stream.encode()
        ]
        for stream in ("x1", "x4")
    }
    assert [len(poses) for poses in sent.values()] == [31, 31]
    # Each replay is stamped with the time it ran, at the recorded spacing, whatever speed.
    for speed, poses in zip(("1", "4"), sent.values(), strict=True):
        began, ended = ran[speed]
        assert began <= poses[0].timestamp_s <= ended, (ran, poses[0])
        assert poses[30].timestamp_s - poses[0].timestamp_s == pytest.approx(recorded, abs=1e-6)


def test_frames_replay_sends_the_recorded_jpegs(
    tmp_path: Path, kafka_bootstrap: str, topics: wire.Topics, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = simulate(Sport.CMJ, reps=1, fps=30.0, seed=1).samples[:6]
    path = tmp_path / "frames.arrow"
    jpegs = [encode_jpeg(render(s, 96, 54)[:, :, ::-1].copy()) for s in samples]
    params = RecordingParams("cam", Sport.CMJ, 1.8, fps=30.0)
    with RecordingWriter(path, params, jpeg=True) as writer:
        for sample, jpeg in zip(samples, jpegs, strict=True):
            writer.write(sample, jpeg if sample.seq != 2 else None)  # row 2 kept no JPEG
    argv = ["replay", str(path), "--frames", "--fast", "--stream-id", "again"]
    status, out, err = run(argv, capsys)
    assert status == 0, out + err
    frames = [
        wire.decode_frame(m.key(), m.value(), m.headers())
        for m in read_topic(kafka_bootstrap, topics.frames)
    ]
    assert [f.seq for f in frames] == [0, 1, 3, 4, 5]
    assert [f.jpeg for f in frames] == [jpegs[i] for i in (0, 1, 3, 4, 5)]
    assert {(f.stream_id, f.fps, f.width, f.height) for f in frames} == {
        ("again", 30.0, 1920, 1080)
    }
    assert read_topic(kafka_bootstrap, topics.poses) == []
    control = [
        wire.decode_control(m.key(), m.value()) for m in read_topic(kafka_bootstrap, topics.control)
    ]
    assert control[-1] == wire.EndMessage("again", 5)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--frames"], "keeps no JPEGs"),
        (["--speed", "0"], "--speed"),
        (["--sport", "drop_jump"], "needs the box height"),
    ],
)
def test_bad_arguments_exit_2(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.arrow"
    write_trial(simulate(Sport.CMJ, reps=1, fps=30.0, seed=0), path, "s")
    status, out, err = run(["replay", str(path), *extra, "--brokers", "127.0.0.1:1"], capsys)
    assert status == 2, out + err
    assert message in err


def test_a_recording_without_its_parameters_asks_for_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bare.arrow"
    with RecordingWriter(path, RecordingParams("bare")) as writer:
        writer.write(simulate(Sport.CMJ, reps=1, fps=30.0, seed=0).samples[0])
    status, out, err = run(["replay", str(path), "--brokers", "127.0.0.1:1"], capsys)
    assert status == 2, out + err
    assert "pass --sport" in err
    status, out, err = run(["replay", str(tmp_path / "none.arrow")], capsys)
    assert status == 2, out + err
    assert "no such recording" in err
