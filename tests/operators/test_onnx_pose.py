"""BlazePose on ONNX Runtime: decoding, geometry, tracking state, batching across streams."""

from __future__ import annotations

import math
import pickle
from collections.abc import Iterator
from dataclasses import astuple
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import pytest

from kinestream.connectors.video import read_frames
from kinestream.operators.blazepose import detector, runtime
from kinestream.operators.blazepose.geometry import (
    Roi,
    crop_roi,
    pad_roi,
    project_landmarks,
    roi_from_alignment_points,
)
from kinestream.operators.blazepose.landmarks import decode_landmarks
from kinestream.operators.blazepose.runtime import (
    BlazePose,
    DeviceUnavailableError,
    PoseRequest,
    providers_for,
)
from kinestream.operators.blazepose.tracking import FRAME_NS, AuxiliaryFilter, PoseTrack
from kinestream.operators.mediapipe_pose import PoseModelMissingError
from kinestream.operators.onnx_pose import OnnxPoseEstimator, shared_blazepose
from kinestream.operators.pose import PoseSample
from tests.footage import DEMO_CLIP, footage

FRAMES = 24  # the athlete is found on frame 5 and tracked from then on


@pytest.fixture(scope="module")
def blazepose() -> BlazePose:
    return BlazePose(threads=1)


@pytest.fixture(scope="module")
def clip() -> list[npt.NDArray[np.uint8]]:
    return [rgb for _, _, rgb in read_frames(footage(DEMO_CLIP), limit=FRAMES)]


def _run(blazepose: BlazePose, frames: list[npt.NDArray[np.uint8]]) -> Iterator[PoseSample]:
    track = PoseTrack()
    for seq, rgb in enumerate(frames):
        [(sample, track)] = blazepose.estimate_batch([PoseRequest(track, rgb, seq, seq / 30)])
        yield sample


def _same(a: PoseSample, b: PoseSample) -> bool:
    if a.landmarks is None or b.landmarks is None:
        return a.landmarks is None and b.landmarks is None
    assert a.world is not None
    assert b.world is not None
    return bool(
        np.allclose(a.landmarks, b.landmarks, atol=1e-6)
        and np.allclose(a.world, b.world, atol=1e-6)
    )


# --- the detector's decoding -------------------------------------------------------------


