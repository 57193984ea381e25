"""Causal quadratic smoothing: lag, exactness on quadratics, dropped frames."""

from __future__ import annotations

import numpy as np
import pytest

from kinestream.operators.smoothing import LocalQuadraticSmoother, half_window, slope_noise


def test_quadratic_passes_unchanged_with_a_fixed_lag() -> None:
    smoother = LocalQuadraticSmoother(3)
    times = np.arange(40) / 60.0
    ready = [
        o for i, t in enumerate(times) for o in smoother.push(t, 1.0 + 2.0 * t - 4.905 * t * t, i)
    ]
    assert [r[0] for r in ready] == list(range(len(times) - 3))
    for tag, t, value, slope in ready:
        assert t == times[tag]
        assert value == pytest.approx(1.0 + 2.0 * t - 4.905 * t * t, abs=1e-9)
        assert slope == pytest.approx(2.0 - 9.81 * t, abs=1e-9)


def test_dropped_frames_use_the_real_timestamps() -> None:
    smoother = LocalQuadraticSmoother(2)
    times = [0.0, 1 / 60, 4 / 60, 5 / 60, 6 / 60, 9 / 60, 10 / 60]
    out = [o for i, t in enumerate(times) for o in smoother.push(t, 3.0 * t * t, i)]
    assert len(out) == len(times) - 2
    for _, t, value, slope in out:
        assert value == pytest.approx(3.0 * t * t, abs=1e-9)
        assert slope == pytest.approx(6.0 * t, abs=1e-9)


def test_noise_is_reduced_and_flush_covers_the_tail() -> None:
    rng = np.random.default_rng(0)
    smoother = LocalQuadraticSmoother(half_window(120.0))
    times = np.arange(600) / 120.0
    noise = 0.002
    values = rng.normal(0.0, noise, size=times.size)
    ready = [
        o
        for i, (t, v) in enumerate(zip(times, values, strict=True))
        for o in smoother.push(float(t), float(v), i)
    ]
    ready += smoother.flush()
    assert [r[0] for r in ready] == list(range(600))
    smoothed = np.array([r[2] for r in ready[10:-10]])
    slopes = np.array([r[3] for r in ready[10:-10]])
    assert smoothed.std() < 0.7 * noise
    assert slopes.std() == pytest.approx(slope_noise(noise, 120.0), rel=0.2)
