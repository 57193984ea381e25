"""A handheld camera's motion, measured on the background and taken out of the landmarks.

A phone held by hand shakes, and it tilts or pans up to follow a jumper. The landmarks move
with the picture, so the floor seems to move, and a camera tilting up during a jump hides
much of the flight from the feet. :class:`CameraMotion` measures each frame's motion from
the background and maps the pose into the first frame's picture, as if the camera had stood
still:

- the frame is shrunk to :data:`WORK_PX` (long side) and made grey;
- corners of a reference picture (``cv2.goodFeaturesToTrack``, spread over a :data:`GRID`
  grid, away from the athlete: the pose's box widened by :data:`BOX_MARGIN`) are followed
  into the frame by pyramidal Lucas-Kanade optical flow, those the athlete now covers left
  out;
- a rotation, uniform scale and shift (``cv2.estimateAffinePartial2D``, RANSAC) maps the
  frame's points onto the reference's; moving people and things are outliers;
- chained with the reference's own map, that gives the map from the frame to the first.

The reference is the first frame until fewer than :data:`KEEP_SHARE` of its corners agree
(the camera has moved on, or people cover them); the frame then becomes the reference.
Measuring against a reference rather than the previous frame keeps the measurement's noise
from adding up over a long stream. A motion is trusted only with :data:`MIN_INLIERS`
agreeing points and at least :data:`MIN_INLIER_SHARE` of those followed; otherwise (a blank
wall, a passing crowd) the frame counts as unmeasured, keeps the last map and becomes the
reference, and the floor's own tracking in the analysis, with its ``camera_moved`` warning,
takes over. A motion that moves no corner of the picture by :data:`STILL_PX` counts as
none, so a camera on a tripod leaves the landmarks exactly as found.
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from kinestream.operators.pose import PoseSample

WORK_PX: Final = 640
"""Long side of the grey picture the motion is measured on (pixels)."""
MAX_CORNERS: Final = 200
GRID: Final = (4, 3)
"""Columns and rows of the grid the corners are spread over."""
CELL_BORDER_PX: Final = 8
"""Pixels around a cell that its corners are measured with (at WORK_PX)."""
MIN_CORNER_DISTANCE_PX: Final = 6  # at WORK_PX
CORNER_QUALITY: Final = 0.01
FLOW_WINDOW_PX: Final = 21
FLOW_LEVELS: Final = 3
RANSAC_PX: Final = 0.5  # at WORK_PX
MIN_INLIERS: Final = 20
MIN_INLIER_SHARE: Final = 0.5
BOX_MARGIN: Final = 0.3
"""The athlete's box is widened by this share of its size on each side (and a few pixels)."""
STILL_PX: Final = 0.5
"""A motion that moves no corner of the picture by this many pixels (of the frame) is none."""
KEEP_SHARE: Final = 0.6
"""A new reference picture is taken when fewer of its corners than this share still agree."""

Affine = npt.NDArray[np.float64]  # 2 rows, 3 columns


class CameraMotion:
    """One stream's camera motion since its first frame: plain, picklable state.

    :meth:`steady` takes each frame (RGB, in order) with the pose found in it and returns the
    pose in the first frame's picture. ``steps_unmeasured`` counts frames whose motion the
    background did not show.
    """

    def __init__(self) -> None:
        self._key: npt.NDArray[np.uint8] | None = None
        self._key_corners: npt.NDArray[np.float32] = np.empty((0, 1, 2), dtype=np.float32)
        self._key_to_first: Affine = np.eye(2, 3)
        self._to_first: Affine = np.eye(2, 3)
        self.steps_unmeasured = 0

    @property
    def moved(self) -> bool:
        """Whether the camera has moved since the first frame."""
        return not np.array_equal(self._to_first, np.eye(2, 3))

    def steady(self, rgb: npt.NDArray[np.uint8], sample: PoseSample) -> PoseSample:
        """``sample`` (the pose found in ``rgb``) in the first frame's picture."""
        height, width = rgb.shape[:2]
        scale = WORK_PX / max(height, width)
        size = (round(width * scale), round(height * scale))
        grey = np.asarray(
            cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA),
            dtype=np.uint8,
        )
        box = _box(sample, scale)
        key = self._key
        if key is None or key.shape != grey.shape:
            self._rekey(grey, box)
        else:
            step = _step(key, grey, self._key_corners, box)
            if step is None:
                self.steps_unmeasured += 1
                self._rekey(grey, box)
            else:
                matrix, agreeing = step
                if _moves(matrix, size[0], size[1], STILL_PX * scale):
                    self._to_first = _chain(self._key_to_first, matrix, scale)
                else:
                    self._to_first = self._key_to_first
                if agreeing < KEEP_SHARE * len(self._key_corners):
                    self._rekey(grey, box)
        if sample.landmarks is None or not self.moved:
            return sample
        pixels = sample.pixels() @ self._to_first[:, :2].T + self._to_first[:, 2]
        landmarks = sample.landmarks.copy()
        landmarks[:, 0] = pixels[:, 0] / sample.image_width
        landmarks[:, 1] = pixels[:, 1] / sample.image_height
        return PoseSample(
            sample.seq,
            sample.timestamp_s,
            sample.image_width,
            sample.image_height,
            landmarks,
            sample.world,
        )

    def _rekey(
        self, grey: npt.NDArray[np.uint8], box: tuple[float, float, float, float] | None
    ) -> None:
        """Make ``grey`` the picture later frames are measured against."""
        self._key, self._key_to_first = grey, self._to_first
        self._key_corners = _spread_corners(grey, _mask(grey.shape, box))


