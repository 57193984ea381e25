"""``kinestream record``: one live stream from Kafka, written as a recording.

The stream's start control message gives the recording's parameters (sport, athlete and
box heights); its pose packets become the rows. The nominal frame rate is the frames'
``ks-fps`` header in frames mode and, for pose packets (whose decoder does not return it),
the median interval of the first :data:`OPEN_AFTER` capture times. The recording is
opened once the start and those first rows are in, then written one batch at a time, so
memory stays constant however long the stream. Rows that come before the start wait, at
most :data:`PENDING_LIMIT` of them: then the reader pauses the rows' topic until the start
arrives (a backlog read with ``--from-beginning`` reaches the rows' topic first) or
:data:`START_WAIT_S` passes, when the recording opens without it.

Frames mode (``--frames``): a stream published as JPEG frames has no pose packets on Kafka
(the dataflow estimates its poses internally and publishes none), so the recording keeps
the JPEGs in its ``jpeg`` column; its landmarks are null unless ``--estimate-poses`` runs
MediaPipe here on each frame, which makes the recording analysable offline (at about
50 ms a frame on two CPU cores, so a live stream is recorded behind real time; Kafka
buffers it).

Recording stops at the stream's end message (once the frame it names as the last one
arrived, or :data:`END_GRACE_S` after it when that frame never comes), after
``--idle-timeout-s`` without a message of the stream, or at Ctrl-C; the file is complete in
every case. Exit status 0 when frames were recorded, 1 when nothing was (or Kafka cannot
be reached), 2 on bad arguments, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path
from typing import Final

from kinestream import wire
from kinestream.commands.kafka_options import add_kafka_options, topics_of
from kinestream.commands.progress import ProgressBar
from kinestream.connectors.jpeg import decode_jpeg
from kinestream.connectors.recording import RecordingParams, RecordingWriter
from kinestream.connectors.stream_reader import (
    Received,
    StreamReader,
    StreamReaderError,
    Undecodable,
)
from kinestream.operators.pose import PoseEstimator, PoseSample

OPEN_AFTER: Final = 32
"""Rows read before the recording is opened (the frame rate is estimated from them)."""
PENDING_LIMIT: Final = 256
"""Rows held while the start message has not arrived; then only the control topic is read,
for :data:`START_WAIT_S` at most, before the recording opens without the start."""
START_WAIT_S: Final = 2.0
END_GRACE_S: Final = 2.0
"""After the end message, how long to wait for a last frame that has not come."""
POLL_S: Final = 0.2
SHOWN_BAD_MESSAGES: Final = 5


def add_record_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``kinestream record``."""
    parser = sub.add_parser(
        "record",
        help="record a live stream from Kafka into a recording file",
        description=(
            "Capture one stream from Kafka (its start message and its pose packets, or with "
            "--frames its JPEG frames) into a recording (.arrow) until the stream's end "
            "message, --idle-timeout-s of silence, or Ctrl-C."
        ),
    )
    parser.add_argument("output", type=Path, metavar="OUT", help="recording to write (.arrow)")
    parser.add_argument("--stream-id", required=True, help="the stream to record (its key)")
    parser.add_argument(
        "--frames",
        action="store_true",
        help="a frames stream: record its JPEGs from the frames topic (no landmarks unless "
        "--estimate-poses)",
    )
    parser.add_argument(
        "--estimate-poses",
        action="store_true",
        help="with --frames: run MediaPipe Pose here to fill in the landmarks",
    )
    parser.add_argument(
        "--from-beginning",
        action="store_true",
        help="read the topics from their beginning (default: only what arrives from now on)",
    )
    parser.add_argument(
        "--idle-timeout-s",
        type=float,
        default=30.0,
        metavar="S",
        help="stop after this long without a message of the stream (default 30)",
    )
    add_kafka_options(
        parser, timeout_s=10.0, timeout_help="how long to wait for the broker's metadata"
    )
    parser.set_defaults(handler=run_record)


