"""BlazePose on ONNX Runtime against MediaPipe's own pipeline on every frame of a real clip.

Both run the same models (TFLite in MediaPipe, their ONNX conversion here) through the same
steps; the outputs differ by the conversion's rounding (landmarks 0.005 px of the crop),
which tracking feeds back into the next frame's crop. Tolerances: the median over frames
of each frame's median landmark distance at most 1 px at 1280 px width; the fraction of
frames with a person within 1 % (percentage points); world landmarks' median difference
under 1 cm; visibility's median difference under 0.01.
"""

from __future__ import annotations

import numpy as np
import pytest

from kinestream.connectors.video import read_frames
from kinestream.operators.mediapipe_pose import MediaPipePoseEstimator
from kinestream.operators.onnx_pose import OnnxPoseEstimator
from kinestream.operators.pose import PoseSample
from tests.footage import DEMO_CLIP, footage

WIDTH_PX = 1280


@pytest.fixture(scope="module")
def both_paths() -> tuple[list[PoseSample], list[PoseSample]]:
    frames = list(read_frames(footage(DEMO_CLIP), max_dimension=WIDTH_PX))
    assert frames[0][2].shape[1] == WIDTH_PX
    with MediaPipePoseEstimator() as mediapipe, OnnxPoseEstimator() as onnx:
        reference = [mediapipe.estimate(rgb, seq, t) for seq, t, rgb in frames]
        ours = [onnx.estimate(rgb, seq, t) for seq, t, rgb in frames]
    return reference, ours


@pytest.mark.footage
def test_landmarks_match_mediapipe_within_a_pixel(
    both_paths: tuple[list[PoseSample], list[PoseSample]],
) -> None:
    reference, ours = both_paths
    per_frame: list[float] = []
    world: list[float] = []
    visibility: list[float] = []
    for a, b in zip(reference, ours, strict=True):
        if a.landmarks is None or b.landmarks is None:
            continue
        assert a.world is not None
        assert b.world is not None
        per_frame.append(float(np.median(np.linalg.norm(a.pixels() - b.pixels(), axis=1))))
        world.append(float(np.median(np.linalg.norm(a.world - b.world, axis=1))))
        visibility.append(float(np.median(np.abs(a.landmarks[:, 3] - b.landmarks[:, 3]))))
    assert len(per_frame) > 0.9 * len(reference)
    median_px = float(np.median(per_frame))
    print(  # the figures for the record (pytest -s)
        f"{len(per_frame)} frames with both: median landmark distance {median_px:.3f} px, "
        f"p90 {np.percentile(per_frame, 90):.3f} px, world {np.median(world) * 100:.2f} cm, "
        f"visibility {np.median(visibility):.4f}"
    )
    assert median_px <= 1.0
    assert float(np.median(world)) < 0.01
    assert float(np.median(visibility)) < 0.01


@pytest.mark.footage
def test_detection_rate_matches_mediapipe(
    both_paths: tuple[list[PoseSample], list[PoseSample]],
) -> None:
    reference, ours = both_paths
    rate_reference = np.mean([s.landmarks is not None for s in reference])
    rate_ours = np.mean([s.landmarks is not None for s in ours])
    print(f"person found in {rate_reference:.2%} (MediaPipe) and {rate_ours:.2%} (ONNX) of frames")
    assert abs(rate_reference - rate_ours) <= 0.01
