"""The BlazePose person detector's input and output, as MediaPipe's ``PoseDetectionCpu``.

Constants from ``pose_detection_cpu.pbtxt`` (mediapipe 0.10.21, as compiled into its wheel):

- ``ImageToTensorCalculator``: 224x224, keep aspect ratio (letterbox), range [-1, 1],
  ``BORDER_ZERO``;
- ``SsdAnchorsCalculator``: 5 layers, strides 8, 16, 32, 32, 32, aspect ratio 1.0 (plus the
  default interpolated one), ``fixed_anchor_size`` (every anchor 1x1), offsets 0.5;
- ``TensorsToDetectionsCalculator``: 2254 boxes of 12 values (box at 0, 4 keypoints of x, y
  at 4), ``reverse_output_order`` (x before y), scales 224, ``sigmoid_score`` with
  ``score_clipping_thresh`` 100, ``min_score_thresh`` (the solution's
  ``min_detection_confidence``, 0.5);
- ``NonMaxSuppressionCalculator``: ``WEIGHTED``, IoU above 0.3 merges;
- ``SplitDetectionVectorCalculator`` in ``pose_landmark_cpu.pbtxt`` keeps the first
  detection, so only the best weighted detection is computed here;
- ``DetectionLetterboxRemovalCalculator``: coordinates back onto the unpadded image.

Keypoint 0 is the mid-hip centre, keypoint 1 encodes the full body's size and rotation.
"""

from __future__ import annotations

import math
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from kinestream.operators.blazepose.geometry import Roi, crop, pad_roi

FloatArray = npt.NDArray[np.float64]

INPUT_SIZE: Final = 224
NUM_BOXES: Final = 2254
NUM_KEYPOINTS: Final = 4
STRIDES: Final = (8, 16, 32, 32, 32)
ANCHOR_OFFSET: Final = 0.5
SCORE_CLIPPING: Final = 100.0
NMS_IOU_THRESHOLD: Final = 0.3


def ssd_anchors() -> FloatArray:
    """Anchor centres (2254, 2), normalized, in the model's output order.

    Layers of equal stride share one grid; each layer adds two anchors per cell (aspect
    ratio 1.0 and the interpolated scale), all of size 1 (``fixed_anchor_size``).
    """
    centres: list[FloatArray] = []
    layer = 0
    while layer < len(STRIDES):
        stride = STRIDES[layer]
        same = sum(1 for s in STRIDES[layer:] if s == stride)  # consecutive equal strides
        cells = math.ceil(INPUT_SIZE / stride)
        grid = (np.arange(cells, dtype=np.float64) + ANCHOR_OFFSET) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        cell_centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(cell_centres, 2 * same, axis=0))
        layer += same
    anchors = np.concatenate(centres)
    if anchors.shape != (NUM_BOXES, 2):  # pragma: no cover - the constants above fix it
        raise AssertionError(f"{anchors.shape[0]} anchors, the model has {NUM_BOXES}")
    return anchors


ANCHORS: Final = ssd_anchors()


def letterbox(
    rgb: npt.NDArray[np.uint8],
) -> tuple[npt.NDArray[np.float32], tuple[float, float]]:
    """The detector's input (224, 224, 3) and the (horizontal, vertical) padding fractions.

    The whole image, padded to a square on its long side (zeros, i.e. -1 after the range
    map), as ``ImageToTensorCalculator`` with ``keep_aspect_ratio`` does (``PadRoi``, in float).
    """
    height, width = rgb.shape[:2]
    whole = Roi(0.5, 0.5, 1.0, 1.0, 0.0)
    pixels, padding = pad_roi(whole, width, height)
    tensor = crop(
        rgb,
        (pixels.x_center, pixels.y_center),
        (pixels.width, pixels.height),
        0.0,
        INPUT_SIZE,
        (-1.0, 1.0),
        cv2.BORDER_CONSTANT,
    )
    return tensor, padding


def _iou(box: FloatArray, boxes: FloatArray) -> FloatArray:
    """Intersection over union of one (xmin, ymin, xmax, ymax) box with many."""
    width = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    height = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    inter = np.where((width > 0) & (height > 0), width * height, 0.0)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = (box[2] - box[0]) * (box[3] - box[1]) + areas - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def best_detection(
    regressors: npt.NDArray[np.float32],
    score_logits: npt.NDArray[np.float32],
    padding: tuple[float, float],
    min_score: float,
) -> FloatArray | None:
    """The first detection after weighted NMS: its 4 keypoints (4, 2), image-normalized.

    ``None`` when no anchor scores at least ``min_score``.
    """
    logits = np.clip(score_logits.reshape(-1).astype(np.float64), -SCORE_CLIPPING, SCORE_CLIPPING)
    scores = 1.0 / (1.0 + np.exp(-logits))
    raw = regressors.reshape(NUM_BOXES, -1).astype(np.float64) / INPUT_SIZE
    centre = raw[:, 0:2] + ANCHORS
    size = raw[:, 2:4]
    # TensorsToDetectionsCalculator drops boxes of negative width or height
    keep = (scores >= min_score) & (size[:, 0] >= 0) & (size[:, 1] >= 0)
    if not keep.any():
        return None
    scores = scores[keep]
    boxes = np.concatenate([centre[keep] - size[keep] / 2, centre[keep] + size[keep] / 2], axis=1)
    # the keypoints and their weighted mean in float, as the calculators compute them: the
    # scores' order and float sums set the ROI's last digits, which a hard frame amplifies
    f32 = np.float32
    encoded = regressors.reshape(NUM_BOXES, -1)[keep, 4 : 4 + 2 * NUM_KEYPOINTS]
    keypoints = (encoded.astype(f32) / f32(INPUT_SIZE)).reshape(-1, NUM_KEYPOINTS, 2)
    keypoints = keypoints + ANCHORS[keep].astype(f32)[:, None, :]
    top = int(np.argmax(scores))
    merged = _iou(boxes[top], boxes) > NMS_IOU_THRESHOLD
    merged[top] = True  # MediaPipe keeps a lone (even zero-area) best detection as it is
    exp = np.exp(-logits[keep][merged]).astype(f32)  # expf, then 1.0f / (1.0f + e)
    weights = f32(1.0) / (f32(1.0) + exp)
    total, points = f32(0.0), np.zeros((NUM_KEYPOINTS, 2), f32)
    for k in np.argsort(-weights, kind="stable"):  # WeightedNonMaxSuppression: best first
        total = total + weights[k]
        points = points + keypoints[merged][k] * weights[k]
    points = points / total
    pad = np.array(padding, dtype=f32)
    unpadded = (points - pad) / (f32(1.0) - (pad + pad))
    return np.asarray(unpadded, dtype=np.float64)
