"""Per-event takeoff and landing accuracy on synthetic everyday phone footage.

Real phone clips are judged per event: takeoff and landing each within ±1 frame of frame
inspection, every jump found, nothing invented. This bench measures that on the closest
synthetic proxy, in two conditions (:data:`CONDITIONS`): a handheld phone filming from the
front (phone frame timing, a camera tilting with 30 % of the jump, MediaPipe-like landmark
noise) and a tripod at the side (regular timing, the same noise); no standing before the
first movement in either. Per movement and frame rate: sessions, repetitions found of those
performed (a found repetition matches the true one when its takeoff is within
:data:`MATCH_S`), extra repetitions, the takeoff and landing errors in frame periods of the
nominal rate (median signed, 90th percentile and largest of the absolute error), and the
found repetitions with either instant more than one frame off; then a totals line per block.

    .venv/bin/python -m bench phone [--seeds 20] [--first-seed 7000] [--fps 30 60]
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from bench.bench_lead_in import analyse, phone_timing, session, with_lead_in
from kinestream.events import AnalysisEvent
from kinestream.simulation.motion import RepTruth
from kinestream.simulation.scenarios import Trial
from kinestream.sports import JUMPS, Sport

MATCH_S: Final = 0.15
FIRST_SEED: Final = 7000
SEEDS: Final = 20
FPS: Final = (30, 60)


@dataclass(frozen=True)
class Condition:
    """How the sessions of one block are filmed."""

    name: str
    view: str
    phone_timing: bool
    tilt_follow: float
    realistic: bool = True


HANDHELD: Final = Condition("phone, handheld", view="frontal", phone_timing=True, tilt_follow=0.3)
TRIPOD: Final = Condition("tripod, side", view="side", phone_timing=False, tilt_follow=0.0)
CONDITIONS: Final = (HANDHELD, TRIPOD)


@dataclass
class SessionErrors:
    """One session's true repetitions against those found: the takeoff and landing errors
    (found minus true, in frame periods) of each matched one, the missed and the extra."""

    takeoff_frames: list[float] = field(default_factory=list)
    landing_frames: list[float] = field(default_factory=list)
    missed: int = 0
    extra: int = 0


def session_errors(
    truths: Sequence[RepTruth], events: Iterable[AnalysisEvent], fps: float
) -> SessionErrors:
    """Match each true repetition to the found one whose takeoff is nearest and within
    :data:`MATCH_S` (each found one matches at most one), and express the errors in periods
    of ``fps``. Found repetitions that match none are extra."""
    found = [e.payload["metrics"] for e in events if e.event_type == "rep_complete"]
    unmatched = list(range(len(found)))
    out = SessionErrors()
    for truth in truths:
        near = [i for i in unmatched if abs(found[i]["takeoff_time_s"] - truth.takeoff_s) < MATCH_S]
        if not near:
            out.missed += 1
            continue
        best = min(near, key=lambda i: abs(found[i]["takeoff_time_s"] - truth.takeoff_s))
        unmatched.remove(best)
        out.takeoff_frames.append((found[best]["takeoff_time_s"] - truth.takeoff_s) * fps)
        out.landing_frames.append((found[best]["landing_time_s"] - truth.landing_s) * fps)
    out.extra = len(unmatched)
    return out


@dataclass
class Cell:
    """The sessions of one movement at one frame rate, pooled."""

    sport: Sport
    fps: int
    sessions: int = 0
    performed: int = 0
    errors: SessionErrors = field(default_factory=SessionErrors)

    def add(self, result: SessionErrors, performed: int) -> None:
        """Pool one session's ``result`` of ``performed`` true repetitions."""
        self.sessions += 1
        self.performed += performed
        self.errors.takeoff_frames += result.takeoff_frames
        self.errors.landing_frames += result.landing_frames
        self.errors.missed += result.missed
        self.errors.extra += result.extra

    @property
    def found(self) -> int:
        """True repetitions found."""
        return len(self.errors.takeoff_frames)

    @property
    def off(self) -> int:
        """Found repetitions with the takeoff or the landing more than one frame off."""
        pairs = zip(self.errors.takeoff_frames, self.errors.landing_frames, strict=True)
        return sum(1 for t, g in pairs if abs(t) > 1.0 or abs(g) > 1.0)


