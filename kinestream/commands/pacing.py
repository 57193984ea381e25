"""Sending a stream at the pace it was captured, or a multiple of it.

A :class:`Pacer` is told each frame's capture time before the frame is sent and sleeps
until its clock has advanced as far, divided by the speed factor, as the capture clock
since the first frame. It never sleeps to make up for time already lost (a slow source, a
slow broker): it only holds back frames that would go out early. The clock is the system's
monotonic one unless a :class:`PaceClock` is given (the tests' simulated time).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PaceClock:
    """Where a :class:`Pacer` reads the time (seconds) and how it waits."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


SYSTEM_CLOCK = PaceClock()


class Pacer:
    """Holds frames back to capture pace times ``speed`` (``math.inf``: never waits)."""

    def __init__(self, speed: float = 1.0, clock: PaceClock = SYSTEM_CLOCK) -> None:
        if not speed > 0.0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        self.speed = speed
        self._clock = clock
        self._origin: tuple[float, float] | None = None

    def wait(self, capture_time_s: float) -> None:
        """Sleep until the frame captured at ``capture_time_s`` is due."""
        if math.isinf(self.speed):
            return
        now = self._clock.now()
        if self._origin is None:
            self._origin = (now, capture_time_s)
            return
        wall_origin, capture_origin = self._origin
        due = wall_origin + (capture_time_s - capture_origin) / self.speed
        if due > now:
            self._clock.sleep(due - now)
