"""The synthetic athlete obeys the physics its ground truth claims."""

from __future__ import annotations

import numpy as np
import pytest

from kinestream.simulation.motion import GRAVITY_M_S2, MotionBuilder


def test_flight_is_ballistic_and_the_toe_leaves_the_ground_at_takeoff() -> None:
    builder = MotionBuilder(1.80)
    builder.stand(1.0)
    builder.move_to(builder.standing_com_m - 0.3, 0.5, arm_rad=-0.8)
    takeoff = builder.push_off(0.3, 2.6, arm_rad=2.5)
    landing = builder.fly()
    builder.absorb(0.2, 0.4)
    assert landing - takeoff == pytest.approx(2 * 2.6 / GRAVITY_M_S2)
    t = np.linspace(takeoff + 1e-4, landing - 1e-4, 200)
    skeleton, airborne = builder.skeleton_at(t)
    assert airborne.all()
    tau = t - takeoff
    z = skeleton.com[:, 1]
    expected = z[0] + 2.6 * (tau - tau[0]) - 0.5 * GRAVITY_M_S2 * (tau**2 - tau[0] ** 2)
    np.testing.assert_allclose(z, expected, atol=1e-6)
    assert (skeleton.toe[:, 1] > 0).all()
    before, _ = builder.skeleton_at(np.array([takeoff - 0.05, takeoff - 1e-4]))
    np.testing.assert_allclose(before.toe[:, 1], 0.0, atol=1e-9)


def test_ground_phase_com_follows_its_trajectory() -> None:
    builder = MotionBuilder(1.75)
    builder.stand(0.5)
    target = builder.standing_com_m - 0.25
    builder.move_to(target, 0.6)
    skeleton, airborne = builder.skeleton_at(np.array([0.2, 1.1 - 1e-9]))
    assert not airborne.any()
    assert skeleton.com[0, 1] == pytest.approx(builder.standing_com_m, abs=1e-6)
    assert skeleton.com[1, 1] == pytest.approx(target, abs=1e-6)
