"""Squat jump: standing → descent → squat_hold → concentric → flight → landing → stable.

The hold is a stretch of at least 0.3 s with the CoM still, well below standing height. The
push starts where the upward velocity last rose past the onset threshold. Any dip below the
held squat before the push is measured and flagged as a countermovement, which a squat jump
should not have.
"""

from __future__ import annotations

from typing import Final

from kinestream.operators.calibration import Calibration
from kinestream.operators.phases.base import Frame, JumpMachine, MachineWarning, Output

SQUAT_M: Final = 0.08
HOLD_SPEED_M_S: Final = 0.08
MIN_HOLD_S: Final = 0.3
PUSH_SPEED_M_S: Final = 0.15
COUNTERMOVEMENT_M: Final = 0.01


class SquatJump(JumpMachine):
    """Phase machine of the squat jump."""

    def __init__(self, calibration: Calibration) -> None:
        super().__init__(calibration)
        self._reset_rep()

    def _reset_rep(self) -> None:
        self.still_since_s: float | None = None
        self.hold_start_s: float | None = None
        self.hold_sum = 0.0
        self.hold_frames = 0
        self.departure_s: float | None = None
        self.min_after_departure_m = 0.0
        self.push_s: float | None = None
        self.max_velocity = 0.0

    @property
    def hold_level_m(self) -> float:
        """Mean CoM height during the hold."""
        return self.hold_sum / self.hold_frames if self.hold_frames else 0.0

    def update(self, frame: Frame) -> list[Output]:
        """Advance by one frame."""
        self.observe(frame)
        out: list[Output] = []
        phase = self._phase
        if phase in ("standing", "stable", "landing"):
            self._from_rest(frame, out)
        elif phase == "descent":
            self._descent(frame, out)
        elif phase == "squat_hold":
            self._hold(frame, out)
        elif phase == "concentric":
            self._concentric(frame, out)
        elif phase == "flight":
            self._flight(frame, out)
        return out

    def _from_rest(self, frame: Frame, out: list[Output]) -> None:
        if self.airborne():
            self._reset_rep()
            self.start_flight(out)
            return
        if self.phase == "landing":
            if self.quiet_for(frame, 0.3):
                self.enter("stable", frame.time_s, out)
            return
        if frame.com_m < -SQUAT_M and frame.velocity_m_s < -HOLD_SPEED_M_S:
            self._reset_rep()
            start = self.backtrack(-self.onset_velocity_m_s, rising=False, from_rest=True)
            self.enter("descent", start, out)

    def _descent(self, frame: Frame, out: list[Output]) -> None:
        if self.airborne():  # a jump without a hold seen: reported, as no_squat_hold
            self.start_flight(out)
            return
        if frame.com_m > -0.03 and abs(frame.velocity_m_s) < HOLD_SPEED_M_S:
            self.enter("standing", frame.time_s, out)
            return
        if abs(frame.velocity_m_s) >= HOLD_SPEED_M_S or frame.com_m > -SQUAT_M:
            self.still_since_s = None
            return
        if self.still_since_s is None:
            self.still_since_s = self.backtrack(-self.onset_velocity_m_s, rising=True)
        still = [f for f in self.history if f.time_s >= self.still_since_s]
        if frame.time_s - self.still_since_s >= MIN_HOLD_S:
            self.hold_start_s = self.still_since_s
            self.hold_sum = sum(f.com_m for f in still)
            self.hold_frames = len(still)
            self.enter("squat_hold", self.still_since_s, out)

    def _hold(self, frame: Frame, out: list[Output]) -> None:
        moving = abs(frame.velocity_m_s) >= self.onset_velocity_m_s
        if not moving and self.departure_s is None:
            self.hold_sum += frame.com_m
            self.hold_frames += 1
            return
        if self.departure_s is None:
            level = self.onset_velocity_m_s
            up = frame.velocity_m_s > 0
            self.departure_s = self.backtrack(level if up else -level, rising=up, from_rest=True)
            self.min_after_departure_m = frame.com_m
        self.min_after_departure_m = min(self.min_after_departure_m, frame.com_m)
        if frame.velocity_m_s > PUSH_SPEED_M_S:
            self.push_s = self.backtrack(self.onset_velocity_m_s, rising=True, from_rest=True)
            self.max_velocity = frame.velocity_m_s
            self.enter("concentric", self.push_s, out)
        elif not moving and abs(frame.com_m - self.hold_level_m) < COUNTERMOVEMENT_M:
            self.departure_s = None

    def _concentric(self, frame: Frame, out: list[Output]) -> None:
        self.max_velocity = max(self.max_velocity, frame.velocity_m_s)
        if self.airborne():
            self.start_flight(out)
            return
        if self.quiet_for(frame, 0.5):
            out.append(MachineWarning("incomplete_rep", "stood up from the squat without a jump"))
            self.enter("standing", frame.time_s, out)

    def _flight(self, frame: Frame, out: list[Output]) -> None:
        landing = self.land(frame, out)
        if landing is None:
            return
        held = self.hold_start_s is not None and self.departure_s is not None
        if not held:
            landing.warnings.append("no_squat_hold")
            landing.confidence *= 0.6
        dip = max(0.0, self.hold_level_m - self.min_after_departure_m) if held else 0.0
        if dip > COUNTERMOVEMENT_M:
            landing.warnings.append("countermovement")
        push = self.push_s
        landing.metrics.update(
            {
                "squat_depth_m": -self.hold_level_m if held else None,
                "squat_hold_s": (
                    self.departure_s - self.hold_start_s
                    if self.departure_s is not None and self.hold_start_s is not None
                    else None
                ),
                "concentric_duration_s": landing.takeoff_s - push if push is not None else None,
                "countermovement_m": dip if held else None,
                "countermovement_detected": dip > COUNTERMOVEMENT_M,
                "peak_concentric_velocity_m_s": self.max_velocity if push is not None else None,
            }
        )
        out.append(landing.result(self.hold_start_s or landing.takeoff_s))
        self._reset_rep()
