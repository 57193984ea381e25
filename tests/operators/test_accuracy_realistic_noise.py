"""Accuracy of the analysis under MediaPipe-like landmark noise (kinestream.simulation.noise).

The scenarios of test_accuracy.py (all three movements, 30-240 fps, two seeds each),
filmed with :class:`~kinestream.simulation.noise.RealisticNoise` instead of 0.5 px white
noise: coloured jitter with a common-mode part, foot sliding, heel/toe confusion,
left/right swaps and visibility dips, at the levels measured on real footage.

Bounds, from the noise model rather than from these runs:

* flight time: takeoff and touchdown are where the feet leave and meet the ground, and a
  planted foot's vertical error is its jitter and slide together, sqrt(0.0032² + 0.0095²)
  = 0.010 body heights, 1.8 cm on a 1.80 m athlete. At the slowest simulated takeoff
  (2.0 m/s) that shifts an event by 9 ms and a flight time, two events, by 13 ms (one
  std). Allowed: four of those, 51 ms, plus half a frame;
* jump height: h = g·T²/8 moves by g·T·ΔT/4 + g·ΔT²/8 for a flight-time error ΔT, so the
  bound follows from the flight-time bound and the true flight time;
* a true repetition is matched by the reported one whose takeoff is nearest, within
  ``MATCH_S``; the bounds apply to that one. A session with no repetition carries a
  ``no_reps_reason`` in its summary.

Not asserted here, because the analysis does not meet them yet under this noise (counted
in the table ``python -m tests.operators.test_accuracy_realistic_noise`` prints): true
repetitions missed with no quality warning between ``MATCH_S`` before their takeoff and
``MATCH_S`` after their landing, and invented ones (reported but the nearest to no true
repetition, duplicates included).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pytest

from kinestream.events import AnalysisEvent
from kinestream.simulation.camera import Camera
from kinestream.simulation.motion import GRAVITY_M_S2
from kinestream.simulation.noise import RealisticNoise
from kinestream.simulation.scenarios import Trial, countermovement_jumps, drop_jumps, squat_jumps
from tests.operators.test_accuracy import analyse, reps_of

FPS: Final = (30, 60, 120, 240)
SEEDS: Final = (0, 1, 2)
"""Seeds of the printed table; the test runs the first two, to stay under a minute."""
MOVEMENTS: Final = ("cmj", "drop_jump", "squat_jump")
MATCH_S: Final = 0.1
FOOT_ERROR_M: Final = math.hypot(0.0032, 0.0095) * 1.80
SLOWEST_TAKEOFF_M_S: Final = 2.0
FLIGHT_STD_S: Final = math.sqrt(2.0) * FOOT_ERROR_M / SLOWEST_TAKEOFF_M_S


def flight_bound_s(fps: int) -> float:
    """Largest flight-time error allowed: four stds of the noise's timing error plus half
    a frame."""
    return 4.0 * FLIGHT_STD_S + 0.5 / fps


def height_bound_m(flight_time_s: float, fps: int) -> float:
    """Largest jump-height error the flight-time bound allows for a flight of this length."""
    dt = flight_bound_s(fps)
    return GRAVITY_M_S2 * (flight_time_s * dt / 4.0 + dt**2 / 8.0)


def trial_of(movement: str, fps: int, seed: int, noise: RealisticNoise | None) -> Trial:
    """The movement's accuracy scenario (as in test_accuracy.py) with ``noise``."""
    if movement == "cmj":
        return countermovement_jumps(3, Camera(fps=fps, realistic_noise=noise), seed)
    if movement == "drop_jump":
        camera = Camera(fps=fps, floor_y_px=1040.0, px_per_m=330.0, realistic_noise=noise)
        return drop_jumps(2, 0.40, camera, seed)
    return squat_jumps(2, Camera(fps=fps, realistic_noise=noise), seed)


