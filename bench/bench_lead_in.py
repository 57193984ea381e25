"""Results found and flight-time error against the standing before the first movement.

Synthetic sessions of the three movements, cut so that the athlete stands still for
``LEAD_INS_S`` (0 to 1.2 s) before moving (a drop jump: on the box before stepping off):
every scenario stands first for a duration that is its generator's first random draw, so the
cut is exact. Per movement, frame rate and lead-in: repetitions found of those performed,
and the largest flight-time error in milliseconds and in frame periods. ``--jitter`` films
with phone-like variable frame timing (see :func:`jittered_frame_times`); ``--noise
realistic`` with MediaPipe-like landmark noise (:mod:`kinestream.simulation.noise`) instead
of 0.5 px of white noise.

    .venv/bin/python bench/bench_lead_in.py [--seeds 5] [--jitter] [--noise realistic]
        [--view frontal] [--tilt 0.3] [--fps 30 60]

``--view frontal`` films from the front, ``--tilt`` with a handheld camera that tilts up
with the jumper (:class:`~kinestream.simulation.camera.Camera`).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from typing import Final

import numpy as np

from kinestream.events import AnalysisEvent
from kinestream.operators.analyzer import StreamAnalyzer, StreamConfig
from kinestream.simulation import scenarios
from kinestream.simulation.body import Array
from kinestream.simulation.camera import Camera
from kinestream.simulation.noise import RealisticNoise
from kinestream.simulation.scenarios import Trial
from kinestream.sports import JUMPS, Sport

LEAD_INS_S: Final = (0.0, 0.3, 0.6, 1.2)
FPS: Final = (30, 60, 120, 240)
FIRST_SEED: Final = 1000
MATCH_S: Final = 0.1


def jittered_frame_times(
    start_s: float, end_s: float, fps: float, rng: np.random.Generator
) -> Array:
    """Phone capture times: each interval 1/fps with 15 % random spread, one in 20 frames
    late by half a period, one in 50 intervals a whole frame longer (a skipped frame)."""
    step = 1.0 / fps
    count = int((end_s - start_s) * fps * 1.1) + 2
    gaps = step * (1.0 + 0.15 * rng.uniform(-1.0, 1.0, count))
    gaps[rng.random(count) < 0.02] += step
    times = start_s + rng.uniform(0.0, step) + np.cumsum(gaps)
    late = rng.random(count) < 0.05
    times[late] += 0.5 * step * rng.random(int(late.sum()))
    times = np.maximum.accumulate(times)
    times = times[np.concatenate([[True], np.diff(times) > 1e-4])]
    kept: Array = times[times < end_s]
    return kept


@contextmanager
def phone_timing() -> Iterator[None]:
    """Film the scenarios with :func:`jittered_frame_times` while inside."""
    original = getattr(scenarios, "frame_times")  # noqa: B009 (not exported)
    setattr(scenarios, "frame_times", jittered_frame_times)  # noqa: B010
    try:
        yield
    finally:
        setattr(scenarios, "frame_times", original)  # noqa: B010


def session(
    sport: Sport,
    fps: int,
    seed: int,
    realistic: bool = False,
    view: str = "side",
    tilt_follow: float = 0.0,
) -> Trial:
    """One session of ``sport`` filmed at ``fps`` (with MediaPipe-like noise if
    ``realistic``), from ``view``, by a camera that tilts with the jumper by
    ``tilt_follow`` (see :class:`~kinestream.simulation.camera.Camera`)."""
    noise = RealisticNoise() if realistic else None
    camera = Camera(fps=fps, realistic_noise=noise, view=view, tilt_follow=tilt_follow)
    if sport is Sport.CMJ:
        return scenarios.countermovement_jumps(reps=1, camera=camera, seed=seed)
    if sport is Sport.SQUAT_JUMP:
        return scenarios.squat_jumps(reps=1, camera=camera, seed=seed)
    camera = replace(camera, floor_y_px=1040.0, px_per_m=330.0)
    return scenarios.drop_jumps(reps=1, camera=camera, seed=seed)


def with_lead_in(trial: Trial, seed: int, lead_in_s: float) -> Trial:
    """``trial`` from ``lead_in_s`` before its first movement on (sequence numbers kept)."""
    standing_s = float(np.random.default_rng(seed).uniform(1.5, 2.0))
    start = standing_s - lead_in_s
    return replace(trial, samples=[s for s in trial.samples if s.timestamp_s >= start])


def analyse(trial: Trial) -> list[AnalysisEvent]:
    """Every event of one analysis of ``trial``."""
    config = StreamConfig("lead-in", trial.sport, trial.athlete_height_m, trial.box_height_m)
    analyzer = StreamAnalyzer(config)
    events = [e for sample in trial.samples for e in analyzer.process(sample)]
    return events + analyzer.finish("end")


def flight_errors_s(trial: Trial, events: list[AnalysisEvent]) -> list[float | None]:
    """Per true repetition, the flight-time error of the one found at its takeoff."""
    found = [e.payload["metrics"] for e in events if e.event_type == "rep_complete"]
    out: list[float | None] = []
    for truth in trial.reps:
        match = [m for m in found if abs(m["takeoff_time_s"] - truth.takeoff_s) < MATCH_S]
        out.append(match[0]["flight_time_s"] - truth.flight_time_s if match else None)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="sessions per cell")
    parser.add_argument("--jitter", action="store_true", help="phone-like frame timing")
    parser.add_argument("--noise", choices=["white", "realistic"], default="white")
    parser.add_argument("--view", choices=["side", "frontal"], default="side")
    parser.add_argument(
        "--tilt", type=float, default=0.0, help="share of the jump a handheld camera follows"
    )
    parser.add_argument("--fps", type=int, nargs="+", default=list(FPS), help="frame rates")
    args = parser.parse_args()
    timing = "variable (phone)" if args.jitter else "regular"
    print(
        f"lead-in bench: {args.seeds} sessions per cell, frame timing {timing}, "
        f"landmark noise {args.noise}, {args.view} view, camera tilt {args.tilt:g}"
    )
    print(
        f"{'movement':<11} {'fps':>4} {'lead-in s':>9} {'found':>6} {'max err ms':>10} "
        f"{'frames':>6} {'silent':>6}"
    )
    for sport in JUMPS:
        for fps in args.fps:
            for lead_in in LEAD_INS_S:
                found = total = silent = 0
                worst = 0.0
                for seed in range(FIRST_SEED, FIRST_SEED + args.seeds):
                    realistic = args.noise == "realistic"
                    with phone_timing() if args.jitter else nullcontext():
                        trial = session(sport, fps, seed, realistic, args.view, args.tilt)
                    trial = with_lead_in(trial, seed, lead_in)
                    events = analyse(trial)
                    errors = flight_errors_s(trial, events)
                    total += len(errors)
                    hits = [abs(e) for e in errors if e is not None]
                    found += len(hits)
                    worst = max([worst, *hits])
                    summary = events[-1].payload
                    said = summary["reps"] > 0 or "no_reps_reason" in summary
                    silent += 0 if said else 1
                print(
                    f"{sport.value:<11} {fps:>4} {lead_in:>9.1f} {found:>3}/{total:<2} "
                    f"{1000 * worst:>10.2f} {worst * fps:>6.2f} {silent:>6}"
                )


if __name__ == "__main__":
    main()
