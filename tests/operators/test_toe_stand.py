"""The toe stand's level between repeated hops filmed from the front.

From the front a pose model moves the toe landmark with the ankle, so the lowest foot point
reads ``toe_stand_m`` above the surface at the instants the toes leave and touch it
(:meth:`~kinestream.operators.phases.base.JumpMachine.toe_stand_instants`). Between quick
hops the heels seldom come down: the surface followed on the resting feet reads up to that
height above the floor. On the committed clip's 960 px variant it read 6.2 cm with an air
threshold of 3.1 cm; taken for another surface, it put the level 6 cm too high and three
hops' takeoffs two frames late (flights 100 ms short).

Truth here is ballistic: the feet cross the toe stand's level at the true takeoff and
landing and follow the flight's parabola between them.
"""

from __future__ import annotations

import math

import pytest

from kinestream.operators.ballistics import GRAVITY_M_S2
from kinestream.operators.phases.base import Frame
from kinestream.operators.phases.cmj import CountermovementJump
from tests.operators.test_touchdown import calibration

TOE_STAND_M = 0.077
"""0.044 body heights of a 1.75 m athlete (``TOE_STAND_LIFT`` from the front)."""
FLIGHT_S = 0.25
TAKEOFF_S = 1.0 + 0.37 / 30.0


def hop_frames(fps: float, resting_m: float) -> list[Frame]:
    """Feet resting at ``resting_m``, rising to the toe stand's level by the takeoff, in the
    air for ``FLIGHT_S``, back to the level at the landing and down to rest again."""
    v0 = GRAVITY_M_S2 * FLIGHT_S / 2.0
    landing_s = TAKEOFF_S + FLIGHT_S
    ramp_s = 0.1
    out = []
    for k in range(math.floor((TAKEOFF_S - 0.3) * fps), math.ceil((landing_s + 0.3) * fps)):
        t = k / fps
        if t < TAKEOFF_S:
            foot = resting_m + (TOE_STAND_M - resting_m) * max(0.0, 1.0 - (TAKEOFF_S - t) / ramp_s)
        elif t <= landing_s:
            dt = t - TAKEOFF_S
            foot = TOE_STAND_M + v0 * dt - 0.5 * GRAVITY_M_S2 * dt * dt
        else:
            foot = resting_m + (TOE_STAND_M - resting_m) * max(0.0, 1.0 - (t - landing_s) / ramp_s)
        out.append(Frame(k, t, foot, 0.0, foot, foot, foot))
    return out


@pytest.mark.parametrize("fps", [30.0, 60.0])
@pytest.mark.parametrize("resting_share", [0.0, 0.5, 0.8, 1.0])
def test_feet_resting_on_their_toes_between_hops_keep_the_floor_s_level(
    fps: float, resting_share: float
) -> None:
    """Both instants within a tenth of a frame period of the truth, wherever between the
    floor and the toe stand the resting feet read (the air threshold here: 3 cm)."""
    machine = CountermovementJump(calibration(fps, foot_noise_m=0.006))
    machine.toe_stand_m = TOE_STAND_M
    resting = resting_share * TOE_STAND_M
    frames = hop_frames(fps, resting)
    machine.history.extend(frames)
    assert resting_share < 0.5 or resting > machine.air_threshold_m  # the case that failed
    # The feet's own instants: where they left and reached the resting level.
    left = next(f.time_s for f in frames if f.foot_m > resting + 1e-9) - 1.0 / fps
    landed = next(f.time_s for f in reversed(frames) if f.foot_m > resting + 1e-9) + 1.0 / fps
    takeoff, landing = machine.toe_stand_instants(left, landed, resting, resting)
    assert takeoff == pytest.approx(TAKEOFF_S, abs=0.1 / fps)
    assert landing == pytest.approx(TAKEOFF_S + FLIGHT_S, abs=0.1 / fps)


def test_a_higher_surface_keeps_its_own_level() -> None:
    """Feet resting flat on a step 20 cm up (beyond the toe stand and the air threshold)
    leave at the toe stand's height above the step, not above the floor."""
    fps = 60.0
    step = 0.20
    machine = CountermovementJump(calibration(fps, foot_noise_m=0.006))
    machine.toe_stand_m = TOE_STAND_M
    frames = [
        Frame(f.seq, f.time_s, f.com_m, 0.0, f.com_raw_m, f.foot_m + step, f.contact_m + step)
        for f in hop_frames(fps, 0.0)
    ]
    machine.history.extend(frames)
    left = next(f.time_s for f in frames if f.foot_m > step + 1e-9) - 1.0 / fps
    landed = next(f.time_s for f in reversed(frames) if f.foot_m > step + 1e-9) + 1.0 / fps
    takeoff, landing = machine.toe_stand_instants(left, landed, step, step)
    assert takeoff == pytest.approx(TAKEOFF_S, abs=0.1 / fps)
    assert landing == pytest.approx(TAKEOFF_S + FLIGHT_S, abs=0.1 / fps)