@dataclass
class Outcome:
    """One session: per true rep its nearest reported one (or ``None``), the reps that
    are nobody's nearest, the true ones missed without a warning."""

    trial: Trial
    events: list[AnalysisEvent]
    matches: list[dict[str, Any] | None] = field(default_factory=list)
    invented: int = 0
    silent_misses: int = 0

    def __post_init__(self) -> None:
        reps = reps_of(self.events)
        for truth in self.trial.reps:
            near = [m for m in reps if abs(m["takeoff_time_s"] - truth.takeoff_s) <= MATCH_S]
            best = min(near, key=lambda m: abs(m["takeoff_time_s"] - truth.takeoff_s), default=None)
            self.matches.append(best)
            window = (truth.takeoff_s - MATCH_S, truth.landing_s + MATCH_S)
            self.silent_misses += best is None and not self.warned_between(*window)
        self.invented = len(reps) - sum(m is not None for m in self.matches)

    def warned_between(self, start_s: float, end_s: float) -> bool:
        """Whether a quality warning was emitted for a capture time in [start_s, end_s]."""
        return any(
            e.event_type == "quality_warning" and start_s <= e.capture_time_s <= end_s
            for e in self.events
        )

    def summary(self) -> dict[str, Any]:
        """The session summary's payload."""
        return next(e.payload for e in self.events if e.event_type == "session_summary")


def run(movement: str, fps: int, seed: int, noise: RealisticNoise | None) -> Outcome:
    """Simulate and analyse one session."""
    trial = trial_of(movement, fps, seed, noise)
    return Outcome(trial, analyse(trial))


@pytest.mark.parametrize("fps", FPS)
@pytest.mark.parametrize("movement", MOVEMENTS)
def test_accuracy_under_realistic_noise(movement: str, fps: int) -> None:
    for seed in SEEDS[:2]:
        outcome = run(movement, fps, seed, RealisticNoise())
        if not reps_of(outcome.events):
            assert outcome.summary().get("no_reps_reason"), (movement, fps, seed)
        for truth, metrics in zip(outcome.trial.reps, outcome.matches, strict=True):
            if metrics is not None:
                context = (movement, fps, seed, truth.takeoff_s)
                assert metrics["flight_time_s"] == pytest.approx(
                    truth.flight_time_s, abs=flight_bound_s(fps)
                ), context
                assert metrics["jump_height_m"] == pytest.approx(
                    truth.jump_height_m, abs=height_bound_m(truth.flight_time_s, fps)
                ), context


def table(noise: RealisticNoise | None) -> list[str]:
    """Per movement and fps: true reps found, missed without a warning, invented reps,
    sessions without a result, mean and largest flight-time (ms) and jump-height (cm)
    errors of the found ones."""
    lines = [
        "movement    fps  found  missed silently  invented  no-result  "
        "flight err ms (mean/max)  height err cm (mean/max)"
    ]
    for movement in MOVEMENTS:
        for fps in FPS:
            found = total = silent = invented = empty = 0
            flight: list[float] = []
            height: list[float] = []
            for seed in SEEDS:
                outcome = run(movement, fps, seed, noise)
                total += len(outcome.trial.reps)
                invented += outcome.invented
                silent += outcome.silent_misses
                empty += not reps_of(outcome.events)
                for truth, m in zip(outcome.trial.reps, outcome.matches, strict=True):
                    if m is not None:
                        found += 1
                        flight.append(abs(m["flight_time_s"] - truth.flight_time_s) * 1e3)
                        height.append(abs(m["jump_height_m"] - truth.jump_height_m) * 1e2)
            errors = (
                f"{np.mean(flight):6.1f} / {np.max(flight):5.1f}           "
                f"{np.mean(height):5.2f} / {np.max(height):5.2f}"
                if flight
                else "-"
            )
            lines.append(
                f"{movement:10s} {fps:4d}  {found:2d}/{total:2d}  {silent:15d}  {invented:8d}  "
                f"{empty:9d}  "
                f"{errors}"
            )
    return lines


if __name__ == "__main__":
    for title, model in (("white noise, 0.5 px", None), ("realistic noise", RealisticNoise())):
        print(f"{title} (seeds {', '.join(map(str, SEEDS))}):")
        print("\n".join(table(model)))
        print()