def _box(sample: PoseSample, scale: float) -> tuple[float, float, float, float] | None:
    """The athlete's box (x0, y0, x1, y1) in the work picture, widened; ``None`` without a
    pose."""
    if sample.landmarks is None:
        return None
    pixels = sample.pixels() * scale
    (x0, y0), (x1, y1) = pixels.min(axis=0), pixels.max(axis=0)
    dx, dy = BOX_MARGIN * (x1 - x0) + 4, BOX_MARGIN * (y1 - y0) + 4
    return (x0 - dx, y0 - dy, x1 + dx, y1 + dy)


def _mask(
    shape: tuple[int, ...], box: tuple[float, float, float, float] | None
) -> npt.NDArray[np.uint8]:
    """Where corners may be taken: everywhere but the athlete's ``box``."""
    mask = np.full(shape[:2], 255, dtype=np.uint8)
    if box is not None:
        x0, y0, x1, y1 = box
        mask[max(0, int(y0)) : max(0, int(y1) + 1), max(0, int(x0)) : max(0, int(x1) + 1)] = 0
    return mask


def _step(
    key: npt.NDArray[np.uint8],
    grey: npt.NDArray[np.uint8],
    corners: npt.NDArray[np.float32],
    box: tuple[float, float, float, float] | None,
) -> tuple[Affine, int] | None:
    """The map from ``grey``'s picture to ``key``'s (work pixels) and how many of the key's
    ``corners`` agree with it, or ``None`` where the background does not show it."""
    if len(corners) < MIN_INLIERS:
        return None
    followed, status, _ = cv2.calcOpticalFlowPyrLK(
        key,
        grey,
        corners,
        np.empty_like(corners),
        winSize=(FLOW_WINDOW_PX, FLOW_WINDOW_PX),
        maxLevel=FLOW_LEVELS,
    )
    found = status.ravel() == 1
    if box is not None:  # the athlete may have moved over them since
        x, y = followed[:, 0, 0], followed[:, 0, 1]
        found &= ~((x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3]))
    if found.sum() < MIN_INLIERS:
        return None
    matrix, inliers = cv2.estimateAffinePartial2D(
        followed[found], corners[found], method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX
    )
    if matrix is None or inliers is None:
        return None
    agreeing = int(inliers.sum())
    if agreeing < MIN_INLIERS or agreeing < MIN_INLIER_SHARE * found.sum():
        return None
    return np.asarray(matrix, dtype=np.float64), agreeing


def _spread_corners(
    grey: npt.NDArray[np.uint8], mask: npt.NDArray[np.uint8]
) -> npt.NDArray[np.float32]:
    """Corners to follow, at most :data:`MAX_CORNERS`, an equal share from each cell of a
    :data:`GRID` grid, so that no one busy patch (a passer-by's clothes) outvotes the rest
    of the background."""
    columns, rows = GRID
    height, width = grey.shape
    share = max(1, MAX_CORNERS // (columns * rows))
    found = []
    for row in range(rows):
        for column in range(columns):
            y0, y1 = row * height // rows, (row + 1) * height // rows
            x0, x1 = column * width // columns, (column + 1) * width // columns
            # the cell with a border, so that its corners are found as in the whole picture
            top, left = max(0, y0 - CELL_BORDER_PX), max(0, x0 - CELL_BORDER_PX)
            bottom, right = min(height, y1 + CELL_BORDER_PX), min(width, x1 + CELL_BORDER_PX)
            cell = np.zeros((bottom - top, right - left), dtype=np.uint8)
            cell[y0 - top : y1 - top, x0 - left : x1 - left] = mask[y0:y1, x0:x1]
            corners = cv2.goodFeaturesToTrack(
                grey[top:bottom, left:right],
                share,
                CORNER_QUALITY,
                MIN_CORNER_DISTANCE_PX,
                mask=cell,
            )
            if corners is not None:
                offset = np.array([left, top], dtype=np.float32)
                found.append(np.asarray(corners, dtype=np.float32) + offset)
    if not found:
        return np.empty((0, 1, 2), dtype=np.float32)
    return np.concatenate(found)


def _moves(step: Affine, width: float, height: float, still: float) -> bool:
    """Whether ``step`` moves any corner of a picture ``width`` by ``height`` by ``still``."""
    corners = np.array([[0.0, 0.0], [width, 0.0], [0.0, height], [width, height]])
    moved = corners @ step[:, :2].T + step[:, 2] - corners
    return bool(np.abs(moved).max() >= still)


def _chain(to_first: Affine, step: Affine, scale: float) -> Affine:
    """``to_first`` after ``step`` (work pixels), in the frame's own pixels."""
    full = step.copy()
    full[:, 2] /= scale
    linear = to_first[:, :2] @ full[:, :2]
    shift = to_first[:, :2] @ full[:, 2] + to_first[:, 2]
    return np.column_stack([linear, shift])
