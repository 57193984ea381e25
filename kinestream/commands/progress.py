"""A one-line progress bar for terminals: frames done of total, and frames per second."""

from __future__ import annotations

import time
from typing import Final, TextIO

BAR_WIDTH: Final = 30
REFRESH_S: Final = 0.1


class ProgressBar:
    """Redraws one line of ``stream`` with a carriage return, at most every ``REFRESH_S``.

    Disabled (draws nothing) when ``enabled`` is false; ``total`` may be ``None`` when
    the number of frames is not known in advance.
    """

    def __init__(
        self, stream: TextIO, total: int | None, *, enabled: bool, label: str = "frames"
    ) -> None:
        self.stream = stream
        self.total = total if total is not None and total > 0 else None
        self.enabled = enabled
        self.label = label
        self.done = 0
        self._start = time.monotonic()
        self._drawn_at = -REFRESH_S
        self._width = 0

    def advance(self, frames: int = 1) -> None:
        """Count ``frames`` more frames done; redraw when it is time."""
        self.done += frames
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._drawn_at >= REFRESH_S:
            self._drawn_at = now
            self._draw(now)

    def close(self) -> None:
        """Draw the final state and end the line."""
        if not self.enabled:
            return
        self._draw(time.monotonic())
        self.stream.write("\n")
        self.stream.flush()

    def line(self, now: float) -> str:
        """The text of the bar at monotonic time ``now``."""
        elapsed = max(now - self._start, 1e-9)
        rate = f"{self.done / elapsed:7.1f} fps"
        if self.total is None:
            return f"{self.done:>7} {self.label}  {rate}"
        share = min(self.done / self.total, 1.0)
        filled = round(share * BAR_WIDTH)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        width = len(str(self.total))
        return f"[{bar}] {self.done:>{width}}/{self.total} {self.label} {share:4.0%}  {rate}"

    def _draw(self, now: float) -> None:
        text = self.line(now)
        pad = " " * max(self._width - len(text), 0)
        self._width = len(text)
        self.stream.write("\r" + text + pad)
        self.stream.flush()
