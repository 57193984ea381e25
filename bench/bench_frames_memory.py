"""Frames mode's pose backends: frames/s and memory with 1, 10 and 50 frame streams.

For each backend and stream count, a fresh process runs the dataflow's own steps in process
(no Kafka) over that many streams of the real demo clip's JPEGs
(examples/footage/sports2d_demo.mp4 at 1280 px), ``--frames`` frames each, as live streams
send them (each stream's next frame after every stream's last), then ends every stream;
twice (``--rounds``), to tell growth from the allocator's high-water mark:

- ``onnx``, the flow's default: the batched pose stage (``PoseStage``: JPEGs wait in its
  batcher, BlazePose on ONNX Runtime runs a batch of at most 16 frames, one per stream)
  feeding each stream's ``StreamLogic``;
- ``mediapipe``: each stream's ``StreamLogic`` with its own MediaPipe Pose graph.

Both decode every JPEG and run the real analysis. Figures, from /proc/self/status:

- ``frames/s``: frames analysed per second (decode, pose, analysis) in the fastest round
  (the least disturbed by other work on the machine);
- ``before``: RSS with everything imported and the models ready, no stream (for onnx, the
  ONNX Runtime sessions have run a full batch, so their buffers are in ``before``);
- ``MiB/stream``: (RSS with every accepted stream active - ``before``) / accepted streams,
  the analyzer's state included;
- ``peak`` (VmHWM), and RSS active, then ended, in each round;
- refused streams: those past ``--max-frame-streams`` (default: the flow's, by backend).

Figures, not a test.

    .venv/bin/python bench/bench_frames_memory.py [--pose onnx mediapipe] [--streams 1 10 50]
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import math
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from kinestream.flows.stream_logic import StreamInput, StreamLogic
    from kinestream.session import SessionEvent

REPO: Final = Path(__file__).resolve().parents[1]
DEMO_CLIP: Final = REPO / "examples" / "footage" / "sports2d_demo.mp4"
T0: Final = 1_760_000_000.0
FIRST_FRAME: Final = 8  # the clip's athlete is in view from here


def rss_mib(field: str = "VmRSS") -> float:
    """This process's resident memory (or its high-water mark, ``VmHWM``), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _analyse(
    logics: dict[str, StreamLogic],
    outputs: list[SessionEvent],
    items: Iterable[tuple[str, StreamInput]],
) -> None:
    """Pass each (stream id, item) to its stream's step, keeping what comes out."""
    for stream_id, item in items:
        outputs.extend(logics[stream_id].on_item((stream_id, item))[0])


