"""Sending a stream at the pace it was captured, or a multiple of it.

A :class:`Pacer` is told each frame's capture time before the frame is sent and sleeps
until the wall clock has advanced as far, divided by the speed factor, as the capture
clock since the first frame. It never sleeps to make up for time already lost (a slow
source, a slow broker): it only holds back frames that would go out early.
"""

from __future__ import annotations

import math
import time


class Pacer:
    """Holds frames back to capture pace times ``speed`` (``math.inf``: never waits)."""

    def __init__(self, speed: float = 1.0) -> None:
        if not speed > 0.0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        self.speed = speed
        self._origin: tuple[float, float] | None = None

    def wait(self, capture_time_s: float) -> None:
        """Sleep until the frame captured at ``capture_time_s`` is due."""
        if math.isinf(self.speed):
            return
        now = time.monotonic()
        if self._origin is None:
            self._origin = (now, capture_time_s)
            return
        wall_origin, capture_origin = self._origin
        due = wall_origin + (capture_time_s - capture_origin) / self.speed
        if due > now:
            time.sleep(due - now)
