"""Decoding of the BlazePose landmark model's outputs, as MediaPipe's CPU graph does.

From ``tensors_to_pose_landmarks_and_segmentation.pbtxt`` (mediapipe 0.10.21):

- ``ThresholdingCalculator`` on the pose flag (the solution's ``min_tracking_confidence``,
  0.5): below it there is no pose in the crop;
- ``TensorsToLandmarksCalculator``: 39 landmarks of (x, y, z, visibility, presence),
  coordinates over the 256-pixel input (z too), visibility and presence through a sigmoid;
  33 are the pose, 33 and 34 the auxiliary points that give the next frame's ROI;
- ``RefineLandmarksFromHeatmapCalculator`` with its default options (the graph compiled
  into the 0.10.21 wheel sets none; the repository's pbtxt names ``kernel_size: 7``, which
  moves face and shoulder landmarks by up to 3.5 px against the wheel's output, where the
  default 9 matches exactly): ``kernel_size`` 9, ``min_confidence_to_refine`` 0.5. x and y
  become the sigmoid-weighted mean position over the 9x9 cells of the 64x64 heatmap around
  the landmark, when the largest weight there is at least 0.5
  (``refine_landmarks_from_heatmap_calculator.cc``, whose bounds check tests the column twice
  and never the row against the height; reproduced here);
- world landmarks: 39 x (x, y, z) in metres, unscaled.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

INPUT_SIZE: Final = 256
NUM_ALL_LANDMARKS: Final = 39
NUM_POSE_LANDMARKS: Final = 33
AUXILIARY: Final = slice(33, 35)
HEATMAP_KERNEL: Final = 9
MIN_CONFIDENCE_TO_REFINE: Final = 0.5


def _sigmoid(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``1.0f / (1.0f + std::exp(-x))`` in float, as both calculators compute it."""
    exp = np.exp(-x.astype(np.float64)).astype(np.float32)
    return np.float32(1.0) / (np.float32(1.0) + exp)


def _sequential_sum(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Sums over the last axis in float, added in order (the calculator's loop)."""
    return np.cumsum(values, axis=-1, dtype=np.float32)[..., -1]


def decode_landmarks(raw: npt.NDArray[np.float32], heatmap: npt.NDArray[np.float32]) -> FloatArray:
    """The 39 landmarks (39, 5) of one crop, normalized to the crop, refined by the heatmap.

    Columns: x, y, z, visibility, presence. ``heatmap`` has shape (64, 64, 39), logits. In
    float, as the calculators compute them (the ROI of the next frame comes from these).
    """
    f32 = np.float32
    values = raw.reshape(NUM_ALL_LANDMARKS, 5).astype(f32)
    out = np.empty(values.shape, dtype=f32)
    out[:, :3] = values[:, :3] / f32(INPUT_SIZE)
    out[:, 3:] = _sigmoid(values[:, 3:])
    rows_n, cols_n = heatmap.shape[:2]
    col = np.trunc(out[:, 0] * f32(cols_n)).astype(np.int64)  # C++ float -> int truncates
    row = np.trunc(out[:, 1] * f32(rows_n)).astype(np.int64)
    inside = (col >= 0) & (col < cols_n) & (row >= 0)
    offsets = np.arange(HEATMAP_KERNEL) - (HEATMAP_KERNEL - 1) // 2
    rows = row[:, None] + offsets  # (39, 9)
    cols = col[:, None] + offsets
    valid = ((rows >= 0) & (rows < rows_n))[:, :, None] & ((cols >= 0) & (cols < cols_n))[
        :, None, :
    ]
    channel = np.arange(NUM_ALL_LANDMARKS)[:, None, None]
    logits = heatmap[
        np.clip(rows, 0, rows_n - 1)[:, :, None], np.clip(cols, 0, cols_n - 1)[:, None, :], channel
    ]
    # cells outside the heatmap are skipped by the loop: a zero weight adds nothing
    weight = np.where(valid, _sigmoid(logits), f32(0.0)).astype(f32)
    flat = weight.reshape(NUM_ALL_LANDMARKS, -1)  # row by row, as the loop runs
    grid_rows = np.broadcast_to(rows[:, :, None], weight.shape).reshape(flat.shape).astype(f32)
    grid_cols = np.broadcast_to(cols[:, None, :], weight.shape).reshape(flat.shape).astype(f32)
    total = _sequential_sum(flat)
    refine = inside & (flat.max(axis=1) >= MIN_CONFIDENCE_TO_REFINE) & (total > 0)
    safe_total = np.where(total > 0, total, f32(1.0))
    refined_x = _sequential_sum(grid_cols * flat) / f32(cols_n) / safe_total
    refined_y = _sequential_sum(grid_rows * flat) / f32(rows_n) / safe_total
    out[:, 0] = np.where(refine, refined_x, out[:, 0])
    out[:, 1] = np.where(refine, refined_y, out[:, 1])
    return out.astype(np.float64)


def decode_world(raw: npt.NDArray[np.float32]) -> FloatArray:
    """World landmarks (39, 3) in metres, before the ROI's rotation."""
    return raw.reshape(NUM_ALL_LANDMARKS, 3).astype(np.float64)
