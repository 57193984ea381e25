"""``kinestream simulate``: a synthetic session written as a recording.

The synthetic athlete (:mod:`kinestream.simulation`) performs the repetitions in front of a
simulated side-view camera; the pose samples it produces go to a recording
(:mod:`kinestream.connectors.recording`) whose metadata holds the session's parameters, so
``kinestream analyze OUT.arrow`` needs no other argument. The ground truth of each
repetition is printed.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from kinestream.commands.simulate_running import run_simulate_running
from kinestream.connectors.recording import RecordingParams, RecordingWriter
from kinestream.simulation.camera import Camera
from kinestream.simulation.noise import RealisticNoise
from kinestream.simulation.scenarios import (
    Trial,
    countermovement_jumps,
    drop_jumps,
    squat_jumps,
)
from kinestream.sports import Sport

# The drop-jump scenario films from further away so that the box and the rebound fit.
_DROP_JUMP_CAMERA = Camera(floor_y_px=1040.0, px_per_m=330.0)
NOISE_MODELS = ("white", "realistic")


def add_simulate_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``kinestream simulate``."""
    parser = sub.add_parser(
        "simulate",
        help="write a synthetic session as a recording",
        description="Simulate an athlete's session and write its pose stream as a recording.",
    )
    parser.add_argument("output", type=Path, metavar="OUT", help="recording to write (.arrow)")
    parser.add_argument(
        "--sport", choices=[sport.value for sport in Sport], default=Sport.CMJ.value
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--steps", type=int, default=40, help="running: steps (default 40)")
    parser.add_argument(
        "--overground",
        action="store_true",
        help="running: overground past a still camera (default: on a treadmill)",
    )
    parser.add_argument("--fps", type=float, default=60.0, help="camera frame rate (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--athlete-height", type=float, default=1.80, metavar="M", help="metres (default 1.80)"
    )
    parser.add_argument(
        "--box-height",
        type=float,
        default=0.40,
        metavar="M",
        help="drop jumps: box height in metres (default 0.40)",
    )
    parser.add_argument(
        "--noise",
        choices=NOISE_MODELS,
        default="white",
        help="landmark noise: 'white' (0.5 px, the default) or 'realistic' (MediaPipe-like: "
        "coloured jitter, foot sliding, swaps, strays, visibility dips; "
        "kinestream.simulation.noise)",
    )
    parser.set_defaults(handler=run_simulate)


def simulate(
    sport: Sport,
    *,
    reps: int,
    fps: float,
    seed: int,
    athlete_height_m: float = 1.80,
    box_height_m: float = 0.40,
    noise: str = "white",
) -> Trial:
    """The synthetic session of ``sport``, filmed at ``fps`` with ``noise`` (one of
    ``NOISE_MODELS``)."""
    if noise not in NOISE_MODELS:
        raise ValueError(f"noise must be one of {', '.join(NOISE_MODELS)}, not {noise!r}")
    realistic = RealisticNoise() if noise == "realistic" else None
    if sport is Sport.CMJ:
        camera = Camera(fps=fps, realistic_noise=realistic)
        return countermovement_jumps(reps, camera, seed, athlete_height_m)
    if sport is Sport.SQUAT_JUMP:
        return squat_jumps(reps, Camera(fps=fps, realistic_noise=realistic), seed, athlete_height_m)
    camera = replace(_DROP_JUMP_CAMERA, fps=fps, realistic_noise=realistic)
    return drop_jumps(reps, box_height_m, camera, seed, athlete_height_m)


def write_trial(trial: Trial, path: Path, stream_id: str) -> int:
    """Write ``trial`` as a recording; return the number of frames written."""
    params = RecordingParams(
        stream_id=stream_id,
        sport=trial.sport,
        athlete_height_m=trial.athlete_height_m,
        box_height_m=trial.box_height_m,
        fps=trial.camera.fps,
    )
    with RecordingWriter(path, params) as writer:
        for sample in trial.samples:
            writer.write(sample)
    return writer.rows_written


def run_simulate(args: argparse.Namespace) -> int:
    """Handle ``kinestream simulate``; return the exit status."""
    sport = Sport(args.sport)
    if sport is Sport.RUNNING:
        return run_simulate_running(args)
    if args.reps < 1 or not 1.0 <= args.fps <= 1000.0:
        print("kinestream simulate: --reps must be >= 1 and --fps in [1, 1000]", file=sys.stderr)
        return 2
    try:
        trial = simulate(
            sport,
            reps=args.reps,
            fps=args.fps,
            seed=args.seed,
            athlete_height_m=args.athlete_height,
            box_height_m=args.box_height,
            noise=args.noise,
        )
        frames = write_trial(trial, args.output, f"simulated-{sport.value}-seed{args.seed}")
    except (ValueError, OSError) as error:
        print(f"kinestream simulate: {error}", file=sys.stderr)
        return 2
    size = args.output.stat().st_size
    noise = ", realistic noise" if args.noise == "realistic" else ""
    print(
        f"wrote {args.output}: {sport.value}, {len(trial.reps)} reps, {frames} frames "
        f"at {trial.camera.fps:g} fps{noise}, {size} bytes"
    )
    print("ground truth:")
    print("  rep  takeoff_s  landing_s  flight_time_s  jump_height_m")
    for number, rep in enumerate(trial.reps, start=1):
        print(
            f"  {number:>3}  {rep.takeoff_s:9.4f}  {rep.landing_s:9.4f}  "
            f"{rep.flight_time_s:13.4f}  {rep.jump_height_m:13.4f}"
        )
    return 0
