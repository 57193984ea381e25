"""The realistic landmark noise has the statistics it claims (kinestream.simulation.noise).

A motionless body is filmed for a long time so that every statistic is measured on the
noise alone. Tolerances are statistical: with N effectively independent samples a std is
known to about 1/sqrt(2N), a share p to about sqrt(p(1-p)/N); each bound is several of
those wide and stated beside it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kinestream.commands.simulate import simulate
from kinestream.operators.pose import NUM_LANDMARKS, Landmark
from kinestream.simulation.body import Array
from kinestream.simulation.camera import _FAR_SIDE, Camera, film
from kinestream.simulation.noise import (
    FEET,
    JITTER_BH,
    LEFT_LEG,
    RIGHT_LEG,
    RealisticNoise,
    _episodes,
    _ornstein_uhlenbeck,
)
from kinestream.sports import Sport

BODY_PX = 600.0
QUIET = RealisticNoise(
    sliding_bh=0.0,
    heel_toe_swap_share=0.0,
    leg_swaps_per_s=0.0,
    far_leg_dip_share=0.0,
    foot_dip_share=0.0,
    far_leg_strays_per_s=0.0,
)
"""Jitter only: every other effect switched off."""


def still_body(seconds: float, fps: float) -> tuple[Array, Array, Array]:
    """Times, distinct landmark pixels (n, 33, 2) that never move, visibility (n, 33)."""
    times = np.arange(int(seconds * fps)) / fps
    px = np.zeros((times.size, NUM_LANDMARKS, 2))
    px[:, :, 0] = 100.0 + 10.0 * np.arange(NUM_LANDMARKS)
    px[:, :, 1] = 900.0 - 20.0 * np.arange(NUM_LANDMARKS)
    return times, px, np.full((times.size, NUM_LANDMARKS), 0.95)


def apply(noise: RealisticNoise, seconds: float, fps: float, seed: int = 0) -> tuple[Array, Array]:
    """The noise ``noise`` adds to a still body, and the visibility it reports."""
    times, px, vis = still_body(seconds, fps)
    out, seen = noise.apply(times, px, vis, BODY_PX, np.random.default_rng(seed))
    return out - px, seen


def test_jitter_has_the_measured_std_per_landmark_and_axis() -> None:
    # 600 s at 30 fps with a 0.1 s correlation time: about 9,000 independent samples per
    # landmark and axis, so each std is known to about 1 %; 5 % allowed.
    error, _ = apply(QUIET, 600.0, 30.0)
    measured = error.std(axis=0) / BODY_PX
    np.testing.assert_allclose(measured, JITTER_BH, rtol=0.05)


def test_jitter_is_correlated_over_its_correlation_time_in_seconds() -> None:
    # Lag-one autocorrelation exp(-dt / 0.1 s): 0.72 at 30 fps, 0.96 at 240 fps. Over many
    # landmarks and 300 s each estimate is within about 0.01; 0.03 allowed.
    for fps in (30.0, 240.0):
        error, _ = apply(QUIET, 300.0, fps)
        flat = error.reshape(error.shape[0], -1)
        flat = flat - flat.mean(axis=0)
        lag1 = float((flat[1:] * flat[:-1]).sum() / (flat**2).sum())
        assert lag1 == pytest.approx(np.exp(-1.0 / (fps * 0.10)), abs=0.03)


def test_common_mode_moves_the_whole_body_together() -> None:
    # The per-frame mean of the 33 landmarks' noise holds the common part, 0.0025 bh, plus
    # the independent parts' mean (about 0.0056/sqrt(33) bh). 10 % allowed.
    error, _ = apply(QUIET, 600.0, 30.0)
    common = error.mean(axis=1).std(axis=0) / BODY_PX
    independent = np.sqrt(np.clip(JITTER_BH**2 - 0.0025**2, 0, None))
    expected = np.sqrt(0.0025**2 + (independent**2).sum(axis=0) / NUM_LANDMARKS**2)
    np.testing.assert_allclose(common, expected, rtol=0.10)
    without = replace(QUIET, common_bh=0.0)
    error, _ = apply(without, 600.0, 30.0)
    assert (error.mean(axis=1).std(axis=0) / BODY_PX < 0.6 * expected).all()


def test_a_foot_slides_as_one_piece_and_slowly() -> None:
    # Sliding alone: ankle, heel and toe of a foot share it exactly; its std is 0.0095 bh
    # (600 s with a 0.5 s time constant: about 600 independent samples, so within 5 %;
    # 15 % allowed); the two feet slide independently (|correlation| < 0.15).
    sliding = replace(QUIET, jitter_scale=0.0, sliding_bh=RealisticNoise().sliding_bh)
    error, _ = apply(sliding, 600.0, 30.0)
    for ankle, heel, toe in FEET:
        np.testing.assert_allclose(error[:, heel], error[:, ankle], atol=1e-9)
        np.testing.assert_allclose(error[:, toe], error[:, ankle], atol=1e-9)
        assert error[:, ankle].std(axis=0) / BODY_PX == pytest.approx([0.0095, 0.0095], rel=0.15)
    left, right = error[:, FEET[0][0], 0], error[:, FEET[1][0], 0]
    assert abs(np.corrcoef(left, right)[0, 1]) < 0.15
    hips = error[:, Landmark.LEFT_HIP]
    assert np.abs(hips).max() == 0.0


def test_visibility_dips_and_swaps_happen_as_often_as_measured() -> None:
    # 600 s at 30 fps. The far leg dips in 0.14 of the frames (episodes of 0.17 s: about
    # 500 of them, so the share is known to about 0.015; 0.04 allowed); its visibility is
    # then below 0.5. Near-side heels and toes also dip, in 0.06 of the frames (0.02).
    only_dips = replace(QUIET, jitter_scale=0.0, far_leg_dip_share=0.14, foot_dip_share=0.06)
    _, seen = apply(only_dips, 600.0, 30.0)
    assert (seen[:, Landmark.RIGHT_KNEE] < 0.5).mean() == pytest.approx(0.14, abs=0.04)
    assert (seen[:, Landmark.LEFT_KNEE] < 0.5).mean() == 0.0
    assert (seen[:, Landmark.LEFT_HEEL] < 0.5).mean() == pytest.approx(0.06, abs=0.02)
    assert seen[seen < 0.5].min() >= 0.05
    # Left/right swaps: 0.7 episodes a second of 0.1 s, so 0.065 of the frames (0.02).
    swaps = replace(QUIET, jitter_scale=0.0, leg_swaps_per_s=0.7)
    times, px, vis = still_body(600.0, 30.0)
    out, _ = swaps.apply(times, px, vis, BODY_PX, np.random.default_rng(1))
    swapped = (out[:, list(LEFT_LEG)] == px[:, list(RIGHT_LEG)]).all(axis=(1, 2))
    assert swapped.mean() == pytest.approx(0.7 * 0.1 / 1.07, abs=0.02)
    # Heel/toe confusion: 0.003 of the frames, each foot (0.002).
    confused = replace(QUIET, jitter_scale=0.0, heel_toe_swap_share=0.003)
    out, _ = confused.apply(times, px, vis, BODY_PX, np.random.default_rng(2))
    _, heel, toe = FEET[0]
    share = (out[:, heel] == px[:, toe]).all(axis=1).mean()
    assert share == pytest.approx(0.003, abs=0.002)


def test_ornstein_uhlenbeck_is_stationary_on_uneven_frame_times() -> None:
    # Unit variance at every step and exp(-dt/tau) correlation for any spacing (4,000
    # paths: each estimate within about 0.03; 0.08 allowed).
    rng = np.random.default_rng(3)
    times = np.cumsum(rng.uniform(0.01, 0.06, size=40))
    paths = _ornstein_uhlenbeck(times, 0.1, (4000,), rng)
    np.testing.assert_allclose(paths.var(axis=1), 1.0, atol=0.08)
    corr = (paths[1:] * paths[:-1]).mean(axis=1)
    np.testing.assert_allclose(corr, np.exp(-np.diff(times) / 0.1), atol=0.08)


def test_episodes_have_the_asked_share_and_length() -> None:
    # 2,000 s at 100 fps, 0.2 of the time in episodes of 0.5 s on average: about 800
    # episodes; share within 0.03, mean length within 15 %.
    times = np.arange(200_000) / 100.0
    on = _episodes(times, 0.2, 0.5, 1, np.random.default_rng(4))[:, 0]
    assert on.mean() == pytest.approx(0.2, abs=0.03)
    starts = np.flatnonzero(np.diff(on.astype(int)) == 1)
    assert on.sum() / 100.0 / starts.size == pytest.approx(0.5, rel=0.15)


def test_white_noise_stays_the_default() -> None:
    # Without realistic noise the camera draws exactly what it always drew.
    assert Camera().realistic_noise is None
    times, px, _ = still_body(2.0, 60.0)
    world = np.zeros_like(px)
    world[..., 1] = 1.0
    first = film(times, world, Camera(), np.random.default_rng(5))
    rng = np.random.default_rng(5)
    rng.uniform(0.9, 1.0, size=(times.size, NUM_LANDMARKS))
    rng.uniform(0.55, 0.85, size=(times.size, _FAR_SIDE.size))
    expected = 1000.0 - 360.0 + rng.normal(0.0, 0.5, size=px.shape)[..., 1]
    landmarks = np.stack([s.landmarks for s in first if s.landmarks is not None])
    np.testing.assert_allclose(landmarks[..., 1] * 1080.0, expected, atol=1e-6)


def test_kinestream_simulate_films_with_the_noise_asked_for() -> None:
    realistic = simulate(Sport.SQUAT_JUMP, reps=1, fps=60.0, seed=0, noise="realistic")
    assert realistic.camera.realistic_noise == RealisticNoise()
    white = simulate(Sport.DROP_JUMP, reps=1, fps=60.0, seed=0)
    assert white.camera.realistic_noise is None
    with pytest.raises(ValueError, match="noise must be one of white, realistic"):
        simulate(Sport.CMJ, reps=1, fps=60.0, seed=0, noise="pink")


def test_the_far_leg_strays_as_one_piece_for_a_few_frames() -> None:
    # Strays alone, 600 s at 30 fps: 0.6 episodes a second of 0.1 s, so 0.057 of the frames
    # (about 360 episodes: within 0.015; 0.02 allowed). The far leg's four landmarks move
    # together, by 0.1-0.3 bh and never downwards; the near leg never moves.
    strays = replace(QUIET, jitter_scale=0.0, far_leg_strays_per_s=0.6)
    error, seen = apply(strays, 600.0, 30.0)
    far = error[:, list(RIGHT_LEG)]
    moved = np.abs(far).max(axis=(1, 2)) > 0
    assert moved.mean() == pytest.approx(0.6 * 0.1 / 1.06, abs=0.02)
    np.testing.assert_allclose(far[moved], np.repeat(far[moved][:, :1], 4, axis=1))
    size = np.linalg.norm(far[moved][:, 0], axis=1) / BODY_PX
    assert size.min() >= 0.1
    assert size.max() <= 0.3
    assert (far[moved][:, 0, 1] <= 0).all()
    assert (seen[moved][:, list(RIGHT_LEG)] <= 0.7).all()
    assert np.abs(error[:, list(LEFT_LEG)]).max() == 0.0
