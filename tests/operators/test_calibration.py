"""Quiet-standing calibration: the floor and the scale, unbiased by landmark noise.

Tolerances: with 2 px landmark noise, the floor found on 10 sessions is on average within
0.3 px of the true floor line (the lowest of two noisy points, heel or toe, would sit
noise/sqrt(pi) = 1.1 px too low) and each within 1 px; the scale within 0.5 % of the camera's.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kinestream.operators.anthropometry import measure
from kinestream.operators.calibration import QuietStandingDetector
from kinestream.simulation.camera import Camera
from kinestream.simulation.scenarios import quiet_standing


def test_floor_and_scale_from_noisy_standing() -> None:
    camera = Camera(fps=60, noise_px=2.0)
    floors = []
    for seed in range(10):
        trial = quiet_standing(duration_s=3.0, camera=camera, seed=seed)
        detector = QuietStandingDetector(trial.athlete_height_m)
        calibration = None
        for sample in trial.samples:
            body = measure(sample)
            assert body is not None
            calibration = detector.push(sample.timestamp_s, body)
            if calibration is not None:
                break
        assert calibration is not None
        assert calibration.floor_y_px == pytest.approx(camera.floor_y_px, abs=1.0)
        assert calibration.m_per_px == pytest.approx(1 / camera.px_per_m, rel=0.005)
        floors.append(calibration.floor_y_px)
    assert float(np.mean(floors)) == pytest.approx(camera.floor_y_px, abs=0.3)


def test_a_flat_foot_meets_the_floor_between_heel_and_toe() -> None:
    sample = quiet_standing(duration_s=0.5, camera=Camera(noise_px=0.0), seed=0).samples[0]
    landmarks = sample.landmarks
    assert landmarks is not None
    heels, toes = [29, 30], [31, 32]
    flat = landmarks.copy()
    flat[heels, 1] += 1.0 / sample.image_height  # heels 1 px lower than the toes
    body = measure(replace(sample, landmarks=flat))
    assert body is not None
    assert body.foot_y_px == pytest.approx(np.max(flat[heels + toes, 1]) * sample.image_height)
    assert body.contact_y_px == pytest.approx(body.foot_y_px - 0.5, abs=1e-6)
    raised = landmarks.copy()
    raised[heels, 1] -= 0.06  # heels well up: on the toes, the contact is the lowest point
    body = measure(replace(sample, landmarks=raised))
    assert body is not None
    assert body.contact_y_px == body.foot_y_px
