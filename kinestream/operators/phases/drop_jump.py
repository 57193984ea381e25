"""Drop jump: on_box → drop → ground_contact → flight → landing → stable.

The athlete calibrates standing on the box, so the calibrated floor is the box top. The drop
starts when the feet go clearly below the box top while the CoM falls (its onset is
backtracked to where the fall began). Ground contact is where the falling feet stop
(:meth:`DropJump.feet_still`) and the ground brakes the CoM (:meth:`DropJump.braking`); the
ground's level is measured there and the contact instant is refined between frames with a
ballistic fit of the falling feet. Takeoff, flight and landing then work as in every jump,
relative to that ground.
"""

from __future__ import annotations

from typing import Final

from kinestream.operators.calibration import Calibration
from kinestream.operators.phases.base import Frame, JumpMachine, MachineWarning, Output

FALL_SPEED_M_S: Final = 0.3
STOPPED_SPEED_M_S: Final = 0.4
STOP_WINDOW_S: Final = 0.03
MAX_DROP_S: Final = 1.0
MAX_CONTACT_S: Final = 1.5
JUMPED_UP_M: Final = 0.04
BOX_MISMATCH: Final = 0.25
SETTLE_S: Final = 0.03


class DropJump(JumpMachine):
    """Phase machine of the drop jump from a box of known height."""

    initial_phase = "on_box"
    track_ground = False  # the box top, then the ground measured at contact

    def __init__(self, calibration: Calibration, box_height_m: float) -> None:
        super().__init__(calibration)
        self.box_height_m = box_height_m
        self.below_box_m = max(0.05, 0.25 * box_height_m)
        self.drop_s: float | None = None
        self.contact_s: float | None = None
        self.rose_m = 0.0

    def update(self, frame: Frame) -> list[Output]:
        """Advance by one frame."""
        self.observe(frame)
        out: list[Output] = []
        phase = self._phase
        if phase == "on_box":
            self._on_box(frame, out)
        elif phase == "drop":
            self._drop(frame, out)
        elif phase == "ground_contact":
            self._contact(frame, out)
        elif phase == "flight":
            self._flight(frame, out)
        elif phase == "landing" and self.quiet_for(frame, 0.3, near_m=None):
            self.enter("stable", frame.time_s, out)
        return out

    def _on_box(self, frame: Frame, out: list[Output]) -> None:
        self.rose_m = max(self.rose_m, frame.com_m)
        if frame.foot_m < -self.below_box_m and frame.velocity_m_s < -FALL_SPEED_M_S:
            self.drop_s = self.backtrack(-self.onset_velocity_m_s, rising=False, from_rest=True)
            self.enter("drop", self.drop_s, out)

    def _drop(self, frame: Frame, out: list[Output]) -> None:
        assert self.drop_s is not None
        if frame.time_s - self.drop_s > MAX_DROP_S:
            out.append(MachineWarning("rejected_drop", "fell for too long to be a drop"))
            self._restart(frame, out)
            return
        if len(self.history) < 3 or frame.foot_m > -0.5 * self.box_height_m:
            return
        if (
            abs(self.foot_speed(STOP_WINDOW_S)) < STOPPED_SPEED_M_S
            and self.feet_still()
            and self.braking(frame)
        ):
            prev = self.history[-2]
            self.ground_m = 0.5 * (prev.foot_m + frame.foot_m)
            self.contact_s = self.refine_touchdown()
            self.enter("ground_contact", self.contact_s, out)

    def feet_still(self) -> bool:
        """The feet seen in the last ``STOP_WINDOW_S`` (at least two frames) span no more
        than they move at ``STOPPED_SPEED_M_S`` in that time plus twice the fit threshold
        (two readings' noise). A slope alone is not enough: a foot landmark that strays up
        by centimetres for a frame or two in the fall flattens it, and the ground would be
        measured mid-drop."""
        last = self.history[-1].time_s
        window = [f for f in self.history if last - f.time_s <= STOP_WINDOW_S + 1e-9]
        if len(window) < 2:
            window = list(self.history)[-2:]
        feet = [f.foot_m for f in window if f.foot_m == f.foot_m]  # not NaN
        if len(feet) < 2:
            return False
        span_s = last - window[0].time_s
        return max(feet) - min(feet) <= STOPPED_SPEED_M_S * span_s + 2.0 * self.fit_threshold_m

    def braking(self, frame: Frame) -> bool:
        """The CoM falls slower now than it did at its fastest since the drop began (by
        more than the onset speed, the CoM velocity's noise): the ground has begun to brake
        it. In the air it falls faster every frame (by g times the frame period), so feet
        that seem to stop while it does are a landmark pausing mid-fall."""
        assert self.drop_s is not None
        drop_s = self.drop_s
        fastest = min(f.velocity_m_s for f in self.history if f.time_s >= drop_s)
        return frame.velocity_m_s - fastest > self.onset_velocity_m_s

    def _contact(self, frame: Frame, out: list[Output]) -> None:
        assert self.contact_s is not None
        if self.airborne():
            self._settle_ground()
            self.start_flight(out)
            return
        if frame.time_s - self.contact_s > MAX_CONTACT_S:
            out.append(MachineWarning("no_rebound", "landed from the box without a rebound jump"))
            self.enter("stable", frame.time_s, out)

    def _settle_ground(self) -> None:
        """Measure the ground on the whole contact and refine the contact instant with it."""
        assert self.contact_s is not None
        start = self.contact_s + SETTLE_S
        feet = sorted(
            f.contact_m
            for f in self.history
            if f.time_s >= start and abs(f.foot_m - self.ground_m) < self.air_threshold_m
        )
        if len(feet) >= 3:
            self.ground_m = feet[len(feet) // 2]
            self.contact_s = self.refine_touchdown(self.contact_s)

    def _flight(self, frame: Frame, out: list[Output]) -> None:
        landing = self.land(frame, out)
        if landing is None:
            return
        assert self.contact_s is not None
        assert self.drop_s is not None
        contact = landing.takeoff_s - self.contact_s
        height = landing.metrics["jump_height_m"]
        flight = landing.metrics["flight_time_s"]
        assert isinstance(height, float)
        assert isinstance(flight, float)
        measured_box = -self.ground_m
        if abs(measured_box / self.box_height_m - 1.0) > BOX_MISMATCH:
            landing.warnings.append("box_height_mismatch")
            landing.confidence *= 0.8
        if self.rose_m > JUMPED_UP_M:
            landing.warnings.append("jumped_up_from_box")
            landing.confidence *= 0.8
        landing.metrics.update(
            {
                "ground_contact_time_s": contact,
                "rsi": height / contact,
                "rsi_flight_contact": flight / contact,
                "box_height_m": self.box_height_m,
                "drop_time_s": self.drop_s,
                "drop_height_measured_m": measured_box,
            }
        )
        out.append(landing.result(self.drop_s))

    def _restart(self, frame: Frame, out: list[Output]) -> None:
        self.drop_s = self.contact_s = None
        self.ground_m = 0.0
        self.enter("stable", frame.time_s, out)
