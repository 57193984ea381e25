"""Benchmark of the flow in frames mode: MediaPipe inside the dataflow (figures, not a test).

The first ``--frames`` frames of the real demo clip (examples/footage/sports2d_demo.mp4),
downscaled to 1280 px and JPEG-encoded as a producer sends them, go to a fresh frames
topic as ``--streams`` streams; one ``kinestream flow --pose mediapipe`` process (frames
mode with a MediaPipe graph per stream, one worker) analyses them, every frame (the default
ONNX stage's figures are bench_frames_memory's). Figures: the flow's analysed frames/s
(from the first produce to the last frame's values on the events topic, after a warm-up),
and a bare loop over the same JPEGs (decode + MediaPipe Pose, one estimator per stream, in
this process), run twice: as it is, and with the camera-motion step that frames mode runs
on every frame (:class:`~kinestream.operators.camera_motion.CameraMotion`, one per stream),
the ratio's base: the flow's own overhead is measured against the same per-frame work;
target ≥ 0.9.

    KINESTREAM_KAFKA=127.0.0.1:9092 .venv/bin/python bench/bench_frames.py [--frames 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Final

import cv2
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from kinestream import wire
from kinestream.connectors.jpeg import decode_jpeg
from kinestream.connectors.video import read_frames
from kinestream.events import frame_updates
from kinestream.operators.camera_motion import CameraMotion
from kinestream.operators.mediapipe_pose import MediaPipePoseEstimator
from kinestream.operators.metric_batches import METRIC_INTERVAL_S
from kinestream.sports import Sport

REPO: Final = Path(__file__).resolve().parents[1]
DEMO_CLIP: Final = REPO / "examples" / "footage" / "sports2d_demo.mp4"
TARGET_RATIO: Final = 0.9


def encoded_frames(count: int, quality: int) -> list[wire.Frame]:
    """The clip's first ``count`` frames as a producer sends them (stream id set later)."""
    out = []
    for seq, timestamp_s, rgb in read_frames(DEMO_CLIP.resolve(), 1280, limit=count):
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        height, width = rgb.shape[:2]
        out.append(wire.Frame("", seq, timestamp_s, 30.0, width, height, jpeg.tobytes()))
    return out


def bare_loop_fps(frames: list[wire.Frame], streams: int, camera: bool) -> float:
    """Frames/s of decode + MediaPipe (+ the camera-motion step with ``camera``) over the
    same JPEGs, one estimator per stream."""
    estimators = [MediaPipePoseEstimator() for _ in range(streams)]
    cameras = [CameraMotion() for _ in range(streams)]
    try:
        for estimator in estimators:  # build each graph's runtime before timing
            estimator.estimate(decode_jpeg(frames[0].jpeg), 0, 0.0)
        started = time.perf_counter()
        for frame in frames[1:]:
            for estimator, motion in zip(estimators, cameras, strict=True):
                rgb = decode_jpeg(frame.jpeg)
                sample = estimator.estimate(rgb, frame.seq, frame.timestamp_s)
                if camera:
                    motion.steady(rgb, sample)
        return (len(frames) - 1) * streams / (time.perf_counter() - started)
    finally:
        for estimator in estimators:
            estimator.close()


