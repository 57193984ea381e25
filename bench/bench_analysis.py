"""Benchmark of the per-stream analysis and of MediaPipe inference (figures, not a test).

(a) Analysis cost per frame, inference excluded: :class:`StreamAnalyzer` ``process`` over
    synthetic CMJ pose samples at 30, 60 and 240 fps, best of ``--runs`` passes over several
    thousand frames, against the target of 25 µs per frame per stream. The cost is the
    process's CPU time (``time.process_time``), which other work on the machine inflates
    far less than it does the wall clock. As in the dataflow,
    the body is measured a batch of ``--batch`` frames at a time (``measure_samples``) and
    the batch's cost is counted; a frame measured alone (``--batch 1``) costs more.
(b) Pickled analyzer state (what a snapshot stores per stream) after 1 and 10 minutes of a
    synthetic 60 fps stream: it must not grow with the stream's length.
(c) MediaPipe Pose inference per frame on the first 60 frames of the real demo clip
    (examples/footage/sports2d_demo.mp4), at native size and downscaled to 1280 px.

    .venv/bin/python bench/bench_analysis.py [--runs 5] [--frames 6000] [--batch 1000]
                                             [--skip-inference]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pickle
import statistics
import sys
import time
from pathlib import Path
from typing import Final

from kinestream.connectors.video import read_frames
from kinestream.operators.analyzer import StreamAnalyzer, StreamConfig
from kinestream.operators.anthropometry import measure_samples
from kinestream.operators.mediapipe_pose import MediaPipePoseEstimator
from kinestream.operators.pose import PoseSample
from kinestream.simulation.camera import Camera
from kinestream.simulation.scenarios import countermovement_jumps
from kinestream.sports import Sport

TARGET_US_PER_FRAME: Final = 25.0
DEMO_CLIP: Final = (
    Path(__file__).resolve().parents[1] / "examples" / "footage" / "sports2d_demo.mp4"
)
INFERENCE_FRAMES: Final = 60


def synthetic_stream(fps: float, frames: int, seed: int = 0) -> list[PoseSample]:
    """At least ``frames`` samples of CMJs at ``fps``: one trial replayed back to back."""
    trial = countermovement_jumps(reps=4, camera=Camera(fps=fps), seed=seed)
    template = trial.samples
    period = 1.0 / fps
    span = template[-1].timestamp_s - template[0].timestamp_s + period
    out: list[PoseSample] = []
    copy = 0
    while len(out) < frames:
        for sample in template:
            out.append(
                dataclasses.replace(
                    sample,
                    seq=len(out),
                    timestamp_s=sample.timestamp_s + copy * span,
                )
            )
            if len(out) == frames:
                break
        copy += 1
    return out


def analysis_cost_us(
    samples: list[PoseSample], runs: int, batch: int, *, echo_pose: bool = False
) -> tuple[float, float, int]:
    """Best and median µs of CPU time per frame of measuring ``batch`` frames at a time and
    ``process`` over ``samples``; and the reps found."""
    timings = []
    reps = 0
    for _ in range(runs):
        analyzer = StreamAnalyzer(StreamConfig("bench", Sport.CMJ, 1.80, echo_pose=echo_pose))
        process = analyzer.process
        started = time.process_time()
        for first in range(0, len(samples), batch):
            for sample in measure_samples(samples[first : first + batch]):
                process(sample)
        timings.append((time.process_time() - started) / len(samples) * 1e6)
        reps = analyzer.reps
    return min(timings), statistics.median(timings), reps


def bench_analysis_cost(runs: int, frames: int, batch: int) -> None:
    print(
        f"(a) analysis cost per frame, inference excluded (CPU time, best of {runs}, {frames} "
        f"frames, measured {batch} a batch)"
    )
    for fps, echo_pose in ((30.0, False), (60.0, False), (240.0, False), (60.0, True)):
        samples = synthetic_stream(fps, frames)
        best, median, reps = analysis_cost_us(samples, runs, batch, echo_pose=echo_pose)
        echo = " + pose echo" if echo_pose else ""
        print(
            f"    {fps:5.0f} fps{echo}: {best:6.1f} µs/frame best, {median:6.1f} median "
            f"({best / TARGET_US_PER_FRAME:.2f} x the {TARGET_US_PER_FRAME:.0f} µs target; "
            f"{reps} reps analysed)",
            flush=True,
        )


def bench_state_size() -> None:
    fps = 60.0
    checkpoints_s = (60.0, 600.0)
    samples = synthetic_stream(fps, int(checkpoints_s[-1] * fps))
    analyzer = StreamAnalyzer(StreamConfig("bench", Sport.CMJ, 1.80))
    sizes: list[tuple[float, int, int]] = []
    marks = {int(s * fps) for s in checkpoints_s}
    for i, sample in enumerate(samples, start=1):
        analyzer.process(sample)
        if i in marks:
            sizes.append((i / fps, len(pickle.dumps(analyzer)), analyzer.reps))
    print(f"(b) pickled analyzer state over a synthetic {fps:.0f} fps CMJ stream")
    for seconds, size, reps in sizes:
        print(f"    after {seconds / 60:4.0f} min: {size:6d} bytes ({reps} reps so far)")
    growth = sizes[-1][1] - sizes[0][1]
    print(f"    growth from 1 to 10 min: {growth:+d} bytes", flush=True)


def bench_inference() -> None:
    print(f"(c) MediaPipe Pose inference, first {INFERENCE_FRAMES} frames of the demo clip")
    clip = DEMO_CLIP.resolve()
    for label, max_dimension in (("native", None), ("1280 px", 1280)):
        frames = list(read_frames(clip, max_dimension=max_dimension, limit=INFERENCE_FRAMES))
        height, width = frames[0].rgb.shape[:2]
        timings = []
        found = 0
        with MediaPipePoseEstimator() as estimator:
            for seq, timestamp_s, rgb in frames:
                started = time.perf_counter()
                sample = estimator.estimate(rgb, seq, timestamp_s)
                timings.append((time.perf_counter() - started) * 1e3)
                found += sample.landmarks is not None
        steady = timings[1:]  # the first call builds the graph's runtime
        print(
            f"    {label:>7} {width}x{height}: {statistics.mean(steady):5.1f} ms/frame mean, "
            f"{statistics.median(steady):5.1f} median, {max(steady):.0f} max, "
            f"first frame {timings[0]:.0f} ms; "
            f"person in {found}/{len(frames)} frames; "
            f"{1000 / statistics.mean(steady):.0f} frames/s on one process",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="passes per frame rate (best of)")
    parser.add_argument("--frames", type=int, default=6000, help="frames per pass")
    parser.add_argument("--batch", type=int, default=1000, help="frames measured at once")
    parser.add_argument("--skip-inference", action="store_true", help="leave out (c)")
    args = parser.parse_args()
    if args.runs < 1 or args.frames < 100 or args.batch < 1:
        parser.error("--runs and --batch must be at least 1, --frames at least 100")
    print(f"cpus={os.cpu_count()} python={sys.version.split()[0]}", flush=True)
    bench_analysis_cost(args.runs, args.frames, args.batch)
    bench_state_size()
    if not args.skip_inference:
        bench_inference()


if __name__ == "__main__":
    main()
