"""Sub-frame takeoff and touchdown instants and the flight-time height formula."""

from __future__ import annotations

import numpy as np
import pytest

from kinestream.operators.ballistics import (
    GRAVITY_M_S2,
    ballistic_crossing,
    fit_parabola,
    flight_height_m,
)


def test_flight_height_is_g_t_squared_over_eight() -> None:
    assert flight_height_m(0.5) == pytest.approx(9.81 * 0.25 / 8)


@pytest.mark.parametrize("takeoff", [0.0013, 0.0080, 0.0160])
def test_takeoff_between_frames_is_recovered(takeoff: float) -> None:
    v0 = 2.6
    times = np.arange(1, 5) / 60.0
    heights = v0 * (times - takeoff) - 0.5 * GRAVITY_M_S2 * (times - takeoff) ** 2
    air = times > takeoff
    found = ballistic_crossing(times[air], heights[air], 0.0, 0.0, rising=True)
    assert found == pytest.approx(takeoff, abs=1e-9)


def test_touchdown_between_frames_is_recovered() -> None:
    landing = 0.4731
    times = np.arange(24, 33) / 60.0
    tau = times - landing
    heights = -2.3 * tau - 0.5 * GRAVITY_M_S2 * tau**2
    air = times < landing
    found = ballistic_crossing(times[air], heights[air], times[~air][0], 0.0, rising=False)
    assert found == pytest.approx(landing, abs=1e-9)


def test_single_point_falls_back_to_interpolation_inside_the_interval() -> None:
    found = ballistic_crossing([0.1], [0.02], 0.08, 0.0, rising=True)
    assert 0.08 <= found <= 0.1


def test_parabola_fit_recovers_gravity_and_apex() -> None:
    t = np.linspace(0, 0.5, 30)
    z = 1.2 + 2.45 * t - 0.5 * GRAVITY_M_S2 * t * t
    fit = fit_parabola(t, z)
    assert fit is not None
    assert fit.acceleration_m_s2 == pytest.approx(-GRAVITY_M_S2)
    assert fit.apex_m - 1.2 == pytest.approx(2.45**2 / (2 * GRAVITY_M_S2))
    assert fit_parabola(t[:3], z[:3]) is None
