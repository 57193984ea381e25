"""The surface's level that a jump machine follows while the feet are planted: the median
contact height of the last ``STANCE_S`` of planted frames, also in a machine restored from
a snapshot taken before it kept those heights in order."""

from __future__ import annotations

import pickle

import numpy as np

from kinestream.operators.calibration import Calibration
from kinestream.operators.phases.base import STANCE_S, Frame
from kinestream.operators.phases.cmj import CountermovementJump

FPS = 60.0


def calibration() -> Calibration:
    return Calibration(0.0, 1000.0, 500.0, 500.0, 0.002, 400.0, FPS, 0.002, 0.004)


def standing(count: int, seed: int) -> list[Frame]:
    """Still feet whose contact height wanders by millimetres (landmark noise)."""
    rng = np.random.default_rng(seed)
    heights = 0.01 + np.cumsum(rng.normal(0.0, 0.0005, count))
    return [Frame(k, k / FPS, 0.0, 0.0, 0.0, 0.01, float(h)) for k, h in enumerate(heights)]


def test_the_ground_is_the_median_of_the_last_planted_contacts() -> None:
    machine = CountermovementJump(calibration())
    frames = standing(200, seed=3)
    for k, frame in enumerate(frames):
        machine.observe(frame)
        # Planted from the second frame on, when the feet's speed is known.
        recent = [f.contact_m for f in frames[1 : k + 1] if frame.time_s - f.time_s <= STANCE_S]
        if len(recent) >= 3:
            assert machine.ground_m == sorted(recent)[len(recent) // 2]


def test_a_machine_from_an_older_snapshot_follows_the_same_ground() -> None:
    frames = standing(200, seed=4)
    steady = CountermovementJump(calibration())
    for frame in frames[:100]:
        steady.observe(frame)
    state = steady.__dict__.copy()
    del state["stance_levels"]  # not kept by snapshots taken before it existed
    restored = CountermovementJump.__new__(CountermovementJump)
    restored.__dict__.update(pickle.loads(pickle.dumps(state)))
    for frame in frames[100:]:
        steady.observe(frame)
        restored.observe(frame)
        assert restored.ground_m == steady.ground_m
