"""The frontal-feet measurement on a made-up track whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from bench.measure_frontal_feet import lowest_point_rise, rises
from bench.measure_landmark_noise import Track
from kinestream.operators.pose import Landmark


def track() -> Track:
    """30 frames at 30 fps from clip frame 100: feet flat with the toes at row 500 and the
    ankles at 480, then at frame 120 the ankles 20 px up, the toe landmarks 15 px up (0.75
    of it) and the heels 20 px up (rows grow downwards)."""
    n = 30
    xy = np.zeros((n, 33, 2))
    for ankle, heel, toe in (
        (Landmark.LEFT_ANKLE, Landmark.LEFT_HEEL, Landmark.LEFT_FOOT_INDEX),
        (Landmark.RIGHT_ANKLE, Landmark.RIGHT_HEEL, Landmark.RIGHT_FOOT_INDEX),
    ):
        xy[:, ankle, 1] = 480.0
        xy[:, heel, 1] = 495.0
        xy[:, toe, 1] = 500.0
        xy[20:, ankle, 1] -= 20.0
        xy[20:, heel, 1] -= 20.0
        xy[20:, toe, 1] -= 15.0
    return Track(100, xy, np.ones((n, 33)), np.zeros((n, 2)), 30.0, 250.0, 0)


def test_rises_are_taken_above_the_flat_feet_before_a_takeoff() -> None:
    found = rises(track(), 120, after=False)
    assert found["left"] == pytest.approx((20.0, 15.0))
    assert found["right"] == pytest.approx((20.0, 15.0))
    assert lowest_point_rise(track(), 120, after=False) == pytest.approx(15.0)


def test_nothing_rose_where_the_feet_are_flat() -> None:
    assert rises(track(), 110, after=False)["left"] == pytest.approx((0.0, 0.0))
    assert lowest_point_rise(track(), 110, after=True) == pytest.approx(0.0)
