"""Benchmark of the running analysis (figures, not a test).

(a) Analysis cost per frame: :class:`RunningAnalyzer` ``process`` over a synthetic treadmill
    run against :class:`StreamAnalyzer` over synthetic CMJs (its body measured in batches,
    as the dataflow does), both at 60 fps, best of ``--runs`` passes taken in turn, wall-clock
    and the process's CPU time (which other work on the machine disturbs less); target:
    running within 1.5x a jump's cost.
(b) Pickled analyzer state over one continuous simulated bout of ``--minutes`` (default 60)
    at 60 fps, every ten minutes: it must stay the same size.
(c) Accuracy against the synthetic runner's exact events, per frame rate and noise level
    (white 0, 0.5 and 1 px; the realistic MediaPipe-like model), treadmill and overground,
    ``--seeds`` runs of 30 steps each: strike and toe-off errors (median, 95th percentile,
    largest; frame periods), contact-time errors (ms), missed and invented steps, the steps
    the bouts counted as unseen, and the bouts' cadence error (steps/min).

    .venv/bin/python bench/bench_running.py [--runs 3] [--minutes 60] [--seeds 4]
                                            [--skip-hour] [--skip-accuracy]
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from kinestream.events import AnalysisEvent
from kinestream.operators.analyzer import StreamAnalyzer, StreamConfig
from kinestream.operators.anthropometry import measure_samples
from kinestream.operators.gait.analyzer import RunningAnalyzer, RunningConfig
from kinestream.operators.pose import PoseSample
from kinestream.simulation.camera import Camera
from kinestream.simulation.noise import RealisticNoise
from kinestream.simulation.running import RunnerParams, RunTrial, run
from kinestream.simulation.scenarios import countermovement_jumps
from kinestream.sports import Sport

COST_RATIO_TARGET: Final = 1.5
NOISES: Final = ("0", "0.5", "1", "realistic")
FPS: Final = (30, 60, 120, 240)


def _cost_us(
    frames: list[PoseSample], make: type, config: object, batch: bool
) -> tuple[float, float]:
    """Microseconds per frame of one pass (with the body measured in batches if ``batch``):
    wall-clock and this process's CPU time (less sensitive to other work on the machine)."""
    analyzer = make(config)
    started, cpu = time.perf_counter(), time.process_time()
    samples = measure_samples(frames) if batch else frames
    for sample in samples:
        analyzer.process(sample)
    wall_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    return 1e6 * wall_s / len(frames), 1e6 * cpu_s / len(frames)


def bench_cost(runs: int) -> None:
    """(a) running's cost per frame against a jump's."""
    running = run(RunnerParams(), steps=400, camera=Camera(fps=60.0), seed=1).samples
    jumps = countermovement_jumps(reps=20, camera=Camera(fps=60.0), seed=1).samples
    run_config = RunningConfig("bench", 1.80, None)
    jump_config = StreamConfig("bench", Sport.CMJ, 1.80)
    run_passes, jump_passes = [], []
    for _ in range(runs):  # one of each in turn: other work on the machine slows both alike
        run_passes.append(_cost_us(running, RunningAnalyzer, run_config, False))
        jump_passes.append(_cost_us(jumps, StreamAnalyzer, jump_config, True))
    print("(a) analysis cost per frame, 60 fps, inference excluded (best pass; wall / CPU)")
    run_us = [min(p[k] for p in run_passes) for k in (0, 1)]
    jump_us = [min(p[k] for p in jump_passes) for k in (0, 1)]
    for name, us in (
        (f"running (treadmill, {len(running)} frames)", run_us),
        (f"cmj (body measured in batches, {len(jumps)} frames)", jump_us),
    ):
        print(f"    {name}: {us[0]:6.1f} / {us[1]:6.1f} us/frame")
    for kind, k in (("wall", 0), ("CPU", 1)):
        ratio = run_us[k] / jump_us[k]
        verdict = "meets" if ratio <= COST_RATIO_TARGET else "misses"
        print(f"    ratio ({kind}) {ratio:.2f} ({verdict} the target of {COST_RATIO_TARGET}x)")


def bench_hour(minutes: int) -> None:
    """(b) state size along one long bout."""
    steps = int(minutes * 60 * 2.9)  # 174 steps/min
    started = time.perf_counter()
    trial = run(RunnerParams(cadence_spm=174.0), steps=steps, camera=Camera(fps=60.0), seed=2)
    built = time.perf_counter() - started
    analyzer = RunningAnalyzer(RunningConfig("bench", 1.80, trial.belt_speed_m_s))
    print(
        f"(b) analyzer state over one {minutes}-minute bout at 60 fps "
        f"({len(trial.samples)} frames, simulated in {built:.0f} s)"
    )
    first = trial.samples[0].timestamp_s
    mark = 1
    steps_seen = 0
    for sample in trial.samples:
        steps_seen += sum(e.event_type == "step" for e in analyzer.process(sample))
        if sample.timestamp_s - first >= 60.0 * mark and (mark == 1 or mark % 10 == 0):
            size = len(pickle.dumps(analyzer))
            print(f"    after {mark:3d} min: {size / 1024:6.1f} KiB pickled, {steps_seen} steps")
        if sample.timestamp_s - first >= 60.0 * mark:
            mark += 1
    size = len(pickle.dumps(analyzer))
    print(
        f"    at the end:    {size / 1024:6.1f} KiB pickled, {steps_seen} steps "
        f"of {len(trial.steps)}"
    )


