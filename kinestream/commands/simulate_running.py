"""``kinestream simulate --sport running``: a synthetic run written as a recording.

The runner (:mod:`kinestream.simulation.running`) gets a cadence, contact time, foot strike
and asymmetry drawn from ``--seed`` within the ranges of distance running; the exact strike
and toe-off of every step are printed.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from kinestream.connectors.recording import RecordingParams, RecordingWriter
from kinestream.simulation.camera import Camera
from kinestream.simulation.noise import RealisticNoise
from kinestream.simulation.running import RunnerParams, RunTrial, run
from kinestream.sports import Sport


def runner_params(seed: int, athlete_height_m: float, treadmill: bool) -> RunnerParams:
    """A runner drawn from ``seed``: cadence 150-190 steps/min, contact 0.18-0.32 s (leaving
    a flight of 50 ms at least), heel to forefoot strike, up to 6 % L/R asymmetry."""
    rng = np.random.default_rng(seed)
    cadence = float(rng.uniform(150.0, 190.0))
    return RunnerParams(
        height_m=athlete_height_m,
        cadence_spm=cadence,
        contact_s=float(rng.uniform(0.18, min(0.32, 60.0 / cadence - 0.05))),
        strike_index=float(rng.uniform(0.0, 1.0)),
        asymmetry=float(rng.uniform(-0.06, 0.06)),
        treadmill=treadmill,
    )


def simulate_run(
    *, steps: int, fps: float, seed: int, athlete_height_m: float, treadmill: bool, noise: str
) -> RunTrial:
    """The synthetic run, filmed at ``fps`` with ``noise`` (``white`` or ``realistic``)."""
    params = runner_params(seed, athlete_height_m, treadmill)
    realistic = RealisticNoise() if noise == "realistic" else None
    if treadmill:
        camera = Camera(fps=fps, realistic_noise=realistic)
    else:
        camera = Camera(fps=fps, px_per_m=150.0, origin_x_px=0.0, realistic_noise=realistic)
    return run(params, steps, camera, seed)


def run_simulate_running(args: argparse.Namespace) -> int:
    """Handle ``kinestream simulate --sport running``; return the exit status."""
    if args.steps < 4 or not 1.0 <= args.fps <= 1000.0:
        print("kinestream simulate: --steps must be >= 4 and --fps in [1, 1000]", file=sys.stderr)
        return 2
    try:
        trial = simulate_run(
            steps=args.steps,
            fps=args.fps,
            seed=args.seed,
            athlete_height_m=args.athlete_height,
            treadmill=not args.overground,
            noise=args.noise,
        )
        params = RecordingParams(
            stream_id=f"simulated-running-seed{args.seed}",
            sport=Sport.RUNNING,
            athlete_height_m=trial.athlete_height_m,
            fps=trial.camera.fps,
            belt_speed_m_s=trial.belt_speed_m_s,
        )
        with RecordingWriter(args.output, params) as writer:
            for sample in trial.samples:
                writer.write(sample)
    except (ValueError, OSError) as error:
        print(f"kinestream simulate: {error}", file=sys.stderr)
        return 2
    p = trial.params
    where = "overground" if args.overground else f"treadmill at {p.speed_m_s:.2f} m/s"
    print(
        f"wrote {args.output}: running ({where}), {len(trial.steps)} steps, "
        f"{writer.rows_written} frames at {trial.camera.fps:g} fps, "
        f"{args.output.stat().st_size} bytes"
    )
    print(
        f"runner: cadence {p.cadence_spm:.1f} steps/min, contact {p.contact_s:.3f} s, "
        f"strike index {p.strike_index:.2f} (0 heel, 1 forefoot), asymmetry "
        f"{100 * p.asymmetry:+.1f} %, speed {p.speed_m_s:.2f} m/s"
    )
    print("ground truth:")
    print("  step  foot   strike_s  toe_off_s  contact_s  flight_s  in_view")
    for number, (step, seen) in enumerate(zip(trial.steps, trial.in_view, strict=True), 1):
        flight = "-" if step.flight_before_s is None else f"{step.flight_before_s:.4f}"
        print(
            f"  {number:>4}  {step.foot:<5}  {step.strike_s:8.4f}  {step.toe_off_s:9.4f}  "
            f"{step.contact_time_s:9.4f}  {flight:>8}  {'yes' if seen else 'no':>7}"
        )
    return 0
