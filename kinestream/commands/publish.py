"""``kinestream publish``: a video file or a camera, published to Kafka as one stream.

Each frame is downscaled (long side at most ``--max-dimension``), JPEG-encoded and sent to
the frames topic (:func:`kinestream.wire.encode_frame`), keyed by the stream id, after the
stream's start message and before its end message (:mod:`kinestream.commands.sending`). With
``--pose-local`` MediaPipe Pose runs here instead and pose packets go to the poses topic
(:func:`kinestream.wire.encode_pose`): less bandwidth, and the dataflow does no inference.

Capture timestamps on the wire are Unix seconds: the time the source was opened plus the
frame's time in the source (container time for a file, time since opening for a camera).
A file is sent at its capture pace unless ``--fast``; a camera is at capture pace anyway.

Exit status 0 when every message was delivered, 1 when Kafka did not take them (the
report says how many frames were delivered and which failed) or MediaPipe cannot run, 2 on
bad arguments or a source that cannot be opened, 130 when interrupted (the end message is
still sent).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from functools import partial
from pathlib import Path

from kinestream import wire
from kinestream.commands.analyze import stream_config
from kinestream.commands.errors import EstimatorError, InputError, run_reporting
from kinestream.commands.kafka_options import add_kafka_options, topics_of
from kinestream.commands.pacing import SYSTEM_CLOCK, PaceClock, Pacer
from kinestream.commands.progress import ProgressBar
from kinestream.commands.sending import Outgoing, report_outcome, send_stream
from kinestream.commands.session_options import add_session_options
from kinestream.connectors.jpeg import DEFAULT_JPEG_QUALITY, encode_jpeg
from kinestream.connectors.stream_publisher import StreamPublisher
from kinestream.connectors.video import DEFAULT_MAX_DIMENSION, VideoReader
from kinestream.operators.camera_motion import CameraMotion
from kinestream.operators.pose import PoseEstimator

COMMAND = "kinestream publish"


def add_publish_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``kinestream publish``."""
    parser = sub.add_parser(
        "publish",
        help="publish a video file or a camera to Kafka as one stream",
        description=(
            "Publish a video file or a camera (an integer index) to Kafka as one stream: "
            "its start message, JPEG frames (or, with --pose-local, pose packets estimated "
            "here), and its end message. Capture times are Unix seconds: when the source was "
            "opened plus each frame's time in it. A file goes at its own pace unless --fast."
        ),
    )
    parser.add_argument("source", metavar="SOURCE", help="video file, or camera index (0, 1…)")
    parser.add_argument(
        "--stream-id", default=None, help="the stream's id (default: a fresh random UUID)"
    )
    add_session_options(parser, from_recording=False)
    parser.add_argument("--athlete-id", default=None, help="the athlete, for the outputs")
    parser.add_argument(
        "--pose-local",
        action="store_true",
        help="run MediaPipe Pose here and publish pose packets instead of frames",
    )
    parser.add_argument(
        "--fast", action="store_true", help="a file: send as fast as possible, not at its pace"
    )
    parser.add_argument(
        "--max-dimension",
        type=int,
        default=DEFAULT_MAX_DIMENSION,
        metavar="PX",
        help=f"shrink frames so their long side is at most PX (default {DEFAULT_MAX_DIMENSION})",
    )
    parser.add_argument(
        "--jpeg-quality",
        type=int,
        default=DEFAULT_JPEG_QUALITY,
        metavar="Q",
        help=f"JPEG quality 1-100 (default {DEFAULT_JPEG_QUALITY})",
    )
    parser.add_argument(
        "--max-frames", type=int, default=None, metavar="N", help="stop after N frames"
    )
    add_kafka_options(
        parser,
        timeout_s=30.0,
        timeout_help="give up on a message the broker has not acknowledged after S seconds",
    )
    parser.set_defaults(handler=run_publish)


