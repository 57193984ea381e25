"""Ready-made sessions of the synthetic athlete, each with its exact ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kinestream.operators.pose import PoseSample
from kinestream.simulation.body import (
    ANKLE_HEIGHT,
    FOOT_LENGTH,
    HEEL_TO_ANKLE_X,
    SHANK,
    THIGH,
    Array,
    Skeleton,
    build_skeleton,
    posture_from_extension,
)
from kinestream.simulation.camera import Camera, film, frame_times, skeleton_landmarks
from kinestream.simulation.motion import GRAVITY_M_S2, MotionBuilder, RepTruth
from kinestream.sports import Sport


@dataclass
class Trial:
    """A simulated session: the pose samples a camera saw and what really happened."""

    sport: Sport
    samples: list[PoseSample]
    reps: list[RepTruth]
    athlete_height_m: float
    camera: Camera
    box_height_m: float | None = None
    notes: dict[str, float] = field(default_factory=dict)


def _jump_params(rng: np.random.Generator) -> tuple[float, float, float]:
    """Random but plausible (takeoff velocity, propulsion duration, depth)."""
    return (
        float(rng.uniform(2.0, 3.0)),
        float(rng.uniform(0.25, 0.35)),
        float(rng.uniform(0.22, 0.38)),
    )


def _film_builder(
    builder: MotionBuilder, camera: Camera, rng: np.random.Generator, start_s: float = 0.0
) -> list[PoseSample]:
    times = frame_times(start_s, builder.time_s, camera.fps, rng)
    skeleton, _ = builder.skeleton_at(times)
    return film(times, skeleton_landmarks(skeleton), camera, rng, body_height_m=builder.height_m)


def _cmj_rep(builder: MotionBuilder, rng: np.random.Generator) -> RepTruth:
    v0, push, depth = _jump_params(rng)
    ecc = float(rng.uniform(0.45, 0.7))
    onset = builder.time_s
    standing = builder.standing_com_m
    builder.move_to(standing - depth, ecc, arm_rad=np.radians(-50.0))
    lowest = builder.time_s
    takeoff = builder.push_off(push, v0, arm_rad=np.radians(150.0))
    landing = builder.fly(drift_m_s=float(rng.uniform(-0.1, 0.1)))
    builder.absorb(float(rng.uniform(0.12, 0.25)), float(rng.uniform(0.3, 0.45)))
    builder.move_to(standing, float(rng.uniform(0.6, 0.9)))
    builder.stand(float(rng.uniform(1.2, 2.0)))
    t = np.linspace(onset, takeoff, 4000, endpoint=False)
    z = _com_z(builder, t)
    v = np.gradient(z, t)
    ecc_mask = t < lowest
    return RepTruth(
        takeoff_s=takeoff,
        landing_s=landing,
        takeoff_velocity_m_s=v0,
        onset_s=onset,
        lowest_s=lowest,
        countermovement_depth_m=depth,
        peak_eccentric_velocity_m_s=float(-v[ecc_mask].min()),
        peak_concentric_velocity_m_s=float(v[~ecc_mask].max()),
    )


def _com_z(builder: MotionBuilder, t: Array) -> Array:
    skeleton, _ = builder.skeleton_at(t)
    return skeleton.com[:, 1]


def countermovement_jumps(
    reps: int = 3,
    camera: Camera | None = None,
    seed: int = 0,
    athlete_height_m: float = 1.80,
) -> Trial:
    """Quiet standing, then ``reps`` countermovement jumps with arm swing."""
    rng = np.random.default_rng(seed)
    camera = camera or Camera()
    builder = MotionBuilder(athlete_height_m)
    builder.stand(float(rng.uniform(1.5, 2.0)))
    truths = [_cmj_rep(builder, rng) for _ in range(reps)]
    return Trial(Sport.CMJ, _film_builder(builder, camera, rng), truths, athlete_height_m, camera)


def squat_jumps(
    reps: int = 2,
    camera: Camera | None = None,
    seed: int = 0,
    athlete_height_m: float = 1.80,
    countermovement_m: float = 0.0,
) -> Trial:
    """Squat jumps from a held squat, hands on hips; optionally with a dip before the push."""
    rng = np.random.default_rng(seed)
    camera = camera or Camera()
    builder = MotionBuilder(athlete_height_m)
    standing = builder.standing_com_m
    builder.stand(float(rng.uniform(1.5, 2.0)))
    truths = []
    for _ in range(reps):
        v0, push, _ = _jump_params(rng)
        depth = float(rng.uniform(0.20, 0.32))
        builder.move_to(standing - depth, float(rng.uniform(0.8, 1.2)))
        hold_start = builder.time_s
        builder.stand(float(rng.uniform(1.2, 2.0)))
        hold = builder.time_s - hold_start
        if countermovement_m > 0:
            builder.move_to(standing - depth - countermovement_m, 0.2)
        push_start = builder.time_s
        takeoff = builder.push_off(push, v0, arm_rad=0.0)
        landing = builder.fly()
        builder.absorb(float(rng.uniform(0.12, 0.25)), float(rng.uniform(0.3, 0.45)))
        builder.move_to(standing, float(rng.uniform(0.6, 0.9)))
        builder.stand(float(rng.uniform(1.2, 2.0)))
        truths.append(
            RepTruth(
                takeoff_s=takeoff,
                landing_s=landing,
                takeoff_velocity_m_s=v0,
                squat_depth_m=depth,
                squat_hold_s=hold,
                push_start_s=push_start,
                countermovement_m=countermovement_m,
            )
        )
    return Trial(
        Sport.SQUAT_JUMP, _film_builder(builder, camera, rng), truths, athlete_height_m, camera
    )


def drop_jumps(
    reps: int = 1,
    box_height_m: float = 0.40,
    camera: Camera | None = None,
    seed: int = 0,
    athlete_height_m: float = 1.80,
) -> Trial:
    """Stand on a box, step off, rebound jump, land and stand; then climb back (off camera).

    Each repetition is filmed as its own stretch of one stream; between them the athlete
    is out of view for a few seconds while stepping back onto the box.
    """
    rng = np.random.default_rng(seed)
    camera = camera or Camera(floor_y_px=1040.0, px_per_m=330.0)
    samples: list[PoseSample] = []
    truths = []
    offset_s = 0.0
    for _ in range(reps):
        builder = MotionBuilder(athlete_height_m, support_z_m=box_height_m, time_s=offset_s)
        builder.stand(float(rng.uniform(1.5, 2.0)))
        drop, contact = builder.step_off()
        v0, push, _ = _jump_params(rng)
        takeoff = builder.push_off(float(rng.uniform(0.18, 0.32)), v0, arm_rad=np.radians(60.0))
        landing = builder.fly(drift_m_s=float(rng.uniform(0.0, 0.2)))
        builder.absorb(float(rng.uniform(0.15, 0.25)), float(rng.uniform(0.3, 0.45)))
        builder.move_to(builder.standing_com_m, float(rng.uniform(0.6, 0.9)))
        builder.stand(float(rng.uniform(1.2, 2.0)))
        del push
        part = _film_builder(builder, camera, rng, start_s=offset_s)
        first_seq = samples[-1].seq + 1 if samples else 0
        samples.extend(_renumber(part, first_seq))
        truths.append(
            RepTruth(
                takeoff_s=takeoff,
                landing_s=landing,
                takeoff_velocity_m_s=v0,
                contact_s=contact,
                drop_s=drop,
            )
        )
        # Out of view while walking back onto the box.
        gap_start = builder.time_s
        offset_s = gap_start + 4.0
        gap = frame_times(gap_start, offset_s, camera.fps, rng)
        next_seq = samples[-1].seq + 1
        samples.extend(
            PoseSample(next_seq + k, float(t), camera.width, camera.height, None)
            for k, t in enumerate(gap)
        )
    return Trial(
        Sport.DROP_JUMP, samples, truths, athlete_height_m, camera, box_height_m=box_height_m
    )


def _renumber(samples: list[PoseSample], first_seq: int) -> list[PoseSample]:
    base = samples[0].seq if samples else 0
    return [
        PoseSample(
            s.seq - base + first_seq, s.timestamp_s, s.image_width, s.image_height, s.landmarks
        )
        for s in samples
    ]


def quiet_standing(
    duration_s: float = 30.0, camera: Camera | None = None, seed: int = 0, sport: Sport = Sport.CMJ
) -> Trial:
    """An athlete standing still, swaying slightly, for ``duration_s``."""
    rng = np.random.default_rng(seed)
    camera = camera or Camera()
    builder = MotionBuilder(1.80)
    standing = builder.standing_com_m
    while builder.time_s < duration_s:
        builder.move_to(standing - float(rng.uniform(0.0, 0.01)), float(rng.uniform(0.8, 2.0)))
    return Trial(sport, _film_builder(builder, camera, rng), [], 1.80, camera)


def arm_swings(
    swings: int = 6, camera: Camera | None = None, seed: int = 0, sport: Sport = Sport.CMJ
) -> Trial:
    """Standing with vigorous arm swings and small knee bends, but never leaving the ground."""
    rng = np.random.default_rng(seed)
    camera = camera or Camera()
    builder = MotionBuilder(1.80)
    standing = builder.standing_com_m
    builder.stand(2.0)
    for _ in range(swings):
        builder.move_to(standing - float(rng.uniform(0.03, 0.12)), 0.5, arm_rad=np.radians(-60.0))
        builder.move_to(standing, 0.5, arm_rad=np.radians(float(rng.uniform(90.0, 170.0))))
        builder.move_to(standing, 0.4, arm_rad=0.0)
    builder.stand(1.5)
    return Trial(sport, _film_builder(builder, camera, rng), [], 1.80, camera)


def walking_skeleton(
    times: Array,
    start_x_m: float,
    speed_m_s: float,
    leg_phase: float = 0.0,
    height_m: float = 1.80,
    cycle_s: float = 1.05,
) -> Skeleton:
    """A walking figure's body and one leg, ``leg_phase`` cycles into its gait."""
    h = height_m
    hip_x = start_x_m + speed_m_s * (times - times[0])
    stride = speed_m_s * cycle_s
    sign = 1.0 if speed_m_s >= 0 else -1.0
    base = build_skeleton(
        posture_from_extension(np.zeros(times.shape[0]), np.zeros(times.shape[0])),
        h,
        np.zeros((times.shape[0], 2)),
    )
    hip_z = base.hip[:, 1] - 0.03 + 0.015 * np.cos(4 * np.pi * times / cycle_s)

    def foot(offset: float) -> tuple[Array, Array]:
        phase = (times - times[0]) / cycle_s + offset
        cycle = np.floor(phase)
        p = phase - cycle
        swing = np.clip((p - 0.6) / 0.4, 0.0, 1.0)
        smooth = swing**2 * (3 - 2 * swing)
        x = start_x_m + stride * (cycle - offset + smooth) + sign * 0.1 * stride
        lift = 0.07 * np.sin(np.pi * swing)
        return x, lift

    ankle_x, lift = foot(leg_phase)
    ankle = np.stack([ankle_x, h * ANKLE_HEIGHT + lift], axis=-1)
    hip = np.stack([hip_x, hip_z], axis=-1)
    knee = _knee(hip, ankle, h * THIGH, h * SHANK, sign)
    shift = np.stack([hip_x - base.hip[:, 0], hip_z - base.hip[:, 1]], axis=-1)
    upper = base.shifted(shift)
    toe = ankle + np.array([sign * h * (FOOT_LENGTH - HEEL_TO_ANKLE_X), -h * ANKLE_HEIGHT])
    heel = ankle + np.array([-sign * h * HEEL_TO_ANKLE_X, -h * ANKLE_HEIGHT])
    return Skeleton(
        toe=toe,
        heel=heel,
        ankle=ankle,
        knee=knee,
        hip=hip,
        shoulder=upper.shoulder,
        ear=upper.ear,
        eye=upper.eye,
        nose=upper.nose,
        mouth=upper.mouth,
        elbow=upper.elbow,
        wrist=upper.wrist,
        hand=upper.hand,
        com=upper.com,
    )


