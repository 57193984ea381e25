"""A synthetic runner filmed from the side, with every foot strike and toe-off exact.

Each foot is rigid (the proportions of :mod:`kinestream.simulation.body`), described by its
toe point and its angle (positive: heel up). A contact of one foot:

* **strike** at ``strike_s``: the lowest point (the heel for a heel strike, the toe for a
  forefoot strike, both at once for a midfoot strike) reaches the ground moving down at
  0.4-1.0 m/s, still slowing down (10-40 m/s^2, the leg is being retracted); its velocity
  stops there (an impact);
* the foot rolls flat about that point (15 % of the contact), stays flat, then the heel
  rises about the toe from half the contact on;
* **toe-off** at ``toe_off_s``: the toe leaves the ground with zero velocity and a finite
  upward acceleration (30-70 m/s^2), as any body leaving a pivot does.

In swing the toe and the foot angle follow quintics (position, velocity and acceleration
continuous) through a high point behind the body. The hip moves at the running speed; its
height follows a ballistic parabola while both feet are off the ground and a smooth dip
during each contact; knees come from two-link inverse kinematics. On a treadmill the ground
moves back at the belt speed and the hip stays in place; overground the camera stands still
and the runner crosses its field of view.

The camera sees the athlete's left side: the right leg is the far one. With
``far_leg_occlusion`` its foot is hidden (low visibility, stray positions) whenever it
passes behind the near leg.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from kinestream.operators.pose import Landmark, PoseSample
from kinestream.simulation.body import (
    ANKLE_HEIGHT,
    FOOT_LENGTH,
    HEEL_TO_ANKLE_X,
    SHANK,
    THIGH,
    Array,
    Posture,
    build_skeleton,
)
from kinestream.simulation.camera import Camera, film, frame_times, skeleton_landmarks
from kinestream.simulation.motion import GRAVITY_M_S2, quintic
from kinestream.simulation.scenarios import walking_landmarks

LEFT = "left"
RIGHT = "right"
ROLL_SHARE = 0.15
HEEL_OFF_SHARE = 0.5
HIP_OVER_ANKLE_SHARE = 0.4
"""The hip passes over the stance ankle at this share of the contact."""
FAR_FOOT = (Landmark.RIGHT_ANKLE, Landmark.RIGHT_HEEL, Landmark.RIGHT_FOOT_INDEX)
FAR_LEG = (Landmark.RIGHT_KNEE, *FAR_FOOT)


@dataclass(frozen=True, slots=True)
class StepTruth:
    """One exact contact: which foot, strike and toe-off, and the flight before it."""

    foot: str
    strike_s: float
    toe_off_s: float
    flight_before_s: float | None
    step_time_s: float | None
    strike_angle_rad: float

    @property
    def contact_time_s(self) -> float:
        """Strike to toe-off."""
        return self.toe_off_s - self.strike_s


@dataclass(frozen=True, slots=True)
class RunnerParams:
    """How the synthetic athlete runs.

    ``strike_index`` goes from 0 (heel strike, toes 15 degrees up) to 1 (forefoot strike,
    heel 12 degrees up). ``asymmetry`` makes the left contacts longer than the right by that
    share of the contact time (negative: shorter). ``variability`` is the coefficient of
    variation of each step's time and contact time.
    """

    height_m: float = 1.80
    cadence_spm: float = 170.0
    contact_s: float = 0.25
    strike_index: float = 0.0
    asymmetry: float = 0.0
    variability: float = 0.015
    treadmill: bool = True

    def __post_init__(self) -> None:
        step = 60.0 / self.cadence_spm
        if not 120.0 <= self.cadence_spm <= 220.0:
            raise ValueError("cadence must be between 120 and 220 steps/min")
        if not 0.12 <= self.contact_s <= step - 0.03:
            raise ValueError("contact time must leave a flight phase of at least 30 ms")
        if not 0.0 <= self.strike_index <= 1.0:
            raise ValueError("strike index must be between 0 and 1")

    @property
    def speed_m_s(self) -> float:
        """Running speed: the hip travels about 0.46 body heights over one contact."""
        return 0.46 * self.height_m / self.contact_s


@dataclass
class RunTrial:
    """A simulated run: what the camera saw and what really happened."""

    samples: list[PoseSample]
    steps: list[StepTruth]
    athlete_height_m: float
    camera: Camera
    params: RunnerParams
    belt_speed_m_s: float | None
    in_view: list[bool] = field(default_factory=list)
    """For each step, whether the whole runner was filmed in the image from 0.1 s before
    its strike to 0.1 s after its toe-off (overground, the runner crosses the view; the
    film may end during a step)."""
    hidden_far_foot: Array = field(default_factory=lambda: np.zeros(0))
    """Times of the frames where the far foot was hidden behind the near leg."""


def _foot_points(toe: Array, angle: Array, h: float) -> tuple[Array, Array]:
    """Heel and ankle of a rigid foot from its toe (n, 2) and angle (n,)."""
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    heel = toe + h * FOOT_LENGTH * np.concatenate([-cos, sin], axis=1)
    lx, lz = h * (HEEL_TO_ANKLE_X - FOOT_LENGTH), h * ANKLE_HEIGHT
    ankle = toe + np.concatenate([lx * cos - lz * sin, -lx * sin + lz * cos], axis=1)
    return heel, ankle


def _knee(hip: Array, ankle: Array, thigh: float, shank: float) -> Array:
    """Two-link inverse kinematics with the knee in front (+x) of the hip-ankle line."""
    d = ankle - hip
    dist = np.clip(np.linalg.norm(d, axis=1), 1e-6, thigh + shank - 1e-6)
    along = (thigh**2 - shank**2 + dist**2) / (2 * dist)
    across = np.sqrt(np.clip(thigh**2 - along**2, 0.0, None))
    unit = d / dist[:, None]
    normal = np.stack([-unit[:, 1], unit[:, 0]], axis=-1)  # points forwards for a leg down
    knee: Array = hip + unit * along[:, None] + normal * across[:, None]
    return knee


@dataclass(frozen=True, slots=True)
class _Contact:
    strike_s: float
    toe_off_s: float
    toe_x_m: float
    """Toe position while the foot is flat (ground frame)."""
    strike_angle: float
    toe_off_angle: float
    touchdown_velocity: tuple[float, float]
    touchdown_deceleration: float
    lift_acceleration: tuple[float, float]


class _Runner:
    """Continuous kinematics of a run (ground frame), built from its contacts."""

    def __init__(self, params: RunnerParams, steps: int, rng: np.random.Generator) -> None:
        self.params = params
        self.h = params.height_m
        self.speed = params.speed_m_s
        step_s = 60.0 / params.cadence_spm
        self.start_s = 0.0
        contacts: dict[str, list[_Contact]] = {LEFT: [], RIGHT: []}
        time_s = 0.25
        truths: list[StepTruth] = []
        previous_toe_off: float | None = None
        previous_strike: float | None = None
        lx = self.h * (HEEL_TO_ANKLE_X - FOOT_LENGTH)
        for k in range(steps + 4):  # two more on each side: every true contact has
            # a real swing before and after it
            foot = LEFT if k % 2 == 0 else RIGHT
            sign = 1.0 if foot == LEFT else -1.0
            cv = params.variability
            step = step_s * (1.0 + cv * float(rng.standard_normal()))
            contact = params.contact_s * (1.0 + 0.5 * sign * params.asymmetry)
            contact *= 1.0 + cv * float(rng.standard_normal())
            contact = min(contact, step - 0.03)
            strike_angle = np.radians(-15.0 + 27.0 * params.strike_index)
            strike_angle += np.radians(float(rng.normal(0.0, 1.5)))
            toe_x = float(self.hip_x(time_s + HIP_OVER_ANKLE_SHARE * contact)) - lx
            contacts[foot].append(
                _Contact(
                    strike_s=time_s,
                    toe_off_s=time_s + contact,
                    toe_x_m=toe_x,
                    strike_angle=float(strike_angle),
                    toe_off_angle=float(np.radians(rng.uniform(30.0, 40.0))),
                    touchdown_velocity=(
                        float(rng.uniform(-0.2, 0.4)),
                        -float(rng.uniform(0.4, 1.0)),
                    ),
                    touchdown_deceleration=float(rng.uniform(10.0, 40.0)),
                    lift_acceleration=(
                        float(rng.uniform(10.0, 30.0)),
                        float(rng.uniform(30.0, 70.0)),
                    ),
                )
            )
            truths.append(
                StepTruth(
                    foot=foot,
                    strike_s=time_s,
                    toe_off_s=time_s + contact,
                    flight_before_s=None if previous_toe_off is None else time_s - previous_toe_off,
                    step_time_s=None if previous_strike is None else time_s - previous_strike,
                    strike_angle_rad=float(strike_angle),
                )
            )
            previous_toe_off, previous_strike = time_s + contact, time_s
            time_s += step
        self.contacts = contacts
        self.steps = truths[2 : steps + 2]
        self.first_s = truths[1].toe_off_s + 0.005
        self.end_s = truths[steps + 2].strike_s - 0.005
        self.hip_z0 = self._hip_height_at_contact()

    def hip_x(self, t: Array | float) -> Array:
        """Hip position along the ground frame."""
        return np.asarray(self.speed * np.asarray(t, dtype=np.float64))

    def _hip_height_at_contact(self) -> float:
        """Hip height at strike and toe-off: as high as the legs reach throughout."""
        reach = self.h * (THIGH + SHANK) - 0.005
        self.hip_z0 = 0.0
        t = np.arange(self.contacts[LEFT][0].strike_s, self.contacts[RIGHT][-1].toe_off_s, 0.002)
        bump = self.hip_z(t)
        dx_hip = self.hip_x(t)
        highest = np.inf
        for side in (LEFT, RIGHT):
            first, last = self.contacts[side][0].strike_s, self.contacts[side][-1].toe_off_s
            inside = (t >= first) & (t < last)
            toe, angle = self.foot(side, t[inside])
            _, ankle = _foot_points(toe, angle, self.h)
            dx = np.abs(dx_hip[inside] - ankle[:, 0])
            ok = dx < reach
            need = ankle[ok, 1] + np.sqrt(reach**2 - dx[ok] ** 2) - bump[inside][ok]
            highest = min(highest, float(need.min()))
        return highest

    def _stance(self, c: _Contact, t: Array) -> tuple[Array, Array]:
        """Toe (n, 2) and angle (n,) of a foot in contact at times ``t``."""
        h = self.h
        duration = c.toe_off_s - c.strike_s
        roll_end = c.strike_s + ROLL_SHARE * duration
        heel_off = c.strike_s + HEEL_OFF_SHARE * duration
        u = np.clip((t - c.strike_s) / (roll_end - c.strike_s), 0.0, 1.0)
        v = np.clip((t - heel_off) / (c.toe_off_s - heel_off), 0.0, 1.0)
        angle = c.strike_angle * (1.0 - u) ** 2 + c.toe_off_angle * v**2
        toe = np.tile([c.toe_x_m, 0.0], (t.shape[0], 1))
        if c.strike_angle < 0:  # rolling about the heel until flat
            length = h * FOOT_LENGTH
            heel_x = c.toe_x_m - length
            rolling = t < roll_end
            toe[rolling, 0] = heel_x + length * np.cos(angle[rolling])
            toe[rolling, 1] = -length * np.sin(angle[rolling])
        return toe, angle

    def _strike_toe(self, c: _Contact) -> tuple[float, float]:
        toe, _ = self._stance(c, np.array([c.strike_s]))
        return float(toe[0, 0]), float(toe[0, 1])

    def _swing(self, done: _Contact, next_: _Contact, t: Array) -> tuple[Array, Array]:
        """Toe and angle between ``done``'s toe-off and ``next_``'s strike."""
        start, end = done.toe_off_s, next_.strike_s
        mid = start + 0.4 * (end - start)
        push_s = (1.0 - HEEL_OFF_SHARE) * (done.toe_off_s - done.strike_s)
        omega = 2.0 * done.toe_off_angle / push_s
        strike_x, strike_z = self._strike_toe(next_)
        mid_x = float(self.hip_x(mid)) - 0.15 * self.h
        mid_z = 0.17 * self.h
        mid_vx = (strike_x - done.toe_x_m) / (end - start)
        mid_angle = np.radians(60.0)
        ax, az = done.lift_acceleration
        ux, uz = next_.touchdown_velocity
        first = t < mid
        toe = np.zeros((t.shape[0], 2))
        angle = np.zeros(t.shape[0])
        tau1, tau2 = t[first] - start, t[~first] - mid
        d1, d2 = mid - start, end - mid
        toe[first, 0] = quintic(d1, (done.toe_x_m, 0.0, ax), (mid_x, mid_vx, 0.0))(tau1)
        toe[first, 1] = quintic(d1, (0.0, 0.0, az), (mid_z, 0.0, 0.0))(tau1)
        angle[first] = quintic(d1, (done.toe_off_angle, omega, 0.0), (mid_angle, 0.0, 0.0))(tau1)
        toe[~first, 0] = quintic(d2, (mid_x, mid_vx, 0.0), (strike_x, ux, 0.0))(tau2)
        decel = next_.touchdown_deceleration
        toe[~first, 1] = quintic(d2, (mid_z, 0.0, 0.0), (strike_z, uz, decel))(tau2)
        angle[~first] = quintic(d2, (mid_angle, 0.0, 0.0), (next_.strike_angle, 0.0, 0.0))(tau2)
        return toe, angle

    def foot(self, side: str, t: Array) -> tuple[Array, Array]:
        """Toe and angle of one foot at sorted times ``t`` (ground frame), from its first
        strike to its last toe-off."""
        contacts = self.contacts[side]
        toe = np.zeros((t.shape[0], 2))
        angle = np.zeros(t.shape[0])
        for i, c in enumerate(contacts):
            start, down, end = np.searchsorted(t, [c.strike_s, c.toe_off_s, _next(contacts, i)])
            if start < down:
                toe[start:down], angle[start:down] = self._stance(c, t[start:down])
            if down < end:
                toe[down:end], angle[down:end] = self._swing(c, contacts[i + 1], t[down:end])
        return toe, angle

    def hip_z(self, t: Array) -> Array:
        """Hip height at sorted times ``t``: ballistic in flight, a smooth dip during each
        contact."""
        intervals = sorted(
            (c.strike_s, c.toe_off_s) for side in (LEFT, RIGHT) for c in self.contacts[side]
        )
        z = np.full(t.shape[0], self.hip_z0)
        g = GRAVITY_M_S2
        for k, (strike, toe_off) in enumerate(intervals):
            prev_flight = strike - intervals[k - 1][1] if k > 0 else 0.1
            next_flight = intervals[k + 1][0] - toe_off if k + 1 < len(intervals) else 0.1
            start, down, end = np.searchsorted(t, [strike, toe_off, toe_off + next_flight])
            curve = quintic(
                toe_off - strike,
                (self.hip_z0, -0.5 * g * prev_flight, -g),
                (self.hip_z0, 0.5 * g * next_flight, -g),
            )
            z[start:down] = curve(t[start:down] - strike)
            tau = t[down:end] - toe_off
            z[down:end] = self.hip_z0 + 0.5 * g * next_flight * tau - 0.5 * g * tau**2
        return z

    def landmarks(self, t: Array, ground_shift: Array, origin_x: float) -> Array:
        """World landmarks (n, 33, 2): left leg near, right leg far."""
        h = self.h
        n = t.shape[0]
        hip = np.stack([origin_x + self.hip_x(t) - ground_shift, self.hip_z(t)], axis=-1)
        step_s = 60.0 / self.params.cadence_spm
        arm = np.radians(35.0) * np.sin(np.pi * (t - self.steps[0].strike_s) / step_s)
        posture = Posture(
            foot=np.zeros(n),
            shank=np.zeros(n),
            thigh=np.zeros(n),
            trunk=np.full(n, np.radians(8.0)),
            arm=arm,
        )
        upper = build_skeleton(posture, h, np.zeros((n, 2)))
        upper = upper.shifted(hip - upper.hip)
        out = None
        for side in (LEFT, RIGHT):
            toe, angle = self.foot(side, t)
            toe = toe + np.stack([origin_x - ground_shift, np.zeros(n)], axis=-1)
            heel, ankle = _foot_points(toe, angle, h)
            knee = _knee(hip, ankle, h * THIGH, h * SHANK)
            points = skeleton_landmarks(
                replace(upper, toe=toe, heel=heel, ankle=ankle, knee=knee, hip=hip)
            )
            if out is None:
                out = points
            else:
                out[:, 24::2] = points[:, 24::2]
        assert out is not None
        return out


def _next(contacts: list[_Contact], i: int) -> float:
    """When contact ``i``'s swing ends: the next strike (its toe-off for the last one)."""
    return contacts[i + 1].strike_s if i + 1 < len(contacts) else contacts[i].toe_off_s


