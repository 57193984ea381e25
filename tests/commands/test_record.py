"""``kinestream record`` on the real broker: a stream picked out of others into a recording."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Producer

from kinestream import wire
from kinestream.cli import main
from kinestream.commands.record import END_GRACE_S, PENDING_LIMIT, Recorder
from kinestream.commands.simulate import simulate, write_trial
from kinestream.connectors.jpeg import encode_jpeg
from kinestream.connectors.recording import read_recording
from kinestream.operators.pose import PoseSample
from kinestream.sports import Sport
from tests.kafka_topics import TopicFactory, fresh_topics, use_topics
from tests.synthetic_video import render

REPO = Path(__file__).resolve().parents[2]
FPS = 60.0


@pytest.fixture
def topics(topic_factory: TopicFactory, monkeypatch: pytest.MonkeyPatch) -> wire.Topics:
    topics = fresh_topics(topic_factory)
    use_topics(monkeypatch, topics)
    return topics


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def wire_samples(samples: list[PoseSample]) -> list[PoseSample]:
    """The samples as they come off the wire (float32 landmarks)."""
    return [wire.decode_pose_value(wire.encode_pose_value(s)) for s in samples]


def assert_same_samples(got: list[PoseSample], want: list[PoseSample]) -> None:
    assert [s.seq for s in got] == [s.seq for s in want]
    assert [s.timestamp_s for s in got] == [s.timestamp_s for s in want]
    for a, b in zip(got, want, strict=True):
        assert (a.image_width, a.image_height) == (b.image_width, b.image_height)
        if b.landmarks is None:
            assert a.landmarks is None
        else:
            np.testing.assert_array_equal(np.asarray(a.landmarks), b.landmarks)


def test_a_backlog_stream_is_recorded_exactly_even_with_its_start_after_its_poses(
    tmp_path: Path, kafka_bootstrap: str, topics: wire.Topics, capsys: pytest.CaptureFixture[str]
) -> None:
    athlete = wire_samples(simulate(Sport.CMJ, reps=1, fps=FPS, seed=2).samples)
    other = wire_samples(simulate(Sport.CMJ, reps=1, fps=FPS, seed=3).samples)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 5})
    for i in range(max(len(athlete), len(other))):  # two streams, interleaved
        for stream, samples in (("mine", athlete), ("theirs", other)):
            if i < len(samples):
                key, value, headers = wire.encode_pose(stream, samples[i], FPS)
                producer.produce(topics.poses, value, key, headers=list(headers))
    for message in (
        wire.StartMessage("theirs", Sport.SQUAT_JUMP, 1.6),
        wire.StartMessage("mine", Sport.CMJ, 1.84, athlete_id="a-1"),
        wire.EndMessage("mine", athlete[-1].seq),
    ):
        key, value = wire.encode_control(message)
        producer.produce(topics.control, value, key)
    assert producer.flush(30) == 0

    out_path = tmp_path / "mine.arrow"
    argv = ["record", "--stream-id", "mine", "--from-beginning", str(out_path)]
    status, out, err = run([*argv, "--brokers", kafka_bootstrap], capsys)
    assert status == 0, out + err
    assert f"{len(athlete)} frames (seq 0-{athlete[-1].seq}), cmj, athlete 1.84 m, 60 fps" in out
    assert "ended by its end message" in out
    recording = read_recording(out_path)
    assert (recording.params.stream_id, recording.params.sport) == ("mine", Sport.CMJ)
    assert (recording.params.athlete_height_m, recording.params.fps) == (1.84, FPS)
    assert not recording.has_jpeg
    assert_same_samples(list(recording), athlete)


def test_live_round_trip_with_replay(
    tmp_path: Path, kafka_bootstrap: str, topics: wire.Topics, capsys: pytest.CaptureFixture[str]
) -> None:
    trial = simulate(Sport.DROP_JUMP, reps=1, fps=FPS, seed=4)
    source = tmp_path / "source.arrow"
    write_trial(trial, source, "sim")
    recorded = tmp_path / "recorded.arrow"
    recorder = subprocess.Popen(
        [sys.executable, "-m", "kinestream.cli", "record", str(recorded), "--stream-id", "live"],
        cwd=REPO,
        env={**os.environ, "KINESTREAM_KAFKA": kafka_bootstrap},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert recorder.stderr is not None
        assert "from now on" in recorder.stderr.readline()  # listening: publish now
        began = time.time()
        status, out, err = run(["replay", str(source), "--fast", "--stream-id", "live"], capsys)
        ended = time.time()
        assert status == 0, out + err
        out, err = recorder.communicate(timeout=60)
    finally:
        recorder.kill()
    assert recorder.returncode == 0, out + err
    assert "ended by its end message" in out

    got = read_recording(recorded)
    want = wire_samples(trial.samples)
    assert got.params.sport == Sport.DROP_JUMP
    assert (got.params.athlete_height_m, got.params.box_height_m) == (1.80, 0.40)
    assert got.params.fps == FPS
    samples = list(got)
    # Replay shifted the capture times to the time it ran; the spacing is the recorded one.
    shift = samples[0].timestamp_s - want[0].timestamp_s
    assert began - 1e-3 <= shift + want[0].timestamp_s <= ended + 1e-3  # when replay started
    np.testing.assert_allclose(
        [s.timestamp_s - shift for s in samples], [s.timestamp_s for s in want], atol=1e-6
    )
    assert_same_samples(
        [
            PoseSample(s.seq, w.timestamp_s, s.image_width, s.image_height, s.landmarks, s.world)
            for s, w in zip(samples, want, strict=True)
        ],
        want,
    )


def test_a_frames_stream_keeps_its_jpegs(
    tmp_path: Path, kafka_bootstrap: str, topics: wire.Topics, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = simulate(Sport.CMJ, reps=1, fps=30.0, seed=1).samples[:5]
    frames = []
    for s in samples:
        jpeg = encode_jpeg(render(s, 160, 90)[:, :, ::-1].copy())
        frames.append(wire.Frame("cam", s.seq, 1000.0 + s.timestamp_s, 30.0, 160, 90, jpeg))
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    key, value = wire.encode_control(wire.StartMessage("cam", Sport.CMJ, 1.8))
    producer.produce(topics.control, value, key)
    for frame in frames:
        key, value, headers = wire.encode_frame(frame)
        producer.produce(topics.frames, value, key, headers=list(headers))
    key, value = wire.encode_control(wire.EndMessage("cam", frames[-1].seq))
    producer.produce(topics.control, value, key)
    assert producer.flush(30) == 0

    out_path = tmp_path / "cam.arrow"
    argv = ["record", "--stream-id", "cam", "--from-beginning", "--frames", "--estimate-poses"]
    status, out, err = run([*argv, str(out_path), "--brokers", kafka_bootstrap], capsys)
    assert status == 0, out + err
    assert "with JPEGs and estimated poses" in out
    recording = read_recording(out_path)
    assert recording.has_jpeg
    assert recording.params.fps == 30.0
    rows = list(recording.frames())
    assert [jpeg for _, jpeg in rows] == [f.jpeg for f in frames]
    assert [(s.seq, s.timestamp_s) for s, _ in rows] == [(f.seq, f.timestamp_s) for f in frames]
    assert {(s.image_width, s.image_height) for s, _ in rows} == {(160, 90)}


def test_a_poses_recording_of_a_frames_stream_says_what_to_do(
    tmp_path: Path, kafka_bootstrap: str, topics: wire.Topics, capsys: pytest.CaptureFixture[str]
) -> None:
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    key, value = wire.encode_control(wire.StartMessage("cam", Sport.CMJ, 1.8))
    producer.produce(topics.control, value, key)
    assert producer.flush(30) == 0
    out_path = tmp_path / "none.arrow"
    argv = ["record", "--stream-id", "cam", "--from-beginning", "--idle-timeout-s", "1"]
    status, out, err = run([*argv, str(out_path), "--brokers", kafka_bootstrap], capsys)
    assert status == 1, out + err
    assert "nothing recorded: no pose packets of stream cam" in err
    assert "record it with --frames" in err
    assert not out_path.exists()


def test_a_stream_without_start_is_recorded_without_parameters(
    tmp_path: Path, kafka_bootstrap: str, topics: wire.Topics, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = wire_samples(simulate(Sport.CMJ, reps=1, fps=FPS, seed=5).samples[:40])
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for sample in samples:
        key, value, headers = wire.encode_pose("headless", sample, FPS)
        producer.produce(topics.poses, value, key, headers=list(headers))
    assert producer.flush(30) == 0
    out_path = tmp_path / "headless.arrow"
    argv = ["record", "--stream-id", "headless", "--from-beginning", "--idle-timeout-s", "1"]
    status, out, err = run([*argv, str(out_path), "--brokers", kafka_bootstrap], capsys)
    assert status == 0, out + err
    assert "sent no start message" in err
    assert "40 frames" in out
    assert "ended by 1 s without a message" in out
    recording = read_recording(out_path)
    assert recording.params.sport is None
    assert recording.params.athlete_height_m is None
    assert_same_samples(list(recording), samples)


def test_estimate_poses_needs_frames(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["record", "--stream-id", "x", "--estimate-poses", str(tmp_path / "x.arrow")]
    status, out, err = run(argv, capsys)
    assert status == 2, out + err
    assert "--estimate-poses goes with --frames" in err


def test_an_unreachable_broker_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["record", "--stream-id", "x", str(tmp_path / "x.arrow"), "--brokers", "127.0.0.1:1"]
    status, out, err = run([*argv, "--timeout-s", "1"], capsys)
    assert status == 1, out + err
    assert "cannot reach Kafka at 127.0.0.1:1" in err


def test_rows_before_the_start_wait_for_it_and_repeats_are_skipped(tmp_path: Path) -> None:
    samples = wire_samples(simulate(Sport.CMJ, reps=1, fps=FPS, seed=6).samples)
    path = tmp_path / "r.arrow"
    recorder = Recorder(path, "r")
    for sample in samples[:PENDING_LIMIT]:
        recorder.add(sample, 0.0)
    assert recorder.waiting_for_start
    assert not recorder.opened
    recorder.add(wire.StartMessage("r", Sport.CMJ, 1.7), 0.0)
    assert recorder.opened
    for sample in samples[PENDING_LIMIT:]:
        recorder.add(sample, 1.0)
    recorder.add(samples[10], 1.0)  # a redelivery
    recorder.add(wire.EndMessage("r", samples[-1].seq + 5), 1.0)  # its last frames are lost
    assert recorder.finished(1.0 + END_GRACE_S / 2, idle_timeout_s=30.0) is None
    assert recorder.finished(1.0 + END_GRACE_S, idle_timeout_s=30.0) == "end"
    recorder.close()
    assert recorder.duplicates == 1
    recording = read_recording(path)
    assert (recording.params.sport, recording.params.athlete_height_m) == (Sport.CMJ, 1.7)
    assert_same_samples(list(recording), samples)


def test_silence_ends_the_recording_after_the_idle_timeout(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "idle.arrow", "idle")
    recorder.add(wire.StartMessage("idle", Sport.CMJ, 1.7), 5.0)
    assert recorder.finished(5.0 + 9.9, idle_timeout_s=10.0) is None
    assert recorder.finished(5.0 + 10.0, idle_timeout_s=10.0) == "idle"
    recorder.close()
    assert not (tmp_path / "idle.arrow").exists()  # no rows, no file
