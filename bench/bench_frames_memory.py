"""Memory of frames mode: RSS with 1, 10 and 50 frame streams, and after they end.

Each stream of frames mode holds its own MediaPipe Pose estimator. For each stream count,
a fresh process runs the dataflow's per-stream step (``StreamLogic``, with the flow's
estimator factory, JPEG decoder and frame-stream budget) over that many streams of the real
demo clip's JPEGs (examples/footage/sports2d_demo.mp4 at 1280 px), ``--frames`` frames each,
then ends every stream; twice (``--rounds``), to tell growth from the allocator's
high-water mark. It reports the process's resident memory (RSS, from /proc/self/status):

- ``before``: the process with everything imported (MediaPipe too) and one frame decoded,
  no estimator;
- ``active``: with every accepted stream's estimator built and used, in each round;
- ``ended``: after every stream ended (each closes its estimator at once), in each round;
- refused streams: those past ``--max-frame-streams`` (default: the flow's own default).

Figures, not a test. Needs no Kafka.

    .venv/bin/python bench/bench_frames_memory.py [--streams 1 10 50] [--frames 5]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

REPO: Final = Path(__file__).resolve().parents[1]
DEMO_CLIP: Final = REPO / "examples" / "footage" / "sports2d_demo.mp4"
T0: Final = 1_760_000_000.0


def rss_mib(field: str = "VmRSS") -> float:
    """This process's resident memory (or its high-water mark, ``VmHWM``), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(streams: int, frames: int, max_frame_streams: int, rounds: int) -> dict[str, Any]:
    """Run ``streams`` frame streams through the per-stream step in this process, ``rounds``
    times."""
    import cv2
    import mediapipe  # noqa: F401  (imported by the first estimator: part of the baseline)

    from kinestream import wire
    from kinestream.connectors.jpeg import decode_jpeg
    from kinestream.connectors.video import read_frames
    from kinestream.flows.analysis import default_analyzer_factory, default_estimator_factory
    from kinestream.flows.stream_logic import StreamSettings, stream_logic_builder
    from kinestream.sports import Sport

    jpegs = []
    for seq, timestamp_s, rgb in read_frames(DEMO_CLIP.resolve(), 1280, limit=frames):
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        assert ok
        jpegs.append((seq, timestamp_s, rgb.shape[1], rgb.shape[0], encoded.tobytes()))
    decode_jpeg(jpegs[0][4])
    gc.collect()
    before = rss_mib()

    settings = StreamSettings(idle_timeout_s=600, max_frame_streams=max_frame_streams)
    build = stream_logic_builder(
        default_analyzer_factory, settings, default_estimator_factory, decode_jpeg
    )
    active, ended = [], []
    refused = 0
    for round_ in range(rounds):
        logics = {f"mem-{round_}-{i}": build(None) for i in range(streams)}
        refused = 0
        for stream_id, logic in logics.items():
            logic.on_item((stream_id, wire.StartMessage(stream_id, Sport.CMJ, 1.8)))
        for seq, timestamp_s, width, height, jpeg in jpegs:
            for stream_id, logic in logics.items():
                frame = wire.Frame(stream_id, seq, T0 + timestamp_s, 30.0, width, height, jpeg)
                out, _ = logic.on_item((stream_id, frame))
                refused += sum(
                    1
                    for o in out
                    if o.event is not None and o.event.payload.get("code") == "frame_streams_full"
                )
        active.append(rss_mib())
        for stream_id, logic in logics.items():
            logic.on_item((stream_id, wire.EndMessage(stream_id)))
        del logics
        gc.collect()
        ended.append(rss_mib())
    accepted = streams - refused
    return {
        "streams": streams,
        "accepted": accepted,
        "refused": refused,
        "before_mib": round(before),
        "active_mib": [round(a) for a in active],
        "peak_mib": round(rss_mib("VmHWM")),
        "ended_mib": [round(e) for e in ended],
        "per_stream_mib": round((active[0] - before) / accepted, 1) if accepted else None,
    }


def main(argv: list[str] | None = None) -> None:
    """Measure each stream count in a fresh process and print a table."""
    from kinestream.flows.budget import MEDIAPIPE_MAX_FRAME_STREAMS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--frames", type=int, default=5, help="frames per stream (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of streams (default 2)")
    parser.add_argument(
        "--max-frame-streams",
        type=int,
        default=MEDIAPIPE_MAX_FRAME_STREAMS,
        help=f"the worker's budget (default {MEDIAPIPE_MAX_FRAME_STREAMS}, the flow's)",
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(measure(args.one, args.frames, args.max_frame_streams, args.rounds)))
        return
    print(
        f"frames mode memory: {args.frames} frames a stream, at most {args.max_frame_streams} "
        "frame streams a worker; RSS in MiB"
    )
    print(
        f"{'streams':>7} {'accepted':>8} {'refused':>7} {'before':>7} {'MiB/stream':>10} "
        f"{'peak':>6}  active, then ended, in each round"
    )
    for count in args.streams:
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                str(count),
                "--frames",
                str(args.frames),
                "--max-frame-streams",
                str(args.max_frame_streams),
                "--rounds",
                str(args.rounds),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(child.stdout.strip().splitlines()[-1])
        rounds = ", ".join(
            f"{a} -> {e}" for a, e in zip(row["active_mib"], row["ended_mib"], strict=True)
        )
        print(
            f"{row['streams']:>7} {row['accepted']:>8} {row['refused']:>7} "
            f"{row['before_mib']:>7} {row['per_stream_mib']!s:>10} {row['peak_mib']:>6}  {rounds}"
        )


if __name__ == "__main__":
    main()
