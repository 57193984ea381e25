"""A sagittal-plane stick figure with anthropometric proportions and segment masses.

Segment lengths follow Drillis & Contini's proportions of body height, segment masses and
centre-of-mass locations follow Winter (2009). Coordinates are metres: ``x`` forwards (the
athlete faces +x), ``z`` up. All functions are vectorised over time: every angle is an array
of shape (n,) and every point an array of shape (n, 2).

Posture is given by absolute segment angles (radians, from the vertical):

* ``foot``: heel rise about the toe, 0 = flat, positive = heel up (plantarflexion);
* ``shank``: positive leans the knee forwards;
* ``thigh``: positive leans the hip forwards of the knee (negative in a squat);
* ``trunk``: positive leans the shoulders forwards;
* ``arm``: shoulder flexion, 0 = hanging, positive = swung forwards and up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

# Proportions of body height (Drillis & Contini).
FOOT_LENGTH = 0.152
ANKLE_HEIGHT = 0.039
SHANK = 0.246
THIGH = 0.245
TRUNK = 0.288
NECK_TO_EAR = 0.118
UPPER_ARM = 0.186
FOREARM = 0.146
HAND = 0.108
EYE_FORWARD = 0.045
NOSE_FORWARD = 0.060
NOSE_DOWN = 0.018
MOUTH_DOWN = 0.040
HEEL_TO_ANKLE_X = 0.25 * FOOT_LENGTH

# Segment mass fractions and CoM position from the proximal end (Winter 2009).
MASS_HEAD = 0.081
MASS_TRUNK = 0.497
MASS_UPPER_ARM = 0.028
MASS_FOREARM_HAND = 0.022
MASS_THIGH = 0.100
MASS_SHANK = 0.0465
MASS_FOOT = 0.0145
COM_TRUNK = 0.50
COM_UPPER_ARM = 0.436
COM_FOREARM_HAND = 0.682
COM_THIGH = 0.433
COM_SHANK = 0.433
ELBOW_FLEXION = np.radians(15.0)
MAX_HEEL_RISE = np.radians(35.0)


@dataclass(frozen=True, slots=True)
class Posture:
    """Absolute segment angles over time (radians), each of shape (n,)."""

    foot: Array
    shank: Array
    thigh: Array
    trunk: Array
    arm: Array


@dataclass(frozen=True, slots=True)
class Skeleton:
    """Joint positions (metres) over time, each of shape (n, 2), and the body's CoM."""

    toe: Array
    heel: Array
    ankle: Array
    knee: Array
    hip: Array
    shoulder: Array
    ear: Array
    eye: Array
    nose: Array
    mouth: Array
    elbow: Array
    wrist: Array
    hand: Array
    com: Array

    def shifted(self, offset: Array) -> Skeleton:
        """Return the skeleton translated by ``offset`` of shape (n, 2)."""
        fields = {name: getattr(self, name) + offset for name in self.__slots__}
        return Skeleton(**fields)


def _direction(angle: Array) -> Array:
    """Unit vectors pointing up, rotated forwards by ``angle``."""
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1)


def _hanging(angle: Array) -> Array:
    """Unit vectors pointing down, swung forwards by ``angle``."""
    return np.stack([np.sin(angle), -np.cos(angle)], axis=-1)


def posture_from_extension(extension: Array, arm: Array) -> Posture:
    """Map a scalar extension in [-1, 1] to a jumping posture.

    -1 is a deep squat, 0 upright standing with flat feet, +1 fully extended on the toes.
    """
    crouch = np.clip(-extension, 0.0, 1.0)
    rise = np.clip(extension, 0.0, 1.0)
    return Posture(
        foot=rise * MAX_HEEL_RISE,
        shank=np.radians(35.0) * crouch,
        thigh=-np.radians(75.0) * crouch,
        trunk=np.radians(45.0) * crouch,
        arm=arm,
    )