def _hidden_far_foot(world: Array) -> Array:
    """Frames where the far foot is behind the near leg (shank or foot) in a side view."""
    far_lo = world[:, FAR_FOOT, 0].min(axis=1) - 0.02
    far_hi = world[:, FAR_FOOT, 0].max(axis=1) + 0.02
    near = world[:, [Landmark.LEFT_KNEE, *(i - 1 for i in FAR_FOOT)], 0]
    near_lo, near_hi = near.min(axis=1), near.max(axis=1)
    far_z = world[:, FAR_FOOT, 1].min(axis=1)
    knee_z = world[:, Landmark.LEFT_KNEE, 1]
    hidden: Array = (far_lo < near_hi) & (far_hi > near_lo) & (far_z < knee_z)
    return hidden


def _occlude(
    samples: list[PoseSample],
    hidden: Array,
    first_seq: int,
    camera: Camera,
    rng: np.random.Generator,
) -> None:
    """Hide the far foot (in place) on the frames where ``hidden``: low visibility and a
    stray position, as a pose estimator guesses a foot it cannot see."""
    stray_px = max(3.0 * camera.noise_px, 0.01 * camera.px_per_m)
    for sample in samples:
        i = sample.seq - first_seq
        if sample.landmarks is None or not hidden[i]:
            continue
        rows = list(FAR_FOOT)
        sample.landmarks[rows, 3] = rng.uniform(0.05, 0.4, size=len(rows))
        shift = rng.normal(0.0, stray_px, size=2) / np.array([camera.width, camera.height])
        sample.landmarks[rows, :2] += shift