def _knee(hip: Array, ankle: Array, thigh: float, shank: float, sign: float) -> Array:
    """Two-link inverse kinematics: the knee in front of the hip-ankle line."""
    d = ankle - hip
    dist = np.clip(np.linalg.norm(d, axis=1), 1e-6, thigh + shank - 1e-6)
    along = (thigh**2 - shank**2 + dist**2) / (2 * dist)
    across = np.sqrt(np.clip(thigh**2 - along**2, 0.0, None))
    unit = d / dist[:, None]
    normal = np.stack([-unit[:, 1], unit[:, 0]], axis=-1) * -sign
    knee: Array = hip + unit * along[:, None] + normal * across[:, None]
    return knee


def walking_landmarks(times: Array, start_x_m: float, speed_m_s: float) -> Array:
    """World landmarks (n, 33, 2) of a walker with distinct left and right legs."""
    left = skeleton_landmarks(walking_skeleton(times, start_x_m, speed_m_s, leg_phase=0.0))
    right = skeleton_landmarks(walking_skeleton(times, start_x_m, speed_m_s, leg_phase=0.5))
    left[:, 24::2] = right[:, 24::2]
    return left


def walk_in_jump_walk_out(reps: int = 2, camera: Camera | None = None, seed: int = 0) -> Trial:
    """Walk into view, stand, do countermovement jumps, walk out of view on the other side."""
    rng = np.random.default_rng(seed)
    camera = camera or Camera()
    speed = 1.2
    walk_in_s = 3.5
    t_in = frame_times(0.0, walk_in_s, camera.fps, rng)
    landmarks = [walking_landmarks(t_in, -walk_in_s * speed, speed)]
    builder = MotionBuilder(1.80, time_s=walk_in_s)
    builder.stand(float(rng.uniform(1.5, 2.0)))
    truths = [_cmj_rep(builder, rng) for _ in range(reps)]
    t_mid = frame_times(walk_in_s, builder.time_s, camera.fps, rng)
    skeleton, _ = builder.skeleton_at(t_mid)
    landmarks.append(skeleton_landmarks(skeleton))
    t_out = frame_times(builder.time_s, builder.time_s + 3.5, camera.fps, rng)
    landmarks.append(walking_landmarks(t_out, builder.toe_x_m - 0.2, speed))
    times = np.concatenate([t_in, t_mid, t_out])
    samples = film(times, np.concatenate(landmarks), camera, rng)
    return Trial(Sport.CMJ, samples, truths, 1.80, camera)


def walking_through(camera: Camera | None = None, seed: int = 0) -> Trial:
    """A person walking across the whole field of view, never jumping."""
    rng = np.random.default_rng(seed)
    camera = camera or Camera()
    times = frame_times(0.0, 7.0, camera.fps, rng)
    samples = film(times, walking_landmarks(times, -3.0, 1.1), camera, rng)
    return Trial(Sport.CMJ, samples, [], 1.80, camera)


__all__ = [
    "GRAVITY_M_S2",
    "Trial",
    "arm_swings",
    "countermovement_jumps",
    "drop_jumps",
    "quiet_standing",
    "squat_jumps",
    "walk_in_jump_walk_out",
    "walking_through",
]
