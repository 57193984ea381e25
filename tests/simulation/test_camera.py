"""What the simulated camera shows of the feet: from the side the toe landmark stays on the
floor while the heel comes up; from the front it rises with the ankle by
``FRONTAL_TOE_SHARE`` of the ankle's rise (as MediaPipe places it there,
``bench/measure_frontal_feet.py``). Exact to a micrometre: no noise."""

from __future__ import annotations

import numpy as np
import pytest

from kinestream.operators.pose import Landmark
from kinestream.simulation.body import (
    ANKLE_HEIGHT,
    MAX_HEEL_RISE,
    Array,
    build_skeleton,
    posture_from_extension,
)
from kinestream.simulation.camera import FRONTAL_TOE_SHARE, Camera, film, skeleton_landmarks

HEIGHT_M = 1.80
EXTENSIONS = np.array([0.0, 0.5, 1.0])
"""Flat feet, heels half up and fully up (``MAX_HEEL_RISE``), toes on the floor."""


def feet_heights(view: str) -> tuple[Array, Array]:
    """The filmed toe landmark's height above the floor and the ankle's true rise above its
    flat-foot height, metres, for each of ``EXTENSIONS``."""
    posture = posture_from_extension(EXTENSIONS, np.zeros(3))
    skeleton = build_skeleton(posture, HEIGHT_M, np.zeros((3, 2)))
    camera = Camera(fps=30.0, noise_px=0.0, view=view)
    samples = film(
        np.arange(3) / 30.0,
        skeleton_landmarks(skeleton),
        camera,
        np.random.default_rng(0),
        body_height_m=HEIGHT_M,
    )
    toe_px = np.array([s.pixels()[Landmark.LEFT_FOOT_INDEX, 1] for s in samples])
    toe_m = (camera.floor_y_px - toe_px) / camera.px_per_m
    return toe_m, skeleton.ankle[:, 1] - ANKLE_HEIGHT * HEIGHT_M


def test_from_the_side_the_toe_landmark_stays_on_the_floor() -> None:
    toe_m, ankle_rise = feet_heights("side")
    assert ankle_rise[-1] > 0.05  # the heel 35 degrees up lifts the ankle some 10 cm
    assert toe_m == pytest.approx(0.0, abs=1e-6)


def test_from_the_front_the_toe_landmark_rises_with_the_ankle() -> None:
    toe_m, ankle_rise = feet_heights("frontal")
    assert toe_m == pytest.approx(FRONTAL_TOE_SHARE * ankle_rise, abs=1e-6)
    assert toe_m[0] == pytest.approx(0.0, abs=1e-6)
    # 0.76 of the ankle's rise of 0.058 body heights at MAX_HEEL_RISE: the toe stand's level
    # the analysis takes from the front (kinestream.operators.view.TOE_STAND_LIFT).
    assert np.degrees(MAX_HEEL_RISE) == pytest.approx(35.0)
    assert toe_m[-1] / HEIGHT_M == pytest.approx(0.044, abs=0.001)