def run(
    params: RunnerParams | None = None,
    steps: int = 30,
    camera: Camera | None = None,
    seed: int = 0,
    far_leg_occlusion: bool = True,
) -> RunTrial:
    """A run of ``steps`` contacts, filmed from the side, on a treadmill or overground.

    Overground the camera stands still and the runner crosses its view
    (:attr:`RunTrial.in_view` says which steps it saw whole). The camera defaults to one that
    fits a treadmill runner (treadmill) or about 12 m of track (overground).
    """
    params = params or RunnerParams()
    rng = np.random.default_rng(seed)
    if camera is None:
        camera = Camera() if params.treadmill else Camera(px_per_m=150.0, origin_x_px=0.0)
    runner = _Runner(params, steps, rng)
    times = frame_times(runner.first_s, runner.end_s, camera.fps, rng)
    if params.treadmill:
        shift = runner.speed * times
        origin = 0.0
    else:
        shift = np.zeros_like(times)
        origin = -runner.speed * (runner.first_s + 0.5)
    world = runner.landmarks(times, shift, origin)
    samples = film(times, world, camera, rng, body_height_m=params.height_m)
    hidden = _hidden_far_foot(world) if far_leg_occlusion else np.zeros(times.shape[0], bool)
    _occlude(samples, hidden, 0, camera, rng)
    x_px = camera.origin_x_px + world[..., 0] * camera.px_per_m
    inside = (x_px.min(axis=1) >= 0) & (x_px.max(axis=1) < camera.width)
    seen = [_inside_at(times, inside, s.strike_s, s.toe_off_s) for s in runner.steps]
    return RunTrial(
        samples,
        runner.steps,
        params.height_m,
        camera,
        params,
        runner.speed if params.treadmill else None,
        seen,
        times[hidden],
    )


