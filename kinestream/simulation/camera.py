"""A camera filming the synthetic athlete: projection (side or frontal view, steady or
handheld), sampling and noise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from kinestream.operators.pose import NUM_LANDMARKS, Landmark, PoseSample
from kinestream.simulation.body import ANKLE_HEIGHT, Array, Skeleton
from kinestream.simulation.noise import RealisticNoise


@dataclass(frozen=True, slots=True)
class Camera:
    """A level pinhole camera at 1080p looking at the athlete's left side.

    ``px_per_m`` sets the athlete's size in the image, ``floor_y_px`` where the ground is.
    ``noise_px`` is the standard deviation of the white landmark noise; ``realistic_noise``,
    when given, replaces it with MediaPipe-like noise (:mod:`kinestream.simulation.noise`).
    drop_rate is the share of frames lost in transport; ``occlusion_rate`` the share of
    frames where the far-side foot is hidden (low visibility and, with white noise, ten
    times the noise).

    ``view`` ``frontal`` films the athlete from the front: left and right landmarks a body
    width apart (:data:`HALF_WIDTH`), forward motion along the line of sight, heights as
    from the side, except the toe landmarks, which rise with the ankles by
    ``FRONTAL_TOE_SHARE`` of their rise as the heels come up (as MediaPipe places them from
    the front). ``tilt_follow`` makes it a handheld camera that tilts up with the
    jumper: every landmark moves down in the image by that share of the hips' rise above
    their first height (standing), lagging by ``TILT_LAG_S`` (a hand following what it
    sees).
    """

    fps: float = 60.0
    width: int = 1920
    height: int = 1080
    px_per_m: float = 360.0
    floor_y_px: float = 1000.0
    origin_x_px: float = 900.0
    noise_px: float = 0.5
    drop_rate: float = 0.0
    occlusion_rate: float = 0.0
    realistic_noise: RealisticNoise | None = None
    view: str = "side"
    tilt_follow: float = 0.0

    def __post_init__(self) -> None:
        if self.view not in ("side", "frontal"):
            raise ValueError("view must be side or frontal")


TILT_LAG_S: Final = 0.15
FRONTAL_TOE_SHARE: Final = 0.76
"""Seen from the front, MediaPipe's toe landmark (foot_index) rises with the ankle while the
toes stay on the surface: by this share of the ankle's rise as the heel comes up (median of
20 feet at the contact frames of the demo clip's frontal hops, quartiles 0.66-0.79,
``bench/measure_frontal_feet.py``). The frontal view films it so."""
HALF_WIDTH: Final = {
    Landmark.LEFT_SHOULDER: 0.089,
    Landmark.LEFT_ELBOW: 0.15,
    Landmark.LEFT_WRIST: 0.16,
    Landmark.LEFT_HIP: 0.053,
    Landmark.LEFT_KNEE: 0.06,
    Landmark.LEFT_ANKLE: 0.06,
    Landmark.LEFT_HEEL: 0.06,
    Landmark.LEFT_FOOT_INDEX: 0.07,
    Landmark.LEFT_EAR: 0.045,
}
"""Half the distance between a left landmark and its right twin seen from the front, in
body heights: shoulders and hips where MediaPipe puts them (joint centres, 0.62 and 0.37 of
the trunk's length apart on the demo clip's frontal hops, ``bench/measure_frontal_feet.py``),
the limbs from Winter's (2009) breadths; the right one's index follows the left's; hands go
with the wrist, eyes and mouth ``FACE_HALF_WIDTH``."""
FACE_HALF_WIDTH: Final = 0.018


def skeleton_landmarks(skeleton: Skeleton) -> Array:
    """World positions (metres) of the 33 landmarks, shape (n, 33, 2)."""
    n = skeleton.com.shape[0]
    out = np.zeros((n, NUM_LANDMARKS, 2))
    out[:, Landmark.NOSE] = skeleton.nose
    for index in (1, 2, 3, 4, 5, 6):
        out[:, index] = skeleton.eye
    out[:, Landmark.LEFT_EAR] = skeleton.ear
    out[:, Landmark.RIGHT_EAR] = skeleton.ear
    out[:, 9] = skeleton.mouth
    out[:, 10] = skeleton.mouth
    pairs = (
        (Landmark.LEFT_SHOULDER, Landmark.RIGHT_SHOULDER, skeleton.shoulder),
        (Landmark.LEFT_ELBOW, Landmark.RIGHT_ELBOW, skeleton.elbow),
        (Landmark.LEFT_WRIST, Landmark.RIGHT_WRIST, skeleton.wrist),
        (17, 18, skeleton.hand),
        (19, 20, skeleton.hand),
        (21, 22, 0.5 * (skeleton.wrist + skeleton.hand)),
        (Landmark.LEFT_HIP, Landmark.RIGHT_HIP, skeleton.hip),
        (Landmark.LEFT_KNEE, Landmark.RIGHT_KNEE, skeleton.knee),
        (Landmark.LEFT_ANKLE, Landmark.RIGHT_ANKLE, skeleton.ankle),
        (Landmark.LEFT_HEEL, Landmark.RIGHT_HEEL, skeleton.heel),
        (Landmark.LEFT_FOOT_INDEX, Landmark.RIGHT_FOOT_INDEX, skeleton.toe),
    )
    for left, right, points in pairs:
        out[:, left] = points
        out[:, right] = points
    return out


_FAR_SIDE = np.array([i for i in range(NUM_LANDMARKS) if i >= 11 and i % 2 == 0] + [4, 5, 6, 8, 10])
_FAR_FOOT = np.array([Landmark.RIGHT_ANKLE, Landmark.RIGHT_HEEL, Landmark.RIGHT_FOOT_INDEX])


def film(
    times: Array,
    world_landmarks: Array,
    camera: Camera,
    rng: np.random.Generator,
    first_seq: int = 0,
    body_height_m: float = 1.80,
) -> list[PoseSample]:
    """Project landmarks seen at ``times`` into noisy pose samples, dropping some frames.

    ``body_height_m`` sizes the realistic noise, which is a share of the body's height.
    """
    n = times.shape[0]
    px = np.empty_like(world_landmarks)
    if camera.view == "frontal":
        px[..., 0] = camera.origin_x_px + _lateral_m(body_height_m) * camera.px_per_m
    else:
        px[..., 0] = camera.origin_x_px + world_landmarks[..., 0] * camera.px_per_m
    if camera.view == "frontal":
        world_landmarks = _toes_following_ankles(world_landmarks, body_height_m)
    px[..., 1] = camera.floor_y_px - world_landmarks[..., 1] * camera.px_per_m
    if camera.tilt_follow:
        px[..., 1] += camera.tilt_follow * camera.px_per_m * _lagged_rise(times, world_landmarks)
    visibility = rng.uniform(0.9, 1.0, size=(n, NUM_LANDMARKS))
    if camera.view == "side":
        visibility[:, _FAR_SIDE] = rng.uniform(0.55, 0.85, size=(n, _FAR_SIDE.shape[0]))
    if camera.realistic_noise is None:
        noise = rng.normal(0.0, camera.noise_px, size=px.shape)
    else:
        body_px = body_height_m * camera.px_per_m
        px, visibility = camera.realistic_noise.apply(times, px, visibility, body_px, rng)
        noise = np.zeros_like(px)
    occluded = rng.random(n) < camera.occlusion_rate
    if occluded.any():
        rows = np.flatnonzero(occluded)
        visibility[np.ix_(rows, _FAR_FOOT)] = rng.uniform(0.05, 0.3, size=(rows.size, 3))
        noise[np.ix_(rows, _FAR_FOOT)] *= 10.0
    px += noise
    outside = (
        (px[..., 0] < 0)
        | (px[..., 0] >= camera.width)
        | (px[..., 1] < 0)
        | (px[..., 1] >= camera.height)
    )
    visibility[outside] = 0.02
    kept = rng.random(n) >= camera.drop_rate
    samples = []
    for i in np.flatnonzero(kept):
        if outside[i].mean() > 0.5:
            samples.append(
                PoseSample(first_seq + int(i), float(times[i]), camera.width, camera.height, None)
            )
            continue
        landmarks = np.zeros((NUM_LANDMARKS, 4))
        landmarks[:, 0] = px[i, :, 0] / camera.width
        landmarks[:, 1] = px[i, :, 1] / camera.height
        landmarks[:, 2] = 0.0
        landmarks[_FAR_SIDE, 2] = 0.1
        landmarks[:, 3] = visibility[i]
        samples.append(
            PoseSample(
                seq=first_seq + int(i),
                timestamp_s=float(times[i]),
                image_width=camera.width,
                image_height=camera.height,
                landmarks=landmarks,
            )
        )
    return samples


def _toes_following_ankles(world_landmarks: Array, body_height_m: float) -> Array:
    """The landmarks with each toe raised by ``FRONTAL_TOE_SHARE`` of its ankle's rise
    above the toe beyond a flat foot's (the heel's rise about the toes)."""
    out = world_landmarks.copy()
    for ankle, toe in (
        (Landmark.LEFT_ANKLE, Landmark.LEFT_FOOT_INDEX),
        (Landmark.RIGHT_ANKLE, Landmark.RIGHT_FOOT_INDEX),
    ):
        lift = world_landmarks[:, ankle, 1] - world_landmarks[:, toe, 1]
        lift = np.maximum(lift - ANKLE_HEIGHT * body_height_m, 0.0)
        out[:, toe, 1] += FRONTAL_TOE_SHARE * lift
    return out


def _lateral_m(body_height_m: float) -> Array:
    """Each landmark's sideways position seen from the front (metres, the athlete's left
    on the image's right), shape (33,)."""
    lateral = np.zeros(NUM_LANDMARKS)
    for landmark, half in HALF_WIDTH.items():
        lateral[int(landmark)] = half * body_height_m
        lateral[int(landmark) + 1] = -half * body_height_m
    for hand in (17, 19, 21):  # pinky, index and thumb with the wrist
        lateral[hand] = lateral[Landmark.LEFT_WRIST]
        lateral[hand + 1] = lateral[Landmark.RIGHT_WRIST]
    for left, right in ((1, 4), (2, 5), (3, 6), (9, 10)):  # eyes and mouth
        lateral[left] = FACE_HALF_WIDTH * body_height_m
        lateral[right] = -FACE_HALF_WIDTH * body_height_m
    return lateral


def _lagged_rise(times: Array, world_landmarks: Array) -> Array:
    """The hips' rise above their first height (none below it), followed with a
    first-order lag of ``TILT_LAG_S``: how far a hand tilting the camera up after the
    jumper has turned it, shape (n, 1) for every landmark alike."""
    hips = world_landmarks[:, Landmark.LEFT_HIP, 1]
    rise = np.maximum(hips - hips[0], 0.0)
    followed = np.zeros_like(rise)
    for k in range(1, rise.shape[0]):
        share = 1.0 - np.exp(-(times[k] - times[k - 1]) / TILT_LAG_S)
        followed[k] = followed[k - 1] + share * (rise[k] - followed[k - 1])
    out: Array = followed[:, None]
    return out


def frame_times(start_s: float, end_s: float, fps: float, rng: np.random.Generator) -> Array:
    """Frame capture times covering [start_s, end_s) at ``fps`` with a random phase."""
    offset = rng.uniform(0.0, 1.0 / fps)
    count = int(np.floor((end_s - start_s - offset) * fps))
    return start_s + offset + np.arange(count) / fps