def run_publish(args: argparse.Namespace, clock: PaceClock = SYSTEM_CLOCK) -> int:
    """Handle ``kinestream publish``, paced by ``clock``; return the exit status."""
    return run_reporting(COMMAND, partial(_publish, clock=clock), args)


def _source(text: str) -> int | Path:
    if text.isdigit():
        return int(text)
    path = Path(text)
    if not path.is_file():
        raise InputError(f"no such video file: {path}")
    return path


def _check_numbers(args: argparse.Namespace) -> None:
    if args.max_dimension < 16:
        raise InputError("--max-dimension must be at least 16 pixels")
    if not 1 <= args.jpeg_quality <= 100:
        raise InputError("--jpeg-quality must be between 1 and 100")
    if args.max_frames is not None and args.max_frames < 1:
        raise InputError("--max-frames must be at least 1")
    if args.stream_id is not None and not args.stream_id:
        raise InputError("--stream-id must not be empty")


def _publish(args: argparse.Namespace, clock: PaceClock) -> int:
    _check_numbers(args)
    source = _source(args.source)
    what = f"camera {source}" if isinstance(source, int) else f"video {source}"
    config = stream_config(what, None, args.sport, args.athlete_height, args.box_height)
    stream_id = args.stream_id or str(uuid.uuid4())
    topics = topics_of(args)
    with ExitStack() as stack:
        try:
            reader = stack.enter_context(VideoReader(source, args.max_dimension))
        except (OSError, ValueError) as exc:
            raise InputError(str(exc)) from exc
        estimator = _estimator(stack) if args.pose_local else None
        opened_at = time.time()
        start = wire.StartMessage(
            stream_id,
            config.sport,
            config.athlete_height_m,
            config.box_height_m,
            athlete_id=args.athlete_id,
            started_at_s=opened_at,
            belt_speed_m_s=args.belt_speed,
        )
        topic = topics.poses if estimator is not None else topics.frames
        kind = "pose packets" if estimator is not None else "frames"
        print(f"publishing {what} as stream {stream_id} ({kind} to {topic} on {args.brokers})")
        sys.stdout.flush()
        total = reader.frame_count
        if args.max_frames is not None:
            total = min(total, args.max_frames) if total is not None else args.max_frames
        messages = _messages(args, reader, estimator, stream_id, opened_at)
        publisher = StreamPublisher(args.brokers, topics, timeout_s=args.timeout_s)
        try:
            outcome = send_stream(
                publisher,
                start,
                messages,
                pacer=Pacer(math.inf if args.fast else 1.0, clock),
                fps=reader.fps,
                progress=ProgressBar(sys.stderr, total, enabled=sys.stderr.isatty()),
            )
        finally:
            publisher.close()
    return report_outcome(COMMAND, outcome, publisher, kind, topic)


def _estimator(stack: ExitStack) -> PoseEstimator:
    from kinestream.operators.mediapipe_pose import MediaPipePoseEstimator, PoseModelMissingError

    try:
        estimator = MediaPipePoseEstimator()
    except PoseModelMissingError as exc:
        raise EstimatorError(str(exc)) from exc
    stack.callback(estimator.close)
    return estimator


def _messages(
    args: argparse.Namespace,
    reader: VideoReader,
    estimator: PoseEstimator | None,
    stream_id: str,
    opened_at: float,
) -> Iterator[Outgoing]:
    """The source's frames as frame messages or pose samples, on Unix capture times; pose
    samples have the camera's motion taken out."""
    camera = CameraMotion()
    for seq, timestamp_s, rgb in reader:
        if args.max_frames is not None and seq >= args.max_frames:
            return
        capture_s = opened_at + timestamp_s
        if estimator is not None:
            sample = camera.steady(rgb, estimator.estimate(rgb, seq, timestamp_s))
            yield timestamp_s, replace(sample, timestamp_s=capture_s)
        else:
            height, width = rgb.shape[:2]
            jpeg = encode_jpeg(rgb, args.jpeg_quality)
            frame = wire.Frame(stream_id, seq, capture_s, reader.fps, width, height, jpeg)
            yield timestamp_s, frame
