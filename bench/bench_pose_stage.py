"""Benchmark of the batched pose stage on the CPU: live 30 fps streams through
:class:`~kinestream.operators.blazepose.batcher.PoseBatcher` and one
:class:`~kinestream.operators.blazepose.runtime.BlazePose` (figures, not a test).

``--streams`` streams (default 1, 2, 4 and 8) send the real demo clip's frames
(examples/footage/sports2d_demo.mp4 at 1280 px, from frame 5, cycled) at 30 fps each, their
starts spread over one frame interval. The clock is simulated, and each batch's inference
advances it by the time the batch really took, so the figures are those of a stage that
never idles while work waits; frames that arrive while inference runs wait in the batcher
(in the flow they wait in Kafka, the stage holding 2 a stream). Per configuration: frames/s
served, latency from a frame's arrival to its pose (P50, P95) and the share of frames
skipped for being more than ``--max-frame-lag-s`` behind live. The target is the largest
number of streams held at P95 ≤ 200 ms without drops.

    .venv/bin/python bench/bench_pose_stage.py [--streams 1 2 4 8] [--seconds 4]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from kinestream.connectors.video import read_frames
from kinestream.operators.blazepose.batcher import BatchPolicy, PoseBatcher, WaitingFrame
from kinestream.operators.blazepose.runtime import BlazePose, PoseRequest

REPO: Final = Path(__file__).resolve().parents[1]
DEMO_CLIP: Final = REPO / "examples" / "footage" / "sports2d_demo.mp4"
FIRST_FRAME: Final = 5
CLIP_FRAMES: Final = 60
FPS: Final = 30.0
TARGET_P95_S: Final = 0.200


def run_streams(
    blazepose: BlazePose,
    frames: list[npt.NDArray[np.uint8]],
    streams: int,
    seconds: float,
    policy: BatchPolicy,
) -> dict[str, float]:
    """Simulate ``streams`` live streams for ``seconds``; return the stage's figures."""
    batcher = PoseBatcher[npt.NDArray[np.uint8]](policy)
    offsets = [i / (FPS * streams) for i in range(streams)]
    next_seq = [0] * streams
    latencies: list[float] = []
    dropped = offered = 0
    now = 0.0
    while now < seconds:
        arrivals = [offsets[i] + next_seq[i] / FPS for i in range(streams)]
        due = batcher.due_at()
        if due is not None and due <= min(arrivals):
            now = max(now, due)
            batch = batcher.take()
            requests = [PoseRequest(t, w.pixels, w.seq, w.timestamp_s) for _, w, t in batch]
            start = time.perf_counter()
            results = blazepose.estimate_batch(requests)
            now += time.perf_counter() - start
            for (stream, waiting, _), (_, track) in zip(batch, results, strict=True):
                batcher.finish(stream, track)
                latencies.append(now - waiting.arrived_s)
            continue
        now = max(now, min(arrivals))
        for i in range(streams):
            while offsets[i] + next_seq[i] / FPS <= now:
                seq = next_seq[i]
                arrival = offsets[i] + seq / FPS
                frame = WaitingFrame(frames[seq % len(frames)], seq, arrival, arrival, arrival)
                offered += 1
                dropped += len(batcher.add(f"s{i}", frame, now))
                next_seq[i] += 1
    served = len(latencies)
    return {
        "frames_per_s": served / now,
        "p50_ms": float(np.percentile(latencies, 50)) * 1000,
        "p95_ms": float(np.percentile(latencies, 95)) * 1000,
        "dropped": dropped / max(offered, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--seconds", type=float, default=4.0, help="simulated seconds")
    parser.add_argument("--max-batch", type=int, default=BatchPolicy().max_batch)
    parser.add_argument("--max-wait-ms", type=float, default=BatchPolicy().max_wait_s * 1000)
    parser.add_argument("--max-waiting", type=int, default=BatchPolicy().max_waiting)
    parser.add_argument("--max-frame-lag-s", type=float, default=BatchPolicy().max_frame_lag_s)
    args = parser.parse_args()
    policy = BatchPolicy(
        args.max_batch, args.max_wait_ms / 1000, args.max_waiting, args.max_frame_lag_s
    )
    frames = [rgb for _, _, rgb in read_frames(DEMO_CLIP, 1280, limit=FIRST_FRAME + CLIP_FRAMES)][
        FIRST_FRAME:
    ]
    blazepose = BlazePose(max_batch=policy.max_batch)
    run_streams(blazepose, frames, 1, 0.5, policy)  # warm the sessions up
    print(
        f"batched pose stage on the CPU, 30 fps streams of 1280x720 frames, "
        f"{args.seconds:g} simulated s; batch ≤ {policy.max_batch}, wait ≤ "
        f"{policy.max_wait_s * 1000:g} ms, ≤ {policy.max_waiting} frames waiting a stream, "
        f"skipped past {policy.max_frame_lag_s:g} s behind"
    )
    print(f"{'streams':>7} {'frames/s':>9} {'P50 ms':>8} {'P95 ms':>8} {'dropped':>8}")
    held = 0
    for streams in args.streams:
        figures = run_streams(blazepose, frames, streams, args.seconds, policy)
        print(
            f"{streams:>7} {figures['frames_per_s']:>9.1f} {figures['p50_ms']:>8.0f} "
            f"{figures['p95_ms']:>8.0f} {figures['dropped']:>8.1%}",
            flush=True,
        )
        if figures["p95_ms"] <= TARGET_P95_S * 1000 and figures["dropped"] == 0:
            held = max(held, streams)
    print(f"streams held at P95 ≤ {TARGET_P95_S * 1000:.0f} ms without drops: {held}")


if __name__ == "__main__":
    main()
