"""Continuous-time motion of the synthetic athlete, built phase by phase with exact physics.

While a foot is on the ground the CoM height follows smooth quintic trajectories and the
posture is solved so that the body's CoM is exactly there. In the air the body is ballistic:
its CoM follows ``z = z0 + v*t - g*t^2/2`` exactly while the legs may tuck. Takeoff and
landing therefore happen at exactly known instants, between camera frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from kinestream.simulation.body import (
    Array,
    Posture,
    Skeleton,
    build_skeleton,
    com_height_on_toes,
    posture_from_extension,
    solve_extension,
)

GRAVITY_M_S2 = 9.81

ScalarFn = Callable[[Array], Array]


def quintic(
    duration: float,
    start: tuple[float, float, float],
    end: tuple[float, float, float],
) -> ScalarFn:
    """Quintic over [0, duration] matching position, velocity, acceleration at both ends."""
    t = duration
    rows = np.array(
        [
            [1, 0, 0, 0, 0, 0],
            [0, 1, 0, 0, 0, 0],
            [0, 0, 2, 0, 0, 0],
            [1, t, t**2, t**3, t**4, t**5],
            [0, 1, 2 * t, 3 * t**2, 4 * t**3, 5 * t**4],
            [0, 0, 2, 6 * t, 12 * t**2, 20 * t**3],
        ],
        dtype=np.float64,
    )
    coef = np.linalg.solve(rows, np.array([*start, *end], dtype=np.float64))

    def value(tau: Array) -> Array:
        out = np.zeros_like(tau)
        for c in coef[::-1]:
            out = out * tau + c
        return out

    return value


def _constant(value: float) -> ScalarFn:
    return lambda tau: np.full_like(tau, value)


@dataclass(frozen=True, slots=True)
class GroundPhase:
    """Feet on the ground: CoM height above the support follows ``com_z``."""

    start_s: float
    end_s: float
    toe_x_m: float
    support_z_m: float
    com_z: ScalarFn
    arm: ScalarFn

    def skeleton(self, t: Array, height_m: float) -> Skeleton:
        """Skeleton at absolute times ``t`` inside this phase."""
        tau = t - self.start_s
        arm = self.arm(tau)
        extension = solve_extension(self.com_z(tau), arm, height_m)
        toe = np.tile([self.toe_x_m, self.support_z_m], (t.shape[0], 1))
        return build_skeleton(posture_from_extension(extension, arm), height_m, toe)


@dataclass(frozen=True, slots=True)
class AirPhase:
    """Ballistic flight: the CoM follows a parabola, the posture may change."""

    start_s: float
    end_s: float
    com0: tuple[float, float]
    velocity: tuple[float, float]
    posture: Callable[[Array], Posture]

    def skeleton(self, t: Array, height_m: float) -> Skeleton:
        """Skeleton at absolute times ``t`` inside this phase."""
        tau = t - self.start_s
        body = build_skeleton(self.posture(tau), height_m, np.zeros((t.shape[0], 2)))
        com = np.stack(
            [
                self.com0[0] + self.velocity[0] * tau,
                self.com0[1] + self.velocity[1] * tau - 0.5 * GRAVITY_M_S2 * tau**2,
            ],
            axis=-1,
        )
        return body.shifted(com - body.com)


Phase = GroundPhase | AirPhase


@dataclass
class RepTruth:
    """Exact values of one simulated repetition."""

    takeoff_s: float
    landing_s: float
    takeoff_velocity_m_s: float
    onset_s: float | None = None
    lowest_s: float | None = None
    countermovement_depth_m: float | None = None
    peak_eccentric_velocity_m_s: float | None = None
    peak_concentric_velocity_m_s: float | None = None
    contact_s: float | None = None
    drop_s: float | None = None
    squat_depth_m: float | None = None
    squat_hold_s: float | None = None
    push_start_s: float | None = None
    countermovement_m: float = 0.0

    @property
    def flight_time_s(self) -> float:
        """True flight time."""
        return self.landing_s - self.takeoff_s

    @property
    def jump_height_m(self) -> float:
        """True CoM rise from takeoff to apex, which is also g*T^2/8 here."""
        return self.takeoff_velocity_m_s**2 / (2 * GRAVITY_M_S2)

    @property
    def ground_contact_time_s(self) -> float | None:
        """True drop-jump ground contact time."""
        return None if self.contact_s is None else self.takeoff_s - self.contact_s


@dataclass
class MotionBuilder:
    """Appends phases to a continuous motion, keeping position and velocity continuous."""

    height_m: float
    support_z_m: float = 0.0
    toe_x_m: float = 0.0
    time_s: float = 0.0
    arm_rad: float = 0.0
    phases: list[Phase] = field(default_factory=list)
    reps: list[RepTruth] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.com_z_m = self.standing_com_m
        self.com_v_m_s = 0.0

    @property
    def standing_com_m(self) -> float:
        """CoM height above the support in upright standing with hanging arms."""
        return float(com_height_on_toes(np.zeros(1), np.zeros(1), self.height_m)[0])

    def toes_com_m(self, arm_rad: float) -> float:
        """CoM height above the support when fully extended on the toes."""
        return float(com_height_on_toes(np.ones(1), np.array([arm_rad]), self.height_m)[0])

    def _ground(self, duration: float, com_z: ScalarFn, arm: ScalarFn) -> None:
        self.phases.append(
            GroundPhase(
                self.time_s,
                self.time_s + duration,
                self.toe_x_m,
                self.support_z_m,
                com_z,
                arm,
            )
        )
        self.time_s += duration

    def stand(self, duration: float) -> None:
        """Hold the current posture still."""
        self._ground(duration, _constant(self.com_z_m), _constant(self.arm_rad))

    def move_to(self, com_z_m: float, duration: float, arm_rad: float | None = None) -> None:
        """Minimum-jerk move of the CoM (and arms) to a new height, from and to rest."""
        if self.com_v_m_s != 0.0:
            raise ValueError("move_to starts from rest")
        arm_target = self.arm_rad if arm_rad is None else arm_rad
        self._ground(
            duration,
            quintic(duration, (self.com_z_m, 0, 0), (com_z_m, 0, 0)),
            quintic(duration, (self.arm_rad, 0, 0), (arm_target, 0, 0)),
        )
        self.com_z_m, self.arm_rad = com_z_m, arm_target

    def push_off(self, duration: float, takeoff_velocity: float, arm_rad: float) -> float:
        """Propulsion from the current state to takeoff; returns the takeoff time."""
        z_to = self.toes_com_m(arm_rad)
        self._ground(
            duration,
            quintic(
                duration,
                (self.com_z_m, self.com_v_m_s, 0),
                (z_to, takeoff_velocity, -GRAVITY_M_S2),
            ),
            quintic(duration, (self.arm_rad, 0, 0), (arm_rad, 0, 0)),
        )
        self.com_z_m, self.com_v_m_s, self.arm_rad = z_to, takeoff_velocity, arm_rad
        return self.time_s

    def fly(self, drift_m_s: float = 0.05, tuck_rad: float = np.radians(25.0)) -> float:
        """Ballistic flight back onto the toes with the same posture; returns landing time."""
        v0 = self.com_v_m_s
        flight = 2 * v0 / GRAVITY_M_S2
        start_body = build_skeleton(
            posture_from_extension(np.ones(1), np.array([self.arm_rad])),
            self.height_m,
            np.array([[self.toe_x_m, self.support_z_m]]),
        )
        arm = self.arm_rad

        def posture(tau: Array) -> Posture:
            base = posture_from_extension(np.ones_like(tau), np.full_like(tau, arm))
            tuck = tuck_rad * np.sin(np.pi * np.clip(tau / flight, 0, 1)) ** 2
            return Posture(
                base.foot, base.shank - tuck, base.thigh + 0.3 * tuck, base.trunk, arm + 0 * tau
            )

        com0 = (float(start_body.com[0, 0]), float(start_body.com[0, 1]))
        self.phases.append(
            AirPhase(self.time_s, self.time_s + flight, com0, (drift_m_s, v0), posture)
        )
        self.time_s += flight
        self.toe_x_m += drift_m_s * flight
        self.com_v_m_s = -v0
        return self.time_s

    def absorb(self, depth_m: float, duration: float, arm_rad: float = 0.0) -> None:
        """Landing: decelerate from touchdown to rest ``depth_m`` below standing CoM."""
        bottom = self.standing_com_m - depth_m
        self._ground(
            duration,
            quintic(duration, (self.com_z_m, self.com_v_m_s, -GRAVITY_M_S2), (bottom, 0, 0)),
            quintic(duration, (self.arm_rad, 0, 0), (arm_rad, 0, 0)),
        )
        self.com_z_m, self.com_v_m_s, self.arm_rad = bottom, 0.0, arm_rad

    def step_off(self, forward_m_s: float = 0.6) -> tuple[float, float]:
        """Step off the support and fall onto the ground below (z = 0), landing on the toes.

        Returns (time the body left the support, time of first ground contact).
        """
        drop_start = self.time_s
        start = build_skeleton(
            posture_from_extension(np.zeros(1), np.array([self.arm_rad])),
            self.height_m,
            np.array([[self.toe_x_m, self.support_z_m]]),
        )
        com0 = (float(start.com[0, 0]), float(start.com[0, 1]))
        fall = com0[1] - self.toes_com_m(self.arm_rad)
        if fall <= 0:
            raise ValueError("support too low to step off")
        duration = float(np.sqrt(2 * fall / GRAVITY_M_S2))
        arm = self.arm_rad
        reach = min(0.12, 0.6 * duration)

        def posture(tau: Array) -> Posture:
            extension = np.clip(tau / reach, 0, 1)
            return posture_from_extension(extension, np.full_like(tau, arm))

        self.phases.append(
            AirPhase(drop_start, drop_start + duration, com0, (forward_m_s, 0.0), posture)
        )
        self.time_s += duration
        end_com_x = com0[0] + forward_m_s * duration
        toe_body = build_skeleton(
            posture_from_extension(np.ones(1), np.array([arm])), self.height_m, np.zeros((1, 2))
        )
        self.toe_x_m = end_com_x - float(toe_body.com[0, 0])
        self.support_z_m = 0.0
        self.com_z_m = self.toes_com_m(arm)
        self.com_v_m_s = -GRAVITY_M_S2 * duration
        return drop_start, self.time_s

    def skeleton_at(self, t: Array) -> tuple[Skeleton, Array]:
        """Skeleton at sorted times ``t`` (within the motion) and a mask of airborne times."""
        n = t.shape[0]
        names = Skeleton.__slots__
        out = {name: np.zeros((n, 2)) for name in names}
        airborne = np.zeros(n, dtype=bool)
        for phase in self.phases:
            mask = (t >= phase.start_s) & (t < phase.end_s)
            if not mask.any():
                continue
            part = phase.skeleton(t[mask], self.height_m)
            for name in names:
                out[name][mask] = getattr(part, name)
            airborne[mask] = isinstance(phase, AirPhase)
        return Skeleton(**out), airborne