@dataclass
class Cell:
    """Errors of one accuracy cell."""

    events: list[float] = field(default_factory=list)
    contacts_ms: list[float] = field(default_factory=list)
    cadence: list[float] = field(default_factory=list)
    missed: int = 0
    invented: int = 0
    unseen: int = 0
    truths: int = 0


def _camera(fps: int, noise: str, treadmill: bool) -> Camera:
    scale = {} if treadmill else {"px_per_m": 150.0, "origin_x_px": 0.0}
    if noise == "realistic":
        return Camera(fps=float(fps), realistic_noise=RealisticNoise(), **scale)  # type: ignore[arg-type]
    return Camera(fps=float(fps), noise_px=float(noise), **scale)  # type: ignore[arg-type]


def _runner(seed: int, treadmill: bool) -> RunnerParams:
    rng = np.random.default_rng(50_000 + seed)
    cadence = float(rng.uniform(150.0, 190.0))
    return RunnerParams(
        cadence_spm=cadence,
        contact_s=float(rng.uniform(0.18, min(0.32, 60.0 / cadence - 0.05))),
        strike_index=float(rng.uniform(0.0, 1.0)),
        asymmetry=float(rng.uniform(-0.06, 0.06)),
        treadmill=treadmill,
    )


def _score(cell: Cell, trial: RunTrial, events: list[AnalysisEvent], fps: int) -> None:
    steps = [e.payload for e in events if e.event_type == "step"]
    found = set()
    for step in steps:
        truth = min(trial.steps, key=lambda t: abs(t.strike_s - step["strike_time_s"]))
        if abs(truth.strike_s - step["strike_time_s"]) > 0.05 or truth.foot != step["foot"]:
            cell.invented += 1
            continue
        found.add(id(truth))
        cell.events += [
            abs(step["strike_time_s"] - truth.strike_s) * fps,
            abs(step["toe_off_time_s"] - truth.toe_off_s) * fps,
        ]
        cell.contacts_ms.append(1000 * abs(step["contact_time_s"] - truth.contact_time_s))
    seen = [t for t, v in zip(trial.steps, trial.in_view, strict=True) if v]
    cell.truths += len(seen)
    cell.missed += sum(id(t) not in found for t in seen)
    for bout in (e.payload for e in events if e.event_type == "bout_summary"):
        cell.unseen += bout["unseen_steps"]
        inside = [t for t in trial.steps if bout["start_time_s"] - 0.05 <= t.strike_s]
        inside = [t for t in inside if t.toe_off_s <= bout["end_time_s"] + 0.05]
        if len(inside) >= 4 and bout["cadence_spm"] is not None:
            span = inside[-1].strike_s - inside[0].strike_s
            cell.cadence.append(abs(bout["cadence_spm"] - 60.0 * (len(inside) - 1) / span))


def bench_accuracy(seeds: int) -> None:
    """(c) the accuracy table."""
    print(f"(c) accuracy, {seeds} runs of 30 steps per cell (events in frame periods)")
    print(
        "    fps  noise      where       steps miss inv unseen | strike/toe-off med  p95  max"
        " | contact ms med  p95   max | cadence max"
    )
    for fps in FPS:
        for noise in NOISES:
            for treadmill in (True, False):
                cell = Cell()
                for seed in range(seeds):
                    trial = run(_runner(seed, treadmill), 30, _camera(fps, noise, treadmill), seed)
                    config = RunningConfig("bench", trial.athlete_height_m, trial.belt_speed_m_s)
                    analyzer = RunningAnalyzer(config)
                    events = [e for s in trial.samples for e in analyzer.process(s)]
                    events += analyzer.finish("end")
                    _score(cell, trial, events, fps)
                ev = np.array(cell.events or [np.nan])
                ct = np.array(cell.contacts_ms or [np.nan])
                cad = max(cell.cadence) if cell.cadence else float("nan")
                where = "treadmill" if treadmill else "overground"
                print(
                    f"    {fps:3d}  {noise:9s}  {where:10s}  {cell.truths:5d} {cell.missed:4d}"
                    f" {cell.invented:3d} {cell.unseen:6d} |  {np.median(ev):17.2f}"
                    f" {np.percentile(ev, 95):4.2f} {ev.max():4.2f} | {np.median(ct):14.1f}"
                    f" {np.percentile(ct, 95):4.1f} {ct.max():5.1f} | {cad:11.2f}",
                    flush=True,
                )


def main() -> None:
    """Print the running benchmark's figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--skip-hour", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    bench_cost(args.runs)
    if not args.skip_hour:
        bench_hour(args.minutes)
    if not args.skip_accuracy:
        bench_accuracy(args.seeds)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