def measure(
    pose: str, streams: int, frames: int, max_frame_streams: int | None, rounds: int
) -> dict[str, Any]:
    """Run ``streams`` frame streams through the flow's steps for ``pose``, ``rounds`` times."""
    import cv2

    from kinestream import wire
    from kinestream.connectors.jpeg import decode_jpeg
    from kinestream.connectors.video import read_frames
    from kinestream.flows.analysis import default_analyzer_factory, default_estimator_factory
    from kinestream.flows.budget import PoseBackend, default_max_frame_streams
    from kinestream.flows.pose_stage import PoseStageSettings, pose_stage_builder
    from kinestream.flows.stream_logic import StreamSettings, stream_logic_builder
    from kinestream.operators.blazepose.runtime import PoseRequest
    from kinestream.operators.blazepose.tracking import PoseTrack
    from kinestream.operators.onnx_pose import shared_blazepose
    from kinestream.sports import Sport

    jpegs = []
    clip = read_frames(DEMO_CLIP.resolve(), 1280, limit=FIRST_FRAME + frames)
    for seq, timestamp_s, rgb in list(clip)[FIRST_FRAME:]:
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        assert ok
        jpegs.append((seq, timestamp_s, rgb.shape[1], rgb.shape[0], encoded.tobytes()))
    backend: PoseBackend = "onnx" if pose == "onnx" else "mediapipe"
    limit = default_max_frame_streams(backend) if max_frame_streams is None else max_frame_streams
    settings = StreamSettings(idle_timeout_s=600, max_frame_streams=limit)
    if pose == "onnx":
        models = functools.partial(shared_blazepose, "cpu")
        rgb = decode_jpeg(jpegs[0][4])
        batch = models().max_batch
        models().estimate_batch([PoseRequest(PoseTrack(), rgb, 0, 0.0)] * batch)
        build = stream_logic_builder(default_analyzer_factory, settings)
        build_stage = pose_stage_builder(PoseStageSettings(), models, decode_jpeg, 600, limit)
    else:
        import mediapipe  # noqa: F401  (imported by the first estimator: part of the baseline)

        decode_jpeg(jpegs[0][4])
        build = stream_logic_builder(
            default_analyzer_factory, settings, default_estimator_factory, decode_jpeg
        )
    gc.collect()
    before = rss_mib()

    active, ended = [], []
    refused = 0
    elapsed = math.inf
    for round_ in range(rounds):
        logics = {f"mem-{round_}-{i}": build(None) for i in range(streams)}
        stage = build_stage(None) if pose == "onnx" else None
        outputs: list[SessionEvent] = []
        analyse = functools.partial(_analyse, logics, outputs)
        analyse((sid, wire.StartMessage(sid, Sport.CMJ, 1.8)) for sid in logics)
        started = time.perf_counter()
        for seq, timestamp_s, width, height, jpeg in jpegs:
            tick = [
                (sid, wire.Frame(sid, seq, T0 + timestamp_s, 30.0, width, height, jpeg))
                for sid in logics
            ]
            if stage is None:
                analyse(tick)
                continue
            for item in tick:
                analyse(stage.on_item(item)[0])
            analyse(stage.on_eof()[0])  # every stream's frame in: run them all
        elapsed = min(elapsed, time.perf_counter() - started)
        refused = sum(
            1
            for o in outputs
            if o.event is not None and o.event.payload.get("code") == "frame_streams_full"
        )
        active.append(rss_mib())
        analyse((sid, wire.EndMessage(sid)) for sid in logics)
        del logics, stage, outputs, analyse
        gc.collect()
        ended.append(rss_mib())
    accepted = streams - refused
    return {
        "pose": pose,
        "streams": streams,
        "accepted": accepted,
        "refused": refused,
        "frames_per_s": round(accepted * len(jpegs) / elapsed, 1),
        "before_mib": round(before),
        "active_mib": [round(a) for a in active],
        "peak_mib": round(rss_mib("VmHWM")),
        "ended_mib": [round(e) for e in ended],
        "per_stream_mib": round((active[0] - before) / accepted, 1) if accepted else None,
    }


def main(argv: list[str] | None = None) -> None:
    """Measure each backend and stream count in a fresh process and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pose", nargs="+", default=["onnx", "mediapipe"])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--frames", type=int, default=10, help="frames per stream (default 10)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of streams (default 2)")
    parser.add_argument(
        "--max-frame-streams", type=int, help="the worker's budget (default: the flow's)"
    )
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # the child: POSE STREAMS
    args = parser.parse_args(argv)
    if args.one is not None:
        pose, count = args.one[0], int(args.one[1])
        row = measure(pose, count, args.frames, args.max_frame_streams, args.rounds)
        print(json.dumps(row))
        return
    print(f"frames mode: {args.frames} frames a stream, 1280x720 JPEGs, CPU; RSS in MiB")
    print(
        f"{'pose':>9} {'streams':>7} {'accepted':>8} {'frames/s':>8} {'before':>7} "
        f"{'MiB/stream':>10} {'peak':>6}  active, then ended, in each round"
    )
    for pose in args.pose:
        for count in args.streams:
            child = [sys.executable, __file__, "--one", pose, str(count)]
            child += ["--frames", str(args.frames), "--rounds", str(args.rounds)]
            if args.max_frame_streams is not None:
                child += ["--max-frame-streams", str(args.max_frame_streams)]
            done = subprocess.run(child, capture_output=True, text=True, check=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rounds = ", ".join(
                f"{a} -> {e}" for a, e in zip(row["active_mib"], row["ended_mib"], strict=True)
            )
            print(
                f"{pose:>9} {row['streams']:>7} {row['accepted']:>8} {row['frames_per_s']:>8} "
                f"{row['before_mib']:>7} {row['per_stream_mib']!s:>10} {row['peak_mib']:>6}  "
                f"{rounds}",
                flush=True,
            )


if __name__ == "__main__":
    main()