class Recorder:
    """Folds one stream's messages into a recording at ``path``; see the module docstring.

    ``jpeg`` keeps the frames' JPEGs (frames mode); ``estimator`` fills in their poses.
    """

    def __init__(
        self,
        path: Path,
        stream_id: str,
        *,
        jpeg: bool = False,
        estimator: PoseEstimator | None = None,
    ) -> None:
        self.path = path
        self.stream_id = stream_id
        self.jpeg = jpeg
        self.estimator = estimator
        self.session: wire.StartMessage | None = None
        self.end: wire.EndMessage | None = None
        self.rows = 0
        self.first_seq: int | None = None
        self.last_seq = -1
        self.duplicates = 0
        self.bad_messages: list[Undecodable] = []
        self.fps: float | None = None
        self._pending: list[tuple[PoseSample, bytes | None]] = []
        self._frame_fps: float | None = None
        self._writer: RecordingWriter | None = None
        self._last_message_at = time.monotonic()

    def add(self, item: Received, now: float) -> None:
        """Take one message of the stream, received at monotonic time ``now``."""
        self._last_message_at = now
        if isinstance(item, wire.StartMessage):
            if self.session is None:
                self.session = item
        elif isinstance(item, wire.EndMessage):
            self.end = item
        elif isinstance(item, Undecodable):
            self.bad_messages.append(item)
        elif item.seq <= self.last_seq:
            self.duplicates += 1  # a redelivery: the recording keeps capture order
        else:
            self.last_seq = item.seq
            if self.first_seq is None:
                self.first_seq = item.seq
            if isinstance(item, wire.Frame):
                if item.fps > 0.0:
                    self._frame_fps = item.fps
                self._write(self._frame_sample(item), item.jpeg)
            else:
                self._write(item, None)
        if self._writer is None and self.session is not None and len(self._pending) >= OPEN_AFTER:
            self.open()

    @property
    def opened(self) -> bool:
        """Whether the recording file is open (rows go straight to it)."""
        return self._writer is not None

    @property
    def waiting_for_start(self) -> bool:
        """Whether :data:`PENDING_LIMIT` rows wait for a start message that has not come."""
        return self._writer is None and self.session is None and len(self._pending) >= PENDING_LIMIT

    def open(self) -> None:
        """Open the recording with what is known of the session, and write the pending rows."""
        self.fps = self._frame_fps or _median_fps([s.timestamp_s for s, _ in self._pending])
        start = self.session
        params = RecordingParams(
            stream_id=self.stream_id,
            sport=start.sport if start else None,
            athlete_height_m=start.athlete_height_m if start else None,
            box_height_m=start.box_height_m if start else None,
            fps=self.fps,
        )
        self._writer = RecordingWriter(self.path, params, jpeg=self.jpeg)
        for sample, jpeg in self._pending:
            self._writer.write(sample, jpeg)
        self._pending = []

    def finished(self, now: float, idle_timeout_s: float) -> str | None:
        """``"end"`` or ``"idle"`` when recording should stop at monotonic time ``now``."""
        quiet_s = now - self._last_message_at
        if self.end is not None:
            last = self.end.last_seq
            if (last is not None and self.last_seq >= last) or quiet_s >= END_GRACE_S:
                return "end"
        return "idle" if quiet_s >= idle_timeout_s else None

    def close(self) -> None:
        """Write what is pending and complete the file (none is made without rows)."""
        if self._writer is None and self._pending:
            self.open()
        if self._writer is not None:
            self._writer.close()

    def _frame_sample(self, frame: wire.Frame) -> PoseSample:
        if self.estimator is not None:
            try:
                rgb = decode_jpeg(frame.jpeg)
            except ValueError:
                pass  # recorded as it is, without a pose
            else:
                return self.estimator.estimate(rgb, frame.seq, frame.timestamp_s)
        return PoseSample(frame.seq, frame.timestamp_s, frame.width, frame.height, None)

    def _write(self, sample: PoseSample, jpeg: bytes | None) -> None:
        self.rows += 1
        if self._writer is None:
            self._pending.append((sample, jpeg))
        else:
            self._writer.write(sample, jpeg)


def _median_fps(times: list[float]) -> float | None:
    steps = [b - a for a, b in itertools.pairwise(times) if b > a]
    if not steps:
        return None
    return round(1.0 / statistics.median(steps), 3)


def run_record(args: argparse.Namespace) -> int:
    """Handle ``kinestream record``; return the exit status."""
    problem = _argument_problem(args)
    if problem is not None:
        print(f"kinestream record: {problem}", file=sys.stderr)
        return 2
    estimator = None
    if args.estimate_poses:
        from kinestream.operators.mediapipe_pose import (
            MediaPipePoseEstimator,
            PoseModelMissingError,
        )

        try:
            estimator = MediaPipePoseEstimator()
        except PoseModelMissingError as exc:
            print(f"kinestream record: {exc}", file=sys.stderr)
            return 1
    try:
        return _record(args, estimator)
    except KeyboardInterrupt:  # before recording began: nothing was written
        print("kinestream record: interrupted", file=sys.stderr)
        return 130
    finally:
        if estimator is not None:
            estimator.close()