def build_skeleton(posture: Posture, height_m: float, toe: Array) -> Skeleton:
    """Build the skeleton of a body of ``height_m`` standing on ``toe`` (n, 2)."""
    h = height_m
    foot = posture.foot[:, None]
    heel = toe + h * FOOT_LENGTH * np.concatenate([-np.cos(foot), np.sin(foot)], axis=1)
    # The ankle sits above and slightly in front of the heel, rigid with the foot.
    ankle_local = np.array([h * (HEEL_TO_ANKLE_X - FOOT_LENGTH), h * ANKLE_HEIGHT])
    cos_f, sin_f = np.cos(foot), np.sin(foot)
    ankle = toe + np.concatenate(
        [
            ankle_local[0] * cos_f - ankle_local[1] * sin_f,
            -ankle_local[0] * sin_f + ankle_local[1] * cos_f,
        ],
        axis=1,
    )
    knee = ankle + h * SHANK * _direction(posture.shank)
    hip = knee + h * THIGH * _direction(posture.thigh)
    shoulder = hip + h * TRUNK * _direction(posture.trunk)
    head_angle = 0.5 * posture.trunk
    ear = shoulder + h * NECK_TO_EAR * _direction(head_angle)
    forward = _direction(head_angle + np.pi / 2)
    up = _direction(head_angle)
    eye = ear + h * EYE_FORWARD * forward
    nose = ear + h * (NOSE_FORWARD * forward - NOSE_DOWN * up)
    mouth = ear + h * (EYE_FORWARD * forward - MOUTH_DOWN * up)
    elbow = shoulder + h * UPPER_ARM * _hanging(posture.arm)
    forearm_dir = _hanging(posture.arm + ELBOW_FLEXION)
    wrist = elbow + h * FOREARM * forearm_dir
    hand = wrist + h * HAND * forearm_dir

    foot_com = (heel + ankle + toe) / 3.0
    com = (
        MASS_HEAD * ear
        + MASS_TRUNK * (hip + COM_TRUNK * (shoulder - hip))
        + 2 * MASS_UPPER_ARM * (shoulder + COM_UPPER_ARM * (elbow - shoulder))
        + 2 * MASS_FOREARM_HAND * (elbow + COM_FOREARM_HAND * (wrist - elbow))
        + 2 * MASS_THIGH * (hip + COM_THIGH * (knee - hip))
        + 2 * MASS_SHANK * (knee + COM_SHANK * (ankle - knee))
        + 2 * MASS_FOOT * foot_com
    )
    return Skeleton(
        toe=toe,
        heel=heel,
        ankle=ankle,
        knee=knee,
        hip=hip,
        shoulder=shoulder,
        ear=ear,
        eye=eye,
        nose=nose,
        mouth=mouth,
        elbow=elbow,
        wrist=wrist,
        hand=hand,
        com=com,
    )


def com_height_on_toes(extension: Array, arm: Array, height_m: float) -> Array:
    """CoM height above the toe for postures given by extension and arm angle."""
    posture = posture_from_extension(extension, arm)
    toe = np.zeros((extension.shape[0], 2))
    return build_skeleton(posture, height_m, toe).com[:, 1]


def solve_extension(com_height: Array, arm: Array, height_m: float) -> Array:
    """Find the extension whose CoM height above the toe is ``com_height`` (bisection).

    Raises ``ValueError`` if a requested height is outside the body's range.
    """
    lo = np.full_like(com_height, -1.0)
    hi = np.full_like(com_height, 1.0)
    low_z = com_height_on_toes(lo, arm, height_m)
    high_z = com_height_on_toes(hi, arm, height_m)
    if np.any(com_height < low_z - 1e-9) or np.any(com_height > high_z + 1e-9):
        raise ValueError("requested CoM height is outside the body's range of motion")
    for _ in range(48):
        mid = 0.5 * (lo + hi)
        above = com_height_on_toes(mid, arm, height_m) > com_height
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return 0.5 * (lo + hi)
