"""Benchmark of pose inference on the CPU: BlazePose on ONNX Runtime, batched across streams,
against per-stream MediaPipe (figures, not a test).

``--streams`` streams (default 1, 8 and 32) each get the real demo clip's frames
(examples/footage/sports2d_demo.mp4 at 1280 px) from frame 5 on, where the athlete is found.
ONNX: one :class:`~kinestream.operators.blazepose.runtime.BlazePose` for all streams, each
step the frames of every stream, in model runs of at most ``--max-batch`` frames (default 8
and 32, each capped at the number of streams);
MediaPipe: one graph per stream, frames one at a time. The first ``--warmup`` steps are not
timed. Each configuration runs in its own process; memory is that process's RSS after the
run less its RSS before the estimators were built (frames already loaded).

    .venv/bin/python bench/bench_pose_onnx.py [--streams 1 8 32] [--max-batch 8 32]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from kinestream.connectors.video import read_frames

REPO: Final = Path(__file__).resolve().parents[1]
DEMO_CLIP: Final = REPO / "examples" / "footage" / "sports2d_demo.mp4"
FIRST_FRAME: Final = 5  # MediaPipe and the ONNX path find the athlete here at 1280 px


def rss_mib() -> float:
    """This process's resident set size in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def run_one(
    backend: str, streams: int, max_batch: int, steps: int, warmup: int
) -> dict[str, float]:
    """Time one configuration in this process; return its figures."""
    frames: list[npt.NDArray[np.uint8]] = [
        rgb for _, _, rgb in read_frames(DEMO_CLIP, 1280, limit=FIRST_FRAME + warmup + steps)
    ][FIRST_FRAME:]
    before = rss_mib()
    if backend == "onnx":
        from kinestream.operators.blazepose.runtime import BlazePose, PoseRequest
        from kinestream.operators.blazepose.tracking import PoseTrack

        blazepose = BlazePose(max_batch=max_batch)
        tracks = [PoseTrack() for _ in range(streams)]

        def step(k: int) -> int:
            requests = [PoseRequest(track, frames[k], k, k / 30) for track in tracks]
            results = blazepose.estimate_batch(requests)
            tracks[:] = [track for _, track in results]
            return sum(sample.landmarks is not None for sample, _ in results)

    else:
        from kinestream.operators.mediapipe_pose import MediaPipePoseEstimator

        estimators = [MediaPipePoseEstimator() for _ in range(streams)]

        def step(k: int) -> int:
            samples = [estimator.estimate(frames[k], k, k / 30) for estimator in estimators]
            return sum(sample.landmarks is not None for sample in samples)

    for k in range(warmup):
        step(k)
    found = 0
    start = time.perf_counter()
    for k in range(warmup, warmup + steps):
        found += step(k)
    elapsed = time.perf_counter() - start
    after = rss_mib()
    return {
        "frames_per_s": streams * steps / elapsed,
        "ms_per_frame": elapsed * 1000 / (streams * steps),
        "rss_mib": after - before,
        "rss_mib_per_stream": (after - before) / streams,
        "found": found / (streams * steps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--steps", type=int, default=20, help="timed steps (frames per stream)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--max-batch",
        type=int,
        nargs="+",
        default=[8, 32],
        help="ONNX: largest batch of one model run (capped at the number of streams)",
    )
    parser.add_argument(
        "--one", nargs=3, metavar=("BACKEND", "STREAMS", "MAX"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.one:
        backend, streams, max_batch = args.one
        result = run_one(backend, int(streams), int(max_batch), args.steps, args.warmup)
        print(json.dumps(result))
        return
    print(
        f"pose inference on the CPU, {args.steps} frames a stream at 1280x720 "
        f"(examples/footage/sports2d_demo.mp4 from frame {FIRST_FRAME})"
    )
    header = ("backend", "streams", "frames/s", "ms/frame", "MiB", "MiB/stream")
    print(f"{header[0]:<28} " + " ".join(f"{h:>9}" for h in header[1:]))
    for streams in args.streams:
        batches = sorted({min(streams, cap) for cap in args.max_batch})
        runs = [("mediapipe", 1, "MediaPipe, graph per stream")]
        runs += [("onnx", batch, f"ONNX Runtime, batch {batch}") for batch in batches]
        for backend, batch, label in runs:
            command = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--one",
                backend,
                str(streams),
                str(batch),
                "--steps",
                str(args.steps),
                "--warmup",
                str(args.warmup),
            ]
            child = subprocess.run(command, capture_output=True, text=True, check=True)
            figures = json.loads(child.stdout.strip().splitlines()[-1])
            print(
                f"{label:<28} {streams:>9} {figures['frames_per_s']:>9.1f} "
                f"{figures['ms_per_frame']:>9.1f} {figures['rss_mib']:>9.0f} "
                f"{figures['rss_mib_per_stream']:>9.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
