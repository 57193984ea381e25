"""The synthetic runner obeys the events its ground truth claims."""

from __future__ import annotations

import numpy as np
import pytest

from kinestream.simulation.body import SHANK, THIGH
from kinestream.simulation.running import (
    LEFT,
    RIGHT,
    RunnerParams,
    _foot_points,
    _Runner,
    run,
)


@pytest.mark.parametrize("strike_index", [0.0, 0.5, 1.0])
@pytest.mark.parametrize(("contact_s", "cadence"), [(0.18, 190.0), (0.32, 150.0)])
def test_a_foot_is_down_exactly_from_strike_to_toe_off(
    strike_index: float, contact_s: float, cadence: float
) -> None:
    params = RunnerParams(cadence_spm=cadence, contact_s=contact_s, strike_index=strike_index)
    runner = _Runner(params, 12, np.random.default_rng(3))
    t = np.arange(runner.first_s, runner.end_s, 0.0005)
    hip = np.stack([runner.hip_x(t), runner.hip_z(t)], axis=-1)
    for side in (LEFT, RIGHT):
        toe, angle = runner.foot(side, t)
        heel, ankle = _foot_points(toe, angle, params.height_m)
        lowest = np.minimum(toe[:, 1], heel[:, 1])
        down = np.zeros(t.shape, dtype=bool)
        near_event = np.zeros(t.shape, dtype=bool)
        for c in runner.contacts[side]:
            down |= (t >= c.strike_s) & (t < c.toe_off_s)
            near_event |= (np.abs(t - c.strike_s) < 0.003) | (np.abs(t - c.toe_off_s) < 0.003)
        np.testing.assert_allclose(lowest[down], 0.0, atol=1e-9)
        assert lowest[~down].min() >= -1e-9
        assert lowest[~down & ~near_event].min() > 5e-5  # clearly off the ground
        reach = np.linalg.norm(ankle - hip, axis=1)
        assert reach.max() <= params.height_m * (THIGH + SHANK)


def test_steps_alternate_with_a_flight_between_them() -> None:
    params = RunnerParams(cadence_spm=175.0, contact_s=0.24, asymmetry=0.06)
    trial = run(params, steps=40, seed=5)
    feet = [s.foot for s in trial.steps]
    assert feet[::2] == [feet[0]] * 20
    assert feet[1::2] == [feet[1]] * 20
    assert feet[0] != feet[1]
    for before, step in zip(trial.steps, trial.steps[1:], strict=False):
        assert step.flight_before_s == pytest.approx(step.strike_s - before.toe_off_s)
        assert step.flight_before_s is not None
        assert step.flight_before_s >= 0.03 - 1e-9
        assert step.step_time_s == pytest.approx(step.strike_s - before.strike_s)
    left = np.mean([s.contact_time_s for s in trial.steps if s.foot == LEFT])
    right = np.mean([s.contact_time_s for s in trial.steps if s.foot == RIGHT])
    assert 100 * (left - right) / (0.5 * (left + right)) == pytest.approx(6.0, abs=2.0)
    cadence = 60 * 39 / (trial.steps[-1].strike_s - trial.steps[0].strike_s)
    assert cadence == pytest.approx(175.0, rel=0.02)


def test_the_far_foot_is_hidden_when_it_passes_the_near_leg() -> None:
    trial = run(RunnerParams(), steps=20, seed=2)
    hidden = set(np.round(trial.hidden_far_foot, 9).tolist())
    assert 0.05 < len(hidden) / len(trial.samples) < 0.6
    for sample in trial.samples:
        assert sample.landmarks is not None
        far = sample.landmarks[[28, 30, 32], 3]
        if round(sample.timestamp_s, 9) in hidden:
            assert far.max() < 0.5
        else:
            assert far.min() >= 0.5


def test_overground_the_runner_crosses_the_view() -> None:
    trial = run(RunnerParams(treadmill=False), steps=30, seed=1)
    assert trial.belt_speed_m_s is None
    assert 5 <= sum(trial.in_view) < 30
    xs = [float(s.landmarks[23, 0]) for s in trial.samples if s.landmarks is not None]
    assert xs[-1] - xs[0] > 0.5  # across more than half the image
