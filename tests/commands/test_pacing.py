"""Pacing: frames are held back to their capture pace times the speed, never made up for."""

from __future__ import annotations

import math
import time

import pytest

from kinestream.commands.pacing import Pacer

TIMES = [10.0 + i / 50.0 for i in range(11)]  # 0.2 s of capture at 50 fps


def elapsed(pacer: Pacer, times: list[float]) -> float:
    start = time.monotonic()
    for capture_time_s in times:
        pacer.wait(capture_time_s)
    return time.monotonic() - start


def test_capture_pace() -> None:
    assert 0.2 <= elapsed(Pacer(1.0), TIMES) < 0.4


def test_twice_the_pace_takes_half_the_time() -> None:
    assert 0.1 <= elapsed(Pacer(2.0), TIMES) < 0.18


def test_infinite_speed_never_waits() -> None:
    assert elapsed(Pacer(math.inf), TIMES) < 0.01


def test_time_lost_is_not_made_up() -> None:
    pacer = Pacer(1.0)
    pacer.wait(0.0)
    time.sleep(0.15)  # a slow source: the frame at 0.1 s is already late
    start = time.monotonic()
    pacer.wait(0.1)
    assert time.monotonic() - start < 0.01


@pytest.mark.parametrize("speed", [0.0, -1.0, math.nan])
def test_speed_must_be_positive(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        Pacer(speed)
