"""``kinestream publish`` on the real broker: a generated clip, as frames and as poses."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from kinestream import wire
from kinestream.cli import build_parser, main
from kinestream.commands.publish import run_publish
from kinestream.commands.simulate import simulate
from kinestream.connectors.jpeg import decode_jpeg
from kinestream.sports import Sport
from tests.commands.simulated_clock import SimulatedClock
from tests.kafka_topics import TopicFactory, fresh_topics, read_topic, use_topics
from tests.synthetic_video import write_clip

FPS = 30.0
FRAMES = 12
WIDTH, HEIGHT = 320, 180


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    samples = simulate(Sport.CMJ, reps=1, fps=FPS, seed=1).samples[:FRAMES]
    return write_clip(tmp_path / "athlete.mp4", samples, FPS, WIDTH, HEIGHT)


@pytest.fixture
def topics(topic_factory: TopicFactory, monkeypatch: pytest.MonkeyPatch) -> wire.Topics:
    topics = fresh_topics(topic_factory)
    use_topics(monkeypatch, topics)
    return topics


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def test_frames_go_out_at_capture_pace_downscaled_between_start_and_end(
    clip: Path, kafka_bootstrap: str, topics: wire.Topics, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["publish", str(clip), "--sport", "cmj", "--athlete-height", "1.8"]
    argv += ["--max-dimension", "160", "--brokers", kafka_bootstrap, "--athlete-id", "ath-1"]
    clock = SimulatedClock()
    began = time.time()
    status = run_publish(build_parser().parse_args(argv), clock.pace_clock)
    ended = time.time()
    out, err = capsys.readouterr()
    assert status == 0, out + err
    assert clock.sleeps == pytest.approx([1 / FPS] * (FRAMES - 1), abs=1e-3)  # capture pace
    stream_id = out.split("as stream ", 1)[1].split()[0]
    assert uuid.UUID(stream_id).version == 4  # a fresh id, told to the user
    assert f"{FRAMES} frames (seq 0-{FRAMES - 1}) delivered" in out

    frames = [
        wire.decode_frame(m.key(), m.value(), m.headers())
        for m in read_topic(kafka_bootstrap, topics.frames)
    ]
    assert [f.seq for f in frames] == list(range(FRAMES))
    assert {(f.stream_id, f.width, f.height, f.fps) for f in frames} == {(stream_id, 160, 90, FPS)}
    assert decode_jpeg(frames[5].jpeg).shape == (90, 160, 3)
    times = np.array([f.timestamp_s for f in frames])
    assert began <= times[0] <= ended  # Unix capture times, from when it ran
    np.testing.assert_allclose(np.diff(times), 1 / FPS, atol=1e-3)
    control = [
        wire.decode_control(m.key(), m.value()) for m in read_topic(kafka_bootstrap, topics.control)
    ]
    start, end = control
    assert isinstance(start, wire.StartMessage)
    assert (start.stream_id, start.sport, start.athlete_height_m) == (stream_id, Sport.CMJ, 1.8)
    assert start.athlete_id == "ath-1"
    assert end == wire.EndMessage(stream_id, FRAMES - 1)


def test_pose_local_publishes_pose_packets_only(
    clip: Path, kafka_bootstrap: str, topics: wire.Topics, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["publish", str(clip), "--sport", "squat_jump", "--athlete-height", "1.7"]
    argv += ["--pose-local", "--fast", "--max-frames", "6", "--stream-id", "local-1"]
    status, out, err = run([*argv, "--brokers", kafka_bootstrap], capsys)
    assert status == 0, out + err
    assert "6 pose packets (seq 0-5) delivered" in out
    poses = [
        wire.decode_pose(m.key(), m.value(), m.headers())
        for m in read_topic(kafka_bootstrap, topics.poses)
    ]
    assert [p.seq for p in poses] == list(range(6))
    assert {(p.image_width, p.image_height) for p in poses} == {(WIDTH, HEIGHT)}
    assert {m.key() for m in read_topic(kafka_bootstrap, topics.poses)} == {b"local-1"}
    assert read_topic(kafka_bootstrap, topics.frames) == []


def test_an_unreachable_broker_is_reported_and_nothing_is_read(
    clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["publish", str(clip), "--sport", "cmj", "--athlete-height", "1.8"]
    statuses: list[int] = []
    publishing = threading.Thread(
        target=lambda: statuses.append(
            main([*argv, "--brokers", "127.0.0.1:1", "--timeout-s", "1"])
        ),
        daemon=True,
    )
    publishing.start()
    publishing.join(timeout=120)  # a hang guard, not a speed check
    assert not publishing.is_alive(), "publish never gave up on the unreachable broker"
    out, err = capsys.readouterr()
    assert statuses == [1], out + err
    assert "did not take the start message" in err
    assert "nothing was published" in err


@pytest.fixture
def picky_topics(kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[wire.Topics]:
    """A frames topic that refuses messages over 4000 bytes; found through --topic-prefix."""
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    topics = wire.Topics.prefixed(f"test_picky_{uuid.uuid4().hex[:8]}.")
    new = [
        NewTopic(topics.frames, 1, 1, config={"max.message.bytes": "4000"}),
        NewTopic(topics.control, 1, 1),
    ]
    for future in admin.create_topics(new, operation_timeout=30).values():
        future.result(timeout=30)
    yield topics
    for future in admin.delete_topics([topics.frames, topics.control]).values():
        future.result(timeout=30)


def test_failed_deliveries_are_reported_with_the_frames_that_made_it(
    tmp_path: Path,
    kafka_bootstrap: str,
    picky_topics: wire.Topics,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Four plain frames (small JPEGs), then noise (JPEGs far over the topic's limit).
    path = tmp_path / "noisy.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    rng = np.random.default_rng(0)
    for i in range(10):
        plain = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
        writer.write(plain if i < 4 else rng.integers(0, 256, plain.shape, dtype=np.uint8))
    writer.release()
    prefix = picky_topics.frames.removesuffix(wire.DEFAULT_FRAMES_TOPIC)
    argv = ["publish", str(path), "--sport", "cmj", "--athlete-height", "1.8", "--stream-id", "s"]
    argv += ["--brokers", kafka_bootstrap, "--topic-prefix", prefix, "--jpeg-quality", "95"]
    status, out, err = run(argv, capsys)
    assert status == 1, out + err
    assert "delivery failed for stream s (Broker: Message size too large)" in err
    assert "4 of " in err
    assert "failed: seq 4" in err
    assert "without an end message" in err
    delivered = read_topic(kafka_bootstrap, picky_topics.frames)
    assert [wire.decode_frame(m.key(), m.value(), m.headers()).seq for m in delivered] == [
        0,
        1,
        2,
        3,
    ]
    control = [
        wire.decode_control(m.key(), m.value())
        for m in read_topic(kafka_bootstrap, picky_topics.control)
    ]
    assert [type(c) for c in control] == [wire.StartMessage]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sport", "drop_jump"], "needs the box height"),
        (["--box-height", "0.3"], "drop jumps only"),
        (["--jpeg-quality", "0"], "--jpeg-quality"),
        (["--max-dimension", "8"], "--max-dimension"),
        (["--athlete-height", "4"], "athlete height"),
    ],
)
def test_bad_arguments_exit_2_with_a_reason(
    clip: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["publish", str(clip), "--sport", "cmj", "--athlete-height", "1.8", *extra]
    status, out, err = run([*argv, "--brokers", "127.0.0.1:1"], capsys)
    assert status == 2, out + err
    assert message in err


def test_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["publish", str(tmp_path / "none.mp4"), "--sport", "cmj", "--athlete-height", "1.8"]
    status, out, err = run(argv, capsys)
    assert status == 2, out + err
    assert "no such video file" in err
