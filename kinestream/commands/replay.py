"""``kinestream replay``: a recording published to Kafka again, as a new live stream.

The stream gets a new id (``--stream-id``, default a fresh UUID), its start message takes
the sport and heights from the recording's metadata unless the command line gives them,
then come the recording's pose packets (or, with ``--frames``, its JPEGs on the frames
topic; rows without one are skipped) and the end message naming the last frame. Sequence
numbers are the recording's.

Pace: the recording's own (default), ``--speed`` times it, or ``--fast`` (no waiting).

Capture timestamps are shifted so that the stream looks live: every frame keeps its
distance from the first one, and the first one is stamped with the time the replay
started (Unix seconds), whatever ``--speed``, so the analysis sees the recorded frame rate.
The shift rounds each timestamp to the resolution of a float64 near 1.7e9 s (2.4e-7 s), so
a time span the analysis compares with a threshold (the calibration window, a phase's
minimum length) can come out one frame longer or shorter: the repetitions stay the same,
their metrics can move by a few 1e-5 s or m. ``--keep-timestamps`` sends the recorded
timestamps unchanged: the dataflow then reports exactly what ``kinestream analyze``
reports for the recording, bit for bit (both read float32 landmarks).

Exit status 0 when everything was delivered, 1 when Kafka did not take it, 2 on bad input
or arguments, 130 when interrupted (the end message is still sent).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

from kinestream import wire
from kinestream.commands.analyze import stream_config
from kinestream.commands.errors import InputError, run_reporting
from kinestream.commands.kafka_options import add_kafka_options, topics_of
from kinestream.commands.pacing import SYSTEM_CLOCK, PaceClock, Pacer
from kinestream.commands.progress import ProgressBar
from kinestream.commands.sending import Outgoing, report_outcome, send_stream
from kinestream.commands.session_options import add_session_options
from kinestream.connectors.recording import Recording, RecordingError, read_recording
from kinestream.connectors.stream_publisher import StreamPublisher

COMMAND = "kinestream replay"


def add_replay_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``kinestream replay``."""
    parser = sub.add_parser(
        "replay",
        help="publish a recording to Kafka again, as a new live stream",
        description=(
            "Publish a recording (.arrow) to Kafka as a new stream: start message (from the "
            "recording's metadata unless given here), its pose packets (or --frames: its "
            "JPEGs) at the recorded pace, and the end message. Capture times are shifted to "
            "now unless --keep-timestamps."
        ),
    )
    parser.add_argument("recording", type=Path, metavar="FILE", help="recording (.arrow)")
    parser.add_argument(
        "--stream-id", default=None, help="the new stream's id (default: a fresh random UUID)"
    )
    add_session_options(parser, from_recording=True)
    parser.add_argument("--athlete-id", default=None, help="the athlete, for the outputs")
    parser.add_argument(
        "--frames",
        action="store_true",
        help="publish the recording's JPEGs to the frames topic instead of its poses",
    )
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="send X times faster than recorded (default 1)",
    )
    pace.add_argument("--fast", action="store_true", help="send as fast as possible")
    parser.add_argument(
        "--keep-timestamps",
        action="store_true",
        help="send the recorded capture times instead of shifting them to now",
    )
    add_kafka_options(
        parser,
        timeout_s=30.0,
        timeout_help="give up on a message the broker has not acknowledged after S seconds",
    )
    parser.set_defaults(handler=run_replay)


def run_replay(args: argparse.Namespace, clock: PaceClock = SYSTEM_CLOCK) -> int:
    """Handle ``kinestream replay``, paced by ``clock``; return the exit status."""
    return run_reporting(COMMAND, partial(_replay, clock=clock), args)


def _replay(args: argparse.Namespace, clock: PaceClock) -> int:
    if not (math.isfinite(args.speed) and args.speed > 0):
        raise InputError("--speed must be a positive number")
    if args.stream_id is not None and not args.stream_id:
        raise InputError("--stream-id must not be empty")
    try:
        recording = read_recording(args.recording)
    except (RecordingError, OSError) as exc:
        raise InputError(str(exc)) from exc
    if args.frames and not recording.has_jpeg:
        raise InputError(f"{args.recording} keeps no JPEGs: replay its poses (without --frames)")
    params = recording.params
    config = stream_config(
        f"recording {args.recording}", params, args.sport, args.athlete_height, args.box_height
    )
    stream_id = args.stream_id or str(uuid.uuid4())
    started_at = time.time()
    start = wire.StartMessage(
        stream_id,
        config.sport,
        config.athlete_height_m,
        config.box_height_m,
        athlete_id=args.athlete_id,
        started_at_s=started_at,
        belt_speed_m_s=args.belt_speed,
    )
    topics = topics_of(args)
    topic, kind = (topics.frames, "frames") if args.frames else (topics.poses, "pose packets")
    pace = "as fast as possible" if args.fast else f"at {args.speed:g}x the recorded pace"
    print(f"replaying {args.recording} as stream {stream_id} ({kind} to {topic}, {pace})")
    sys.stdout.flush()
    fps = params.fps or 0.0
    messages = _messages(recording, stream_id, fps, args.frames, args.keep_timestamps, started_at)
    publisher = StreamPublisher(args.brokers, topics, timeout_s=args.timeout_s)
    try:
        outcome = send_stream(
            publisher,
            start,
            messages,
            pacer=Pacer(math.inf if args.fast else args.speed, clock),
            fps=fps,
            progress=ProgressBar(sys.stderr, recording.frame_count, enabled=sys.stderr.isatty()),
        )
    except RecordingError as exc:
        raise InputError(str(exc)) from exc
    finally:
        publisher.close()
    return report_outcome(COMMAND, outcome, publisher, kind, topic)


def _messages(
    recording: Recording,
    stream_id: str,
    fps: float,
    frames: bool,
    keep_timestamps: bool,
    started_at: float,
) -> Iterator[Outgoing]:
    """The recording's rows as pose samples or frames, on the replayed stream's clock."""
    shift: float | None = 0.0 if keep_timestamps else None
    for sample, jpeg in recording.frames():
        if shift is None:
            shift = started_at - sample.timestamp_s
        capture_s = sample.timestamp_s + shift
        if not frames:
            yield sample.timestamp_s, replace(sample, timestamp_s=capture_s)
        elif jpeg is not None:
            size = (sample.image_width, sample.image_height)
            yield sample.timestamp_s, wire.Frame(stream_id, sample.seq, capture_s, fps, *size, jpeg)