def test_anchors_follow_the_ssd_layout() -> None:
    anchors = detector.ANCHORS
    assert anchors.shape == (2254, 2)
    # stride 8: 28x28 cells, 2 anchors each, row by row
    np.testing.assert_allclose(anchors[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(anchors[1], anchors[0])
    np.testing.assert_allclose(anchors[2], [1.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(anchors[2 * 28], [0.5 / 28, 1.5 / 28])
    # stride 16 starts after 28*28*2; the three stride-32 layers share 7x7 cells, 6 each
    np.testing.assert_allclose(anchors[1568], [0.5 / 14, 0.5 / 14])
    np.testing.assert_allclose(anchors[1960 : 1960 + 6], np.tile([0.5 / 7, 0.5 / 7], (6, 1)))
    np.testing.assert_allclose(anchors[-1], [6.5 / 7, 6.5 / 7])


def _box(
    regressors: npt.NDArray[np.float32], anchor: int, dx: float, size: float, keypoint: float
) -> None:
    """An anchor's box centred ``dx`` input pixels to its right, keypoints on its centre."""
    regressors[anchor, 0:4] = [dx, 0.0, size, size]
    regressors[anchor, 4:12] = np.tile([dx + keypoint, 0.0], 4)


def test_weighted_nms_merges_overlapping_boxes_by_score() -> None:
    regressors = np.zeros((2254, 12), np.float32)
    logits = np.full((2254, 1), -10.0, np.float32)
    _box(regressors, 100, 0.0, 40.0, 0.0)  # best
    _box(regressors, 101, 4.0, 40.0, 0.0)  # overlaps it (IoU 0.82): merged
    _box(regressors, 2000, 0.0, 40.0, 0.0)  # far away: another person
    logits[100], logits[101], logits[2000] = 3.0, 1.0, 2.0
    points = detector.best_detection(regressors, logits, (0.0, 0.0), 0.5)
    assert points is not None
    w_best, w_other = 1 / (1 + math.exp(-3.0)), 1 / (1 + math.exp(-1.0))
    expected_x = detector.ANCHORS[100, 0] + w_other * 4.0 / 224 / (w_best + w_other)
    np.testing.assert_allclose(points[:, 0], expected_x)
    np.testing.assert_allclose(points[:, 1], detector.ANCHORS[100, 1])


def test_no_detection_below_the_score_threshold() -> None:
    regressors = np.zeros((2254, 12), np.float32)
    logits = np.full((2254, 1), 0.1, np.float32)  # sigmoid 0.525
    assert detector.best_detection(regressors, logits, (0.0, 0.0), 0.53) is None
    assert detector.best_detection(regressors, logits, (0.0, 0.0), 0.5) is not None


def test_letterbox_padding_is_removed_from_keypoints() -> None:
    regressors = np.zeros((2254, 12), np.float32)
    logits = np.full((2254, 1), -10.0, np.float32)
    logits[0] = 5.0
    points = detector.best_detection(regressors, logits, (0.0, 0.25), 0.5)
    assert points is not None
    anchor = detector.ANCHORS[0]
    np.testing.assert_allclose(points[0], [anchor[0], (anchor[1] - 0.25) / 0.5])


def test_letterbox_pads_the_short_side_with_minus_one() -> None:
    tensor, padding = detector.letterbox(np.full((100, 200, 3), 255, np.uint8))
    assert tensor.shape == (224, 224, 3)
    assert padding == (0.0, 0.25)
    assert tensor[0, 112, 0] == -1.0
    assert tensor[112, 112, 0] == 1.0
    assert tensor[-1, 112, 0] == -1.0


# --- landmarks and geometry --------------------------------------------------------------


def test_heatmap_refines_confident_landmarks_only() -> None:
    raw = np.zeros((39, 5), np.float32)
    raw[:, 0:2] = 128.0  # every landmark at the crop centre, heatmap cell (32, 32)
    heatmap = np.full((64, 64, 39), -20.0, np.float32)
    heatmap[34, 30, 0] = 5.0  # landmark 0: a confident peak 2 cells left, 2 down
    heatmap[34, 30, 1] = -1.0  # landmark 1: sigmoid 0.27 < 0.5, no refinement
    heatmap[34, 40, 2] = 5.0  # landmark 2: peak outside its 9x9 window
    out = decode_landmarks(raw.ravel(), heatmap)
    np.testing.assert_allclose(out[0, :2], [30 / 64, 34 / 64], atol=1e-6)
    np.testing.assert_allclose(out[1:, :2], 0.5)
    np.testing.assert_allclose(out[:, 3:], 0.5)  # sigmoid(0) visibility and presence


def test_roi_from_points_is_upright_and_scaled() -> None:
    roi = roi_from_alignment_points(np.array([0.5, 0.6]), np.array([0.5, 0.4]), 200, 100)
    # the scale point 20 px straight above: upright, side 2 * 20 * 1.25 = 50 px, in float
    assert astuple(roi) == pytest.approx((0.5, 0.6, 50 / 200, 50 / 100, 0.0), rel=1e-6)
    assert all(float(np.float32(v)) == v for v in astuple(roi))  # a NormalizedRect's floats
    tilted = roi_from_alignment_points(np.array([0.5, 0.5]), np.array([0.6, 0.5]), 100, 100)
    assert tilted.rotation == pytest.approx(math.pi / 2)


def test_pad_roi_squares_the_rect_in_float_and_projection_removes_the_padding() -> None:
    roi = Roi(0.5, 0.5, 0.3, 0.3 * 640 / 480 * (1 + 1e-6), 0.0)  # a hair taller than wide
    pixels, (pad_x, pad_y) = pad_roi(roi, 640, 480)
    assert pixels.width == pixels.height == pytest.approx(0.3 * 640 * (1 + 1e-6), rel=1e-6)
    assert pad_y == 0.0
    assert 0.0 < pad_x < 1e-6
    corner = np.array([[pad_x, 0.0, 0.0]])  # the crop's left edge, inside the padding
    back = project_landmarks(corner, roi, (pad_x, pad_y))[0]
    assert back[0] == pytest.approx(0.5 - 0.15, abs=1e-6)


def test_the_first_frame_is_at_mediapipes_first_timestamp() -> None:
    # solution_base.py adds 33333 µs before it sends a frame: a pose on the first frame
    # starts the filter there, and the second frame is filtered
    assert PoseTrack().time_ns == FRAME_NS


def test_crop_and_projection_are_inverse() -> None:
    image = np.zeros((300, 400, 3), np.uint8)
    image[148:153, 248:253] = 255  # a dot at (250, 150)
    roi = Roi(0.6, 0.5, 100 / 400, 100 / 300, 0.3)
    weight = crop_roi(image, roi, 256)[:, :, 0]
    rows, cols = np.indices(weight.shape)
    centre = [(weight * cols).sum() / weight.sum(), (weight * rows).sum() / weight.sum()]
    point = np.array([[(centre[0] + 0.5) / 256, (centre[1] + 0.5) / 256, 0.0]])
    back = project_landmarks(point, roi)[0]
    assert back[0] * 400 == pytest.approx(250.5, abs=1.0)
    assert back[1] * 300 == pytest.approx(150.5, abs=1.0)


def test_auxiliary_filter_follows_mediapipes_one_euro() -> None:
    fresh = AuxiliaryFilter()
    first = np.array([100.0, 200.0])
    out, same = fresh.apply(first, 0, 50.0)  # MediaPipe's first frame is at time 0: as is
    assert same == fresh
    assert np.array_equal(out, first)
    out, state = fresh.apply(first, FRAME_NS, 50.0)
    assert np.array_equal(out, first)
    assert state.last_time_ns == FRAME_NS
    assert state.raw == (100.0, 200.0)
    moved = first + 10.0
    out, state = state.apply(moved, 2 * FRAME_NS, 50.0)
    frequency = 1e9 / FRAME_NS
    a_d = 1 / (1 + frequency / (2 * math.pi * 1.0))
    derivative = a_d * 10.0 / 50.0 * frequency
    a = 1 / (1 + frequency / (2 * math.pi * (0.01 + 10.0 * derivative)))
    np.testing.assert_allclose(out, a * moved + (1 - a) * first, rtol=1e-6)  # floats
    assert state.frequency_hz == pytest.approx(frequency)


# --- the pipeline on real frames --------------------------------------------------------


def test_finds_and_tracks_the_athlete(
    blazepose: BlazePose, clip: list[npt.NDArray[np.uint8]]
) -> None:
    samples = list(_run(blazepose, clip))
    found = [s.landmarks is not None for s in samples]
    assert found == [False] * 5 + [True] * (FRAMES - 5)  # as MediaPipe finds him
    last = samples[-1]
    assert last.landmarks is not None
    assert last.world is not None
    assert (last.image_width, last.image_height) == (1280, 720)
    assert np.all((last.landmarks[:, 0] > 0.2) & (last.landmarks[:, 0] < 0.55))


def test_lost_track_detects_again(blazepose: BlazePose, clip: list[npt.NDArray[np.uint8]]) -> None:
    track = PoseTrack()
    for seq, rgb in enumerate(clip[:8]):
        [(_, track)] = blazepose.estimate_batch([PoseRequest(track, rgb, seq, 0.0)])
    assert track.roi is not None
    assert track.aux_filter.raw is not None
    blank = np.zeros_like(clip[0])
    [(sample, lost)] = blazepose.estimate_batch([PoseRequest(track, blank, 8, 0.0)])
    assert sample.landmarks is None
    assert lost == PoseTrack(frames=9)  # no ROI: the next frame runs the detector
    [(again, found)] = blazepose.estimate_batch([PoseRequest(lost, clip[9], 9, 0.0)])
    assert again.landmarks is not None
    assert found.roi is not None
    # A fresh track on the same frame detects the same person the same way.
    [(fresh, _)] = blazepose.estimate_batch([PoseRequest(PoseTrack(frames=9), clip[9], 9, 0.0)])
    assert _same(again, fresh)


def test_a_batch_of_streams_equals_each_stream_alone(
    blazepose: BlazePose, clip: list[npt.NDArray[np.uint8]]
) -> None:
    """Three streams, started at different frames, interleaved in each batch."""
    starts = (0, 5, 11)
    length = FRAMES - max(starts)
    alone = [list(_run(blazepose, clip[s : s + length])) for s in starts]
    tracks = [PoseTrack() for _ in starts]
    together: list[list[PoseSample]] = [[] for _ in starts]
    for k in range(length):
        order = [2, 0, 1] if k % 2 else [0, 1, 2]
        requests = [PoseRequest(tracks[i], clip[starts[i] + k], k, k / 30) for i in order]
        for i, (sample, track) in zip(order, blazepose.estimate_batch(requests), strict=True):
            assert sample.seq == k
            together[i].append(sample)
            tracks[i] = track
    for stream in range(len(starts)):
        assert all(_same(a, b) for a, b in zip(alone[stream], together[stream], strict=True))
    assert sum(s.landmarks is not None for s in together[2]) == length  # all tracked


def test_a_capped_batch_runs_in_chunks_with_the_same_result(
    blazepose: BlazePose, clip: list[npt.NDArray[np.uint8]]
) -> None:
    capped = BlazePose(threads=1, max_batch=2)
    starts = range(5, 10)  # five streams, all tracking after their first frame
    tracks = [PoseTrack() for _ in starts]
    for k in range(3):
        requests = [
            PoseRequest(t, clip[s + k], k, 0.0) for t, s in zip(tracks, starts, strict=True)
        ]
        whole = blazepose.estimate_batch(requests)
        chunked = capped.estimate_batch(requests)
        assert [t for _, t in whole] == [t for _, t in chunked]
        assert all(_same(a, b) for (a, _), (b, _) in zip(whole, chunked, strict=True))
        tracks = [t for _, t in whole]
    assert all(t.roi is not None for t in tracks)
    with pytest.raises(ValueError, match="max_batch"):
        BlazePose(max_batch=0)


def test_track_survives_pickling(blazepose: BlazePose, clip: list[npt.NDArray[np.uint8]]) -> None:
    track = PoseTrack()
    for seq, rgb in enumerate(clip[:10]):
        [(_, track)] = blazepose.estimate_batch([PoseRequest(track, rgb, seq, 0.0)])
    restored = pickle.loads(pickle.dumps(track))
    assert restored == track
    [(a, _)] = blazepose.estimate_batch([PoseRequest(track, clip[10], 10, 0.0)])
    [(b, _)] = blazepose.estimate_batch([PoseRequest(restored, clip[10], 10, 0.0)])
    assert a.landmarks is not None
    assert _same(a, b)


def test_estimators_of_a_process_share_its_models(clip: list[npt.NDArray[np.uint8]]) -> None:
    assert shared_blazepose() is shared_blazepose("cpu")
    first, second = OnnxPoseEstimator(), OnnxPoseEstimator()
    assert first._blazepose is second._blazepose is shared_blazepose()
    for seq, rgb in enumerate(clip[:7]):
        first.estimate(rgb, seq, 0.0)
    second.estimate(clip[0], 0, 0.0)
    assert first.track.roi is not None
    assert second.track == PoseTrack(frames=1)  # each stream keeps its own track


def test_estimator_is_one_stream(blazepose: BlazePose, clip: list[npt.NDArray[np.uint8]]) -> None:
    with OnnxPoseEstimator(blazepose) as estimator:
        samples = [estimator.estimate(rgb, seq, seq / 30) for seq, rgb in enumerate(clip[:6])]
        assert estimator.track.frames == 6
    assert all(_same(a, b) for a, b in zip(samples, _run(blazepose, clip[:6]), strict=False))
    with pytest.raises(RuntimeError, match="closed"):
        estimator.estimate(clip[0], 0, 0.0)


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((10, 10, 3), np.float32),
        np.zeros((10, 10), np.uint8),
        np.zeros((0, 4, 3), np.uint8),
    ],
)
def test_rejects_malformed_frames(blazepose: BlazePose, frame: npt.NDArray[np.uint8]) -> None:
    with pytest.raises(ValueError, match="frame must be"):
        blazepose.estimate_batch([PoseRequest(PoseTrack(), frame, 0, 0.0)])


def test_cuda_without_its_provider_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert runtime.default_device() == "cpu"
    with pytest.raises(DeviceUnavailableError, match="onnxruntime-gpu"):
        providers_for("cuda")
    assert providers_for("cpu") == ["CPUExecutionProvider"]


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PoseModelMissingError, match=r"pose_detection\.onnx"):
        BlazePose(model_dir=tmp_path)
