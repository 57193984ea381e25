"""Simulated time for pacing tests: it moves only when slept through (or advanced)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kinestream.commands.pacing import PaceClock


@dataclass
class SimulatedClock:
    """A clock that records every sleep and advances by exactly that much."""

    time_s: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def now(self) -> float:
        """The simulated time, in seconds."""
        return self.time_s

    def sleep(self, seconds: float) -> None:
        """Record the sleep and let that much simulated time pass."""
        assert seconds > 0, f"asked to sleep {seconds} s"
        self.sleeps.append(seconds)
        self.time_s += seconds

    def advance(self, seconds: float) -> None:
        """Let time pass without a sleep (a slow source)."""
        self.time_s += seconds

    @property
    def pace_clock(self) -> PaceClock:
        """This clock, for :class:`~kinestream.commands.pacing.Pacer`."""
        return PaceClock(self.now, self.sleep)