def flow_fps(brokers: str, frames: list[wire.Frame], streams: int, log: Path) -> float:
    """Frames/s of one ``kinestream flow`` process (frames mode) over the same frames.

    The flow is started and warmed up first (each stream's first frames build its
    estimator); then the rest is produced as fast as possible, and the rate is the frames
    analysed over the time from the first produce to the last frame's values.
    """
    topics = wire.Topics.prefixed(f"bench-frames-{uuid.uuid4().hex[:8]}.")
    admin = AdminClient({"bootstrap.servers": brokers})
    names = [topics.frames, topics.poses, topics.control, topics.events, topics.webhooks]
    for future in admin.create_topics([NewTopic(n, 4, 1) for n in names]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 2})
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"bench-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topics.events])
    env = {
        **{k: v for k, v in os.environ.items() if k != "KINESTREAM_DATABASE_URL"},
        "KINESTREAM_KAFKA": brokers,
        "KINESTREAM_TOPIC_FRAMES": topics.frames,
        "KINESTREAM_TOPIC_POSES": topics.poses,
        "KINESTREAM_TOPIC_CONTROL": topics.control,
        "KINESTREAM_TOPIC_EVENTS": topics.events,
        "KINESTREAM_TOPIC_WEBHOOKS": topics.webhooks,
    }
    with log.open("ab") as out:
        flow = subprocess.Popen(
            [sys.executable, "-m", "kinestream.cli", "flow", "--pose", "mediapipe"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    ids = [f"frames-{i}" for i in range(streams)]

    def send(part: list[wire.Frame]) -> None:
        for frame in part:
            for sid in ids:
                key, value, headers = wire.encode_frame(dataclasses.replace(frame, stream_id=sid))
                producer.produce(topics.frames, value, key, headers=list(headers))
                producer.poll(0)
        producer.flush(60)

    seen = 0
    ended = 0

    def wait_for(count: int, timeout_s: float, *, until_ended: bool = False) -> float:
        """Wait until ``count`` frames' values arrived in all (or, ``until_ended``, every
        stream's summary: frames the analysis set aside, such as another person's, have no
        values); when the last came."""
        nonlocal seen, ended
        last = 0.0
        deadline = time.time() + timeout_s

        def done() -> bool:
            return seen >= count or (until_ended and ended >= streams)

        while not done() and time.time() < deadline:
            first = consumer.poll(0.1)  # consume() would wait for its whole count
            for msg in (first, *consumer.consume(1000, timeout=0)) if first else ():
                headers = dict(msg.headers() or []) if msg.error() is None else {}
                kind = headers.get(wire.HEADER_EVENT_TYPE)
                if kind in (b"metric_update", b"metric_updates"):
                    seen += len(frame_updates(wire.decode_event(msg.key(), msg.value())))
                    last = time.time()
                elif kind == b"session_summary":
                    ended += 1
                    last = time.time()
        if not done():
            raise RuntimeError(f"the flow analysed {seen} of {count} frames; see {log}")
        return last

    # A stream's last few frames wait for the next one (an open batch of metric_updates):
    # the warm-up waits for the others, the run ends the streams to have them all.
    warmup, held = 6, math.ceil(METRIC_INTERVAL_S * 30.0) + 1
    try:
        for sid in ids:
            key, value = wire.encode_control(wire.StartMessage(sid, Sport.CMJ, 1.75))
            producer.produce(topics.control, value, key)
        send(frames[:warmup])
        wait_for((warmup - held) * streams, 120)
        started = time.time()
        send(frames[warmup:])
        for sid in ids:
            key, value = wire.encode_control(wire.EndMessage(sid, frames[-1].seq))
            producer.produce(topics.control, value, key)
        producer.flush(60)
        last = wait_for(len(frames) * streams, 60 + len(frames) * streams * 0.1, until_ended=True)
    finally:
        flow.kill()
        flow.wait()
        consumer.close()
    return (len(frames) - warmup) * streams / (last - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--brokers", default=os.environ.get("KINESTREAM_KAFKA", "127.0.0.1:9092"))
    parser.add_argument("--frames", type=int, default=200, help="frames of the clip (max 230)")
    parser.add_argument("--streams", type=int, default=2, help="streams sending those frames")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality")
    parser.add_argument("--log", type=Path, default=Path("/tmp/kinestream-bench-frames.log"))
    args = parser.parse_args()
    print(f"cpus={os.cpu_count()} python={sys.version.split()[0]}", flush=True)
    frames = encoded_frames(args.frames, args.quality)
    size_kib = sum(len(f.jpeg) for f in frames) / len(frames) / 1024
    print(
        f"{len(frames)} frames {frames[0].width}x{frames[0].height}, JPEG q{args.quality} "
        f"{size_kib:.0f} KiB/frame, {args.streams} streams",
        flush=True,
    )
    bare = bare_loop_fps(frames, args.streams, camera=False)
    steadied = bare_loop_fps(frames, args.streams, camera=True)
    flow = flow_fps(args.brokers, frames, args.streams, args.log)
    print(
        f"bare MediaPipe loop {bare:6.1f} frames/s, with the camera-motion step "
        f"{steadied:6.1f}; flow {flow:6.1f} frames/s; ratio {flow / steadied:.2f} to the loop "
        f"with the camera-motion step (target >= {TARGET_RATIO}), {flow / bare:.2f} to the "
        "loop without",
        flush=True,
    )


if __name__ == "__main__":
    main()
