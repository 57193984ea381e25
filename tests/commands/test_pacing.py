"""Pacing: frames are held back to their capture pace times the speed, never made up for.

The pacer runs on simulated time (:class:`SimulatedClock`), so these hold on any machine.
"""

from __future__ import annotations

import math

import pytest

from kinestream.commands.pacing import Pacer
from tests.commands.simulated_clock import SimulatedClock

TIMES = [10.0 + i / 50.0 for i in range(11)]  # 0.2 s of capture at 50 fps


def release_times(speed: float, clock: SimulatedClock) -> list[float]:
    """When the pacer let each frame of TIMES go, relative to the first."""
    pacer = Pacer(speed, clock.pace_clock)
    released = []
    for capture_time_s in TIMES:
        pacer.wait(capture_time_s)
        released.append(clock.now())
    return [t - released[0] for t in released]


@pytest.mark.parametrize("speed", [1.0, 2.0, 0.5])
def test_each_frame_goes_out_at_its_capture_time_divided_by_the_speed(speed: float) -> None:
    clock = SimulatedClock()
    released = release_times(speed, clock)
    expected = [(t - TIMES[0]) / speed for t in TIMES]
    assert released == pytest.approx(expected, abs=1e-9)
    assert len(clock.sleeps) == len(TIMES) - 1, clock.sleeps  # the first goes at once


def test_infinite_speed_never_waits() -> None:
    clock = SimulatedClock()
    assert release_times(math.inf, clock) == [0.0] * len(TIMES)
    assert clock.sleeps == []


def test_time_lost_is_not_made_up() -> None:
    clock = SimulatedClock()
    pacer = Pacer(1.0, clock.pace_clock)
    pacer.wait(0.0)
    clock.advance(0.15)  # a slow source: the frame at 0.1 s is already late
    pacer.wait(0.1)
    assert clock.sleeps == []
    pacer.wait(0.2)  # due at 0.2 s after the first: 0.05 s from now
    assert clock.sleeps == [pytest.approx(0.05)]


@pytest.mark.parametrize("speed", [0.0, -1.0, math.nan])
def test_speed_must_be_positive(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        Pacer(speed)
