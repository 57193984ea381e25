"""Countermovement jump: standing → eccentric → concentric → flight → landing → stable.

* eccentric starts when the CoM has dropped clearly below standing height while moving
  down; its onset is backtracked to where the downward velocity first exceeded the onset
  threshold;
* concentric starts at the lowest CoM point (velocity crosses zero upwards, interpolated);
* flight and landing are the feet leaving and touching the floor (sub-frame);
* stable is quiet standing again; the next repetition may start from there.
"""

from __future__ import annotations

from typing import Final

from kinestream.operators.calibration import Calibration
from kinestream.operators.phases.base import Frame, JumpMachine, MachineWarning, Output

DIP_M: Final = 0.03
DIP_SPEED_M_S: Final = 0.10
MAX_COUNTERMOVEMENT_S: Final = 3.0


class CountermovementJump(JumpMachine):
    """Phase machine of the countermovement jump."""

    def __init__(self, calibration: Calibration) -> None:
        super().__init__(calibration)
        self.dip_m = max(DIP_M, 4.0 * calibration.com_noise_m)
        self._reset_rep()

    def _reset_rep(self) -> None:
        self.onset_s: float | None = None
        self.lowest_s: float | None = None
        self.min_com_m = 0.0
        self.min_velocity = 0.0
        self.max_velocity = 0.0

    def update(self, frame: Frame) -> list[Output]:
        """Advance by one frame."""
        self.observe(frame)
        out: list[Output] = []
        phase = self._phase
        if phase in ("standing", "stable", "landing"):
            self._from_rest(frame, out)
        elif phase == "eccentric":
            self._eccentric(frame, out)
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
        if self.phase == "landing" and self.quiet_for(frame, 0.3):
            self.enter("stable", frame.time_s, out)
            return
        if self.phase != "landing" and (
            frame.com_m < -self.dip_m and frame.velocity_m_s < -DIP_SPEED_M_S
        ):
            self._reset_rep()
            self.onset_s = self.backtrack(-self.onset_velocity_m_s, rising=False, from_rest=True)
            self.min_com_m = frame.com_m
            self.min_velocity = min(
                f.velocity_m_s for f in self.metric_frames(self.onset_s, frame.time_s)
            )
            self.enter("eccentric", self.onset_s, out)

    def _eccentric(self, frame: Frame, out: list[Output]) -> None:
        self.min_com_m = min(self.min_com_m, frame.com_m)
        self.min_velocity = min(self.min_velocity, frame.velocity_m_s)
        if self.airborne():
            self.start_flight(out)
            return
        if frame.velocity_m_s >= 0.0:
            self.lowest_s = self.backtrack(0.0, rising=True)
            self.max_velocity = frame.velocity_m_s
            self.enter("concentric", self.lowest_s, out)
            return
        if frame.time_s - self.phase_since_s > MAX_COUNTERMOVEMENT_S:
            out.append(MachineWarning("incomplete_rep", "countermovement without a jump"))
            self.enter("standing", frame.time_s, out)

    def _concentric(self, frame: Frame, out: list[Output]) -> None:
        self.max_velocity = max(self.max_velocity, frame.velocity_m_s)
        self.min_com_m = min(self.min_com_m, frame.com_m)
        if self.airborne():
            self.start_flight(out)
            return
        if self.quiet_for(frame, 0.5):
            out.append(MachineWarning("incomplete_rep", "squatted and stood up without a jump"))
            self.enter("standing", frame.time_s, out)

    def _flight(self, frame: Frame, out: list[Output]) -> None:
        landing = self.land(frame, out)
        if landing is None:
            return
        counter = self.onset_s is not None and self.lowest_s is not None
        if not counter:
            landing.warnings.append("no_countermovement")
            landing.confidence *= 0.7
        onset, lowest = self.onset_s, self.lowest_s
        landing.metrics.update(
            {
                "countermovement_depth_m": -self.min_com_m if counter else None,
                "eccentric_duration_s": lowest - onset if lowest and onset else None,
                "concentric_duration_s": landing.takeoff_s - lowest if lowest else None,
                "peak_eccentric_velocity_m_s": -self.min_velocity if counter else None,
                "peak_concentric_velocity_m_s": self.max_velocity if counter else None,
            }
        )
        out.append(landing.result(onset if onset is not None else landing.takeoff_s))
        self._reset_rep()
