"""Per-repetition quality: frame rate, visibility, dropped frames and a confidence score.

A repetition's quality block: ``fps``, ``frames``, ``dropped_frames``, ``mean_visibility``,
``confidence`` (0-1), ``warnings`` (codes), ``calibrated_after_movement`` (found late, once
the athlete stood still after it), and from the analyzer ``view`` (``side``, ``oblique``
or ``frontal``, see :mod:`kinestream.operators.view`) with ``unreliable_metrics``, the
metrics that view makes unreliable.
"""

from __future__ import annotations

from typing import Any, Final

from kinestream.operators.ballistics import GRAVITY_M_S2

RECOMMENDED_FPS: Final = 60.0


class QualityTracker:
    """Accumulates what the quality block of the next repetition reports."""

    def __init__(self) -> None:
        self.fps = 0.0
        self._visibility_sum = 0.0
        self._visible_frames = 0
        self._dropped = 0

    def calibrated(self, fps: float) -> None:
        """Record the stream's frame rate measured at calibration."""
        self.fps = fps

    def visibility(self, value: float) -> None:
        """Record one frame's mean landmark visibility."""
        self._visibility_sum += value
        self._visible_frames += 1

    def dropped(self, frames: int) -> None:
        """Record frames lost before they reached the analysis."""
        self._dropped += frames

    def low_fps_message(self) -> str | None:
        """A warning when the frame rate limits timing accuracy, else ``None``."""
        if self.fps >= RECOMMENDED_FPS * 0.95:
            return None
        frame_ms = 1000.0 / self.fps
        height_cm = 100 * _height_error_m(0.25 * frame_ms / 1000)
        return (
            f"{self.fps:.0f} fps: takeoff and landing are interpolated between frames "
            f"{frame_ms:.0f} ms apart; flight time may be off by {0.25 * frame_ms:.0f} ms "
            f"or more and jump height by about {height_cm:.1f} cm. "
            f"Record at {RECOMMENDED_FPS:.0f} fps or more for reliable figures."
        )

    def rep_quality(
        self, warnings: tuple[str, ...], confidence: float, late: bool = False
    ) -> dict[str, Any]:
        """The quality block of a repetition; resets the accumulators.

        ``late``: the repetition was found only once the athlete stood still after it (the
        stream had no quiet standing before), so it comes after its landing by that much.
        """
        warnings_out = list(warnings)
        if self.fps < RECOMMENDED_FPS * 0.95:
            warnings_out.append("low_fps")
            confidence *= 0.8
        frames = self._visible_frames
        mean_vis = self._visibility_sum / frames if frames else 0.0
        if mean_vis < 0.7:
            warnings_out.append("low_visibility")
            confidence *= 0.7
        if frames and self._dropped > 0.05 * (frames + self._dropped):
            warnings_out.append("dropped_frames")
            confidence *= 0.8
        block = {
            "fps": round(self.fps, 2),
            "frames": frames,
            "dropped_frames": self._dropped,
            "mean_visibility": round(mean_vis, 3),
            "confidence": round(confidence, 3),
            "warnings": warnings_out,
            "calibrated_after_movement": late,
        }
        self._visibility_sum, self._visible_frames, self._dropped = 0.0, 0, 0
        return block


def _height_error_m(flight_error_s: float, flight_time_s: float = 0.5) -> float:
    """Jump-height error that a flight-time error causes for a typical 0.5 s flight."""
    return GRAVITY_M_S2 * flight_time_s * flight_error_s / 4.0
