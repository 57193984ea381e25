"""Touchdown timing from the legs when the feet's landmarks read high as they land.

On the committed Sports2D clip at 30 fps BlazePose's lowest foot point (ONNX, first hop)
still reads 8 cm above the surface at the frame where the shoe is on it, sinks on at
0.35 m/s (a third of the CoM's speed) for five frames and comes to rest 2 cm above a floor
calibrated without standing. The legs show the contact: a foot on the surface stops while
the CoM falls on. The touchdown must come within one frame period of the truth (real clips
are judged within a frame), where the feet's height alone puts it 4.5-5.5 frames late.
"""

from __future__ import annotations

import math

import pytest

from kinestream.operators.ballistics import GRAVITY_M_S2
from kinestream.operators.calibration import Calibration
from kinestream.operators.phases.base import Frame
from kinestream.operators.phases.cmj import CountermovementJump

FPS = 30.0
LEGS_M = 0.95
"""CoM above the lowest foot point in the air, legs extended."""
BRAKING_M_S2 = 25.0
"""The CoM's deceleration once the feet are down."""
READS_HIGH_M = 0.08
SINKS_M_S = 0.35
SETTLES_M = 0.02
"""Where the sunk landmark comes to rest: above a floor calibrated without standing, which
sits at the low end of the feet's readings."""


def calibration(fps: float = FPS, foot_noise_m: float = 0.008) -> Calibration:
    """A floor at row 1000, 2 mm a pixel, for a machine fed frames directly."""
    return Calibration(
        time_s=0.0,
        floor_y_px=1000.0,
        com_y_px=500.0,
        com_x_px=500.0,
        m_per_px=0.002,
        leg_length_px=400.0,
        fps=fps,
        com_noise_m=0.002,
        foot_noise_m=foot_noise_m,
    )


def landing_frames(touchdown_s: float, frames: int) -> list[Frame]:
    """A fall onto the floor at ``touchdown_s`` seen at 30 fps from the frame 0.25 s or more
    before it on (feet 0.11 m up or more): ballistic before it, braking
    after it, the feet's landmark reading ``READS_HIGH_M`` high at the touchdown and
    sinking at ``SINKS_M_S`` to ``SETTLES_M``."""
    v_down = 2.0  # m/s at touchdown
    out = []
    first = math.floor((touchdown_s - 0.25) * FPS)
    for k in range(frames):
        t = (first + k) / FPS
        dt = t - touchdown_s
        if dt < 0.0:
            com = LEGS_M - v_down * dt - 0.5 * GRAVITY_M_S2 * dt * dt
            velocity = -v_down - GRAVITY_M_S2 * dt
            foot = com - LEGS_M
        else:
            com = LEGS_M - v_down * dt + 0.5 * BRAKING_M_S2 * dt * dt
            velocity = -v_down + BRAKING_M_S2 * dt
            foot = max(SETTLES_M, READS_HIGH_M - SINKS_M_S * dt)
        com_standing = com - LEGS_M + 0.1  # height above the standing CoM
        out.append(Frame(k, t, com_standing, velocity, com_standing, foot, foot))
    return out


@pytest.mark.parametrize("share", [0.1, 0.3, 0.5, 0.7, 0.9])
def test_a_touchdown_the_feet_show_late_is_timed_by_the_shortening_legs(share: float) -> None:
    touchdown = 1.0 + share / FPS
    machine = CountermovementJump(calibration())
    frames = landing_frames(touchdown, 20)
    grounded = next(
        k
        for k in range(1, len(frames))
        if frames[k - 1].foot_m < machine.air_threshold_m
        and frames[k].foot_m < machine.air_threshold_m
    )
    machine.history.extend(frames[: grounded + 1])
    assert frames[grounded].time_s - touchdown > 1.5 / FPS  # the feet alone: late
    assert machine.refine_touchdown() == pytest.approx(touchdown, abs=1.0 / FPS)