def filmed(condition: Condition, sport: Sport, fps: int, seed: int) -> Trial:
    """One session of ``sport`` at ``fps`` filmed as ``condition`` says, from the start of
    its first movement."""
    with phone_timing() if condition.phone_timing else nullcontext():
        trial = session(
            sport, fps, seed, condition.realistic, condition.view, condition.tilt_follow
        )
    return with_lead_in(trial, seed, 0.0)


def run_cell(condition: Condition, sport: Sport, fps: int, seeds: Iterable[int]) -> Cell:
    """Analyse a session per seed and pool the errors against the simulator's truth."""
    cell = Cell(sport, fps)
    for seed in seeds:
        trial = filmed(condition, sport, fps, seed)
        cell.add(session_errors(trial.reps, analyse(trial), fps), len(trial.reps))
    return cell


HEADER: Final = (
    f"{'movement':<11} {'fps':>4} {'sessions':>8} {'found':>7} {'extra':>5}  "
    f"{'T med':>6} {'|T| p90':>7} {'|T| max':>7}  {'L med':>6} {'|L| p90':>7} {'|L| max':>7}"
    f"  {'>1 frame':>8}"
)


def _stats(errors: Sequence[float]) -> str:
    """Median signed, 90th percentile and largest absolute error, or dashes without any."""
    if not errors:
        return f"{'-':>6} {'-':>7} {'-':>7}"
    values = np.asarray(errors)
    magnitude = np.abs(values)
    return (
        f"{float(np.median(values)):>+6.2f} {float(np.percentile(magnitude, 90)):>7.2f} "
        f"{float(magnitude.max()):>7.2f}"
    )


def format_row(cell: Cell) -> str:
    """One table row: a movement at a frame rate."""
    found = f"{cell.found}/{cell.performed}"
    return (
        f"{cell.sport.value:<11} {cell.fps:>4} {cell.sessions:>8} {found:>7} "
        f"{cell.errors.extra:>5}  {_stats(cell.errors.takeoff_frames)}  "
        f"{_stats(cell.errors.landing_frames)}  {cell.off:>8}"
    )


def format_totals(cells: Sequence[Cell]) -> str:
    """The block's totals: found of performed, found within ±1 frame at both instants,
    missed and extra."""
    found = sum(c.found for c in cells)
    performed = sum(c.performed for c in cells)
    within = found - sum(c.off for c in cells)
    missed = sum(c.errors.missed for c in cells)
    extra = sum(c.errors.extra for c in cells)
    return (
        f"total: {found}/{performed} found, {within}/{performed} within ±1 frame at takeoff "
        f"and landing, {missed} missed, {extra} extra"
    )


def format_block(condition: Condition, cells: Sequence[Cell]) -> list[str]:
    """A block's lines: its condition, the header, a row per cell and the totals."""
    timing = "phone" if condition.phone_timing else "regular"
    noise = "realistic" if condition.realistic else "white"
    title = (
        f"{condition.name}: {condition.view} view, {timing} frame timing, camera tilt "
        f"{condition.tilt_follow:g}, {noise} landmark noise, no lead-in"
    )
    return [title, HEADER, *(format_row(c) for c in cells), format_totals(cells)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=SEEDS, help="sessions per cell")
    parser.add_argument("--first-seed", type=int, default=FIRST_SEED, help="first seed")
    parser.add_argument("--fps", type=int, nargs="+", default=list(FPS), help="frame rates")
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    print(
        f"phone bench: seeds {seeds.start}-{seeds.stop - 1}; errors are found minus true, in "
        f"frame periods of the nominal rate; a rep is found when its takeoff is within "
        f"{MATCH_S:g} s of the true one",
        flush=True,
    )
    for index, condition in enumerate(CONDITIONS):
        if index:
            print()
        cells = [run_cell(condition, s, fps, seeds) for s in JUMPS for fps in args.fps]
        print("\n".join(format_block(condition, cells)), flush=True)


if __name__ == "__main__":
    main()
