"""MediaPipePoseEstimator on a real frame, a blank frame and malformed input."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from kinestream.connectors.video import read_frames
from kinestream.operators import mediapipe_pose
from kinestream.operators.mediapipe_pose import MediaPipePoseEstimator, PoseModelMissingError
from kinestream.operators.pose import Landmark, PoseSample
from tests.footage import DEMO_CLIP, footage


@pytest.fixture(scope="module")
def estimator() -> Iterator[MediaPipePoseEstimator]:
    with MediaPipePoseEstimator() as built:
        yield built


def _merged_y(sample: PoseSample, left: Landmark, right: Landmark) -> float:
    assert sample.landmarks is not None
    return float(sample.landmarks[[left, right], 1].mean())


@pytest.mark.footage
def test_finds_the_athlete_with_sensible_landmarks_on_real_footage() -> None:
    clip = footage(DEMO_CLIP)
    with MediaPipePoseEstimator() as fresh:  # video mode: detect, then track, in order
        samples = [fresh.estimate(rgb, seq, t) for seq, t, rgb in read_frames(clip, limit=16)]
    last = samples[-1]
    assert last.landmarks is not None, "no person found in the first 16 frames of the demo"
    assert last.world is not None
    assert last.landmarks.shape == (33, 4)
    assert last.world.shape == (33, 3)
    assert (last.image_width, last.image_height) == (1280, 720)
    lm = last.landmarks
    core = [Landmark.LEFT_SHOULDER, Landmark.RIGHT_SHOULDER, Landmark.LEFT_HIP, Landmark.RIGHT_HIP]
    assert lm[core, 3].mean() > 0.8
    # The man standing on the box, upright: head above shoulders above hips above knees
    # above ankles, all in his column of the image (the walker has not entered yet).
    heights = [
        float(lm[Landmark.NOSE, 1]),
        _merged_y(last, Landmark.LEFT_SHOULDER, Landmark.RIGHT_SHOULDER),
        _merged_y(last, Landmark.LEFT_HIP, Landmark.RIGHT_HIP),
        _merged_y(last, Landmark.LEFT_KNEE, Landmark.RIGHT_KNEE),
        _merged_y(last, Landmark.LEFT_ANKLE, Landmark.RIGHT_ANKLE),
    ]
    assert heights == sorted(heights)
    assert 0.2 < heights[-1] - heights[0] < 0.6
    assert np.all((lm[:, 0] > 0.2) & (lm[:, 0] < 0.55))
    # World landmarks are metric with the origin between the hips.
    hips = last.world[[Landmark.LEFT_HIP, Landmark.RIGHT_HIP]].mean(axis=0)
    assert np.abs(hips).max() < 0.1
    assert np.abs(last.world).max() < 1.5


def test_blank_frame_has_no_person(estimator: MediaPipePoseEstimator) -> None:
    sample = estimator.estimate(np.zeros((480, 640, 3), dtype=np.uint8), 7, 0.25)
    assert sample.landmarks is None
    assert sample.world is None
    assert (sample.seq, sample.timestamp_s) == (7, 0.25)
    assert (sample.image_width, sample.image_height) == (640, 480)


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (np.zeros((480, 640), dtype=np.uint8), r"\(height, width, 3\).*\(480, 640\)"),
        (np.zeros((480, 640, 4), dtype=np.uint8), r"\(height, width, 3\).*\(480, 640, 4\)"),
        (np.zeros((0, 640, 3), dtype=np.uint8), r"\(height, width, 3\)"),
        (np.zeros((480, 640, 3), dtype=np.float32), "uint8 numpy array, got float32"),
    ],
)
def test_rejects_malformed_frames(
    estimator: MediaPipePoseEstimator, frame: npt.NDArray[Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        estimator.estimate(frame, 0, 0.0)


def test_rejects_a_non_array(estimator: MediaPipePoseEstimator) -> None:
    with pytest.raises(ValueError, match="uint8 numpy array, got list"):
        estimator.estimate([[0, 0, 0]], 0, 0.0)  # type: ignore[arg-type]


def test_is_not_picklable(estimator: MediaPipePoseEstimator) -> None:
    with pytest.raises(TypeError, match="build a new one after a resume"):
        pickle.dumps(estimator)


def test_closed_estimator_refuses_frames() -> None:
    built = MediaPipePoseEstimator()
    built.close()
    built.close()
    with pytest.raises(RuntimeError, match="closed"):
        built.estimate(np.zeros((8, 8, 3), dtype=np.uint8), 0, 0.0)


def test_missing_bundled_model_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        mediapipe_pose,
        "_BUNDLED_FILES",
        ("modules/pose_landmark/pose_landmark_full.tflite", "modules/nowhere/missing.tflite"),
    )
    with pytest.raises(PoseModelMissingError, match=r"missing\.tflite.*never downloads"):
        MediaPipePoseEstimator()


def test_bundled_model_is_the_full_landmark_model() -> None:
    path = mediapipe_pose.bundled_model_path()
    assert path.name == "pose_landmark_full.tflite"
    assert path.is_file()