def _argument_problem(args: argparse.Namespace) -> str | None:
    if not args.stream_id:
        return "--stream-id must not be empty"
    if not args.idle_timeout_s > 0.0:
        return "--idle-timeout-s must be positive"
    if args.estimate_poses and not args.frames:
        return "--estimate-poses goes with --frames (a poses stream has its landmarks already)"
    if not args.output.parent.is_dir():
        return f"no such directory: {args.output.parent}"
    return None


def _record(args: argparse.Namespace, estimator: PoseEstimator | None) -> int:
    topics = topics_of(args)
    try:
        reader = StreamReader(
            args.brokers,
            topics,
            args.stream_id,
            frames=args.frames,
            from_beginning=args.from_beginning,
            timeout_s=args.timeout_s,
        )
    except StreamReaderError as exc:
        print(f"kinestream record: {exc}", file=sys.stderr)
        return 1
    where = "from the beginning" if args.from_beginning else "from now on"
    print(
        f"recording stream {args.stream_id} from {topics.control} and {reader.samples_topic} "
        f"{where}; Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    recorder = Recorder(args.output, args.stream_id, jpeg=args.frames, estimator=estimator)
    bar = ProgressBar(sys.stderr, None, enabled=sys.stderr.isatty())
    reason: str | None = None
    paused_at: float | None = None
    try:
        while reason is None:
            items = reader.poll(POLL_S)
            now = time.monotonic()
            for item in items:
                rows = recorder.rows
                recorder.add(item, now)
                bar.advance(recorder.rows - rows)
            if paused_at is None and recorder.waiting_for_start:
                # Rows came first (their topic was read ahead): read the control topic alone.
                reader.pause_samples()
                paused_at = now
            if paused_at is not None:
                if not (recorder.opened or now - paused_at >= START_WAIT_S):
                    continue
                if not recorder.opened:
                    recorder.open()
                reader.resume_samples()
                paused_at = None
            reason = recorder.finished(now, args.idle_timeout_s)
    except KeyboardInterrupt:
        reason = "interrupted"
    finally:
        bar.close()
        reader.close()
        recorder.close()
    return _report(args, recorder, reason)


def _report(args: argparse.Namespace, recorder: Recorder, reason: str) -> int:
    for bad in recorder.bad_messages[:SHOWN_BAD_MESSAGES]:
        print(
            f"kinestream record: skipped a bad message ({bad.topic} [{bad.partition}] "
            f"offset {bad.offset}): {bad.reason}",
            file=sys.stderr,
        )
    if len(recorder.bad_messages) > SHOWN_BAD_MESSAGES:
        print(
            f"kinestream record: skipped {len(recorder.bad_messages)} bad messages in all",
            file=sys.stderr,
        )
    ended_by = {
        "end": "its end message",
        "idle": f"{args.idle_timeout_s:g} s without a message",
        "interrupted": "Ctrl-C",
    }[reason]
    if recorder.rows == 0:
        what = "frames" if args.frames else "pose packets"
        hint = ""
        if recorder.session is not None and not args.frames:
            hint = " (a stream published as frames has none: record it with --frames)"
        print(
            f"kinestream record: nothing recorded: no {what} of stream {args.stream_id} "
            f"arrived before {ended_by}{hint}",
            file=sys.stderr,
        )
        return 130 if reason == "interrupted" else 1
    if recorder.session is None:
        print(
            f"kinestream record: warning: stream {args.stream_id} sent no start message while "
            "recording, so the recording does not say the sport or the athlete's height "
            "(pass them to kinestream analyze)",
            file=sys.stderr,
        )
    facts = [f"{recorder.rows} frames (seq {recorder.first_seq}-{recorder.last_seq})"]
    if recorder.session is not None:
        facts.append(recorder.session.sport.value)
        facts.append(f"athlete {recorder.session.athlete_height_m:.2f} m")
        if recorder.session.box_height_m is not None:
            facts.append(f"box {recorder.session.box_height_m:.2f} m")
    if recorder.fps is not None:
        facts.append(f"{recorder.fps:g} fps")
    if args.frames:
        facts.append("with JPEGs" + (" and estimated poses" if args.estimate_poses else ""))
    if recorder.duplicates:
        facts.append(f"{recorder.duplicates} repeated frames skipped")
    print(f"wrote {args.output}: {', '.join(facts)}; ended by {ended_by}")
    return 130 if reason == "interrupted" else 0
