"""A handheld camera's motion taken out of the landmarks
(:class:`~kinestream.operators.camera_motion.CameraMotion`), on textured synthetic scenes
with a known camera path."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from kinestream.operators.camera_motion import CameraMotion
from kinestream.operators.pose import NUM_LANDMARKS, PoseSample

WIDTH, HEIGHT = 1280, 720
Matrix = npt.NDArray[np.float64]


def background(seed: int = 3) -> npt.NDArray[np.uint8]:
    """A wider-than-the-frame textured scene (blurred noise, like a gym's clutter)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (HEIGHT + 200, WIDTH + 200), dtype=np.uint8)
    blurred = np.asarray(cv2.GaussianBlur(noise, (0, 0), 3.0), dtype=np.float64)
    span = blurred.max() - blurred.min()
    grey = ((blurred - blurred.min()) * (255 / span)).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def athlete(k: int) -> npt.NDArray[np.float64]:
    """The athlete's 33 landmarks in the scene (pixels): a figure that hops up and down."""
    rng = np.random.default_rng(100)
    base = np.column_stack(
        [rng.uniform(560, 720, NUM_LANDMARKS), rng.uniform(250, 600, NUM_LANDMARKS)]
    )
    lifted: npt.NDArray[np.float64] = base - [0.0, 40.0 * abs(np.sin(k / 6))]
    return lifted


def camera(right: float, down: float, degrees: float) -> Matrix:
    """Scene pixels to frame pixels for a camera moved by ``right``/``down`` pixels and
    turned by ``degrees``."""
    matrix = np.asarray(cv2.getRotationMatrix2D((WIDTH / 2, HEIGHT / 2), degrees, 1.0), float)
    matrix[:, 2] += (right, down)
    return matrix


def frame(
    scene: npt.NDArray[np.uint8], k: int, matrix: Matrix, noise: float = 0.0
) -> tuple[npt.NDArray[np.uint8], PoseSample]:
    """The frame the camera ``matrix`` sees, with the athlete drawn in it, and its pose."""
    picture = scene[100 : 100 + HEIGHT, 100 : 100 + WIDTH].copy()
    points = athlete(k)
    x0, y0 = points.min(axis=0).astype(int)
    x1, y1 = points.max(axis=0).astype(int)
    block = np.random.default_rng(k).integers(0, 256, (y1 - y0, x1 - x0, 3), dtype=np.uint8)
    picture[y0:y1, x0:x1] = block  # the athlete looks different on every frame
    warped = cv2.warpAffine(picture, matrix, (WIDTH, HEIGHT), borderMode=cv2.BORDER_REFLECT)
    if noise:
        grain = np.random.default_rng(1000 + k).normal(0.0, noise, warped.shape)
        warped = np.clip(warped + grain, 0, 255)
    seen = points @ matrix[:, :2].T + matrix[:, 2]
    landmarks = np.zeros((NUM_LANDMARKS, 4))
    landmarks[:, 0], landmarks[:, 1], landmarks[:, 3] = seen[:, 0] / WIDTH, seen[:, 1] / HEIGHT, 1
    sample = PoseSample(k, k / 30, WIDTH, HEIGHT, landmarks)
    return np.asarray(warped, dtype=np.uint8), sample


def path(k: int) -> tuple[float, float, float]:
    """A hand following a jump and shaking: up to 30 px down, 6 px across, 0.8 degrees."""
    return 6 * np.sin(k / 4), 30 * np.sin(k / 20) ** 2 + 2 * np.cos(k), 0.8 * np.sin(k / 9)


def test_a_moving_camera_is_taken_out_of_the_landmarks() -> None:
    """Within 0.5 px of where a still camera would have seen them, after 60 frames of
    shifts up to 30 px and turns up to 0.8 degrees (the first frame's camera is the
    reference); without the correction they are up to 30 px off."""
    scene, motion = background(), CameraMotion()
    worst_raw = worst = 0.0
    for k in range(60):
        rgb, sample = frame(scene, k, camera(*path(k)))
        steady = motion.steady(rgb, sample)
        truth = athlete(k) @ camera(*path(0))[:, :2].T + camera(*path(0))[:, 2]
        worst = max(worst, float(np.abs(steady.pixels() - truth).max()))
        worst_raw = max(worst_raw, float(np.abs(sample.pixels() - truth).max()))
    assert worst_raw > 20
    assert worst < 0.5
    assert motion.moved
    assert motion.steps_unmeasured == 0


def test_a_still_camera_leaves_the_landmarks_exactly_as_found() -> None:
    """Sensor grain (4 grey levels) and the moving athlete do not make a still camera
    wander: every sample is returned unchanged."""
    scene, motion = background(), CameraMotion()
    for k in range(40):
        rgb, sample = frame(scene, k, camera(0, 0, 0), noise=4.0)
        assert motion.steady(rgb, sample) is sample
    assert not motion.moved


def test_a_blank_background_shows_no_motion_and_invents_none() -> None:
    """A plain wall gives nothing to follow: the steps are counted as unmeasured and the
    landmarks stay as found."""
    scene, motion = np.full((HEIGHT + 200, WIDTH + 200, 3), 120, np.uint8), CameraMotion()
    for k in range(10):
        rgb, sample = frame(scene, k, camera(*path(k)))
        assert motion.steady(rgb, sample) is sample
    assert motion.steps_unmeasured == 9


def test_something_else_moving_in_the_background_is_not_the_camera() -> None:
    """A second textured object crossing a quarter of the picture (a passer-by) while the
    camera stands still moves nothing."""
    scene, motion = background(), CameraMotion()
    passer = np.random.default_rng(7).integers(0, 256, (400, 300, 3), dtype=np.uint8)
    for k in range(30):
        rgb, sample = frame(scene, k, camera(0, 0, 0))
        x = 40 + 12 * k
        rgb[200:600, x : x + 300] = passer
        assert motion.steady(rgb, sample) is sample


def test_a_frame_without_a_pose_still_follows_the_camera() -> None:
    scene, motion = background(), CameraMotion()
    rgb, sample = frame(scene, 0, camera(0, 0, 0))
    motion.steady(rgb, sample)
    rgb, _ = frame(scene, 1, camera(0, 12, 0))
    empty = PoseSample(1, 1 / 30, WIDTH, HEIGHT, None)
    assert motion.steady(rgb, empty) is empty
    rgb, sample = frame(scene, 2, camera(0, 12, 0))
    steady = motion.steady(rgb, sample)
    np.testing.assert_allclose(steady.pixels(), sample.pixels() - [0, 12], atol=0.3)


@pytest.mark.parametrize("cut", [1, 17])
def test_the_motion_pickles_mid_stream(cut: int) -> None:
    """A stream's camera motion resumed from a snapshot gives the same poses as one that
    never stopped."""
    scene = background()
    frames = [frame(scene, k, camera(*path(k))) for k in range(24)]
    whole, resumed = CameraMotion(), CameraMotion()
    expected = [whole.steady(rgb, sample).pixels() for rgb, sample in frames]
    for rgb, sample in frames[:cut]:
        resumed.steady(rgb, sample)
    resumed = pickle.loads(pickle.dumps(resumed))
    for (rgb, sample), want in zip(frames[cut:], expected[cut:], strict=True):
        np.testing.assert_array_equal(resumed.steady(rgb, sample).pixels(), want)