def _inside_at(times: Array, inside: Array, start_s: float, end_s: float) -> bool:
    """The whole runner was filmed, in the image, from 0.1 s before ``start_s`` to 0.1 s
    after ``end_s``."""
    if times[0] > start_s - 0.1 or times[-1] < end_s + 0.1:
        return False
    span = (times >= start_s - 0.1) & (times <= end_s + 0.1)
    return bool(inside[span].all())


def walk(
    duration_s: float = 8.0,
    speed_m_s: float = 1.3,
    camera: Camera | None = None,
    seed: int = 0,
    treadmill: bool = True,
) -> RunTrial:
    """Walking (double support, no flight), on a treadmill or across the view: no steps of
    running in it."""
    rng = np.random.default_rng(seed)
    camera = camera or Camera()
    times = frame_times(0.0, duration_s, camera.fps, rng)
    if treadmill:
        world = walking_landmarks(times, 0.0, speed_m_s)
        world[..., 0] -= speed_m_s * (times - times[0])[:, None]
    else:
        world = walking_landmarks(times, -duration_s * speed_m_s / 2, speed_m_s)
    samples = film(times, world, camera, rng)
    return RunTrial(
        samples,
        [],
        1.80,
        camera,
        RunnerParams(),
        speed_m_s if treadmill else None,
    )


__all__ = ["RunTrial", "RunnerParams", "StepTruth", "run", "walk"]
