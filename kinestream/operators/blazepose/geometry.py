"""Regions of interest and the crops BlazePose's models see, as MediaPipe computes them.

Constants and formulas follow mediapipe 0.10.21's CPU pose graphs and calculators (graph
configs as compiled into that wheel; calculator sources in google-ai-edge/mediapipe):

- ``AlignmentPointsRectsCalculator`` (``detections_to_rects_calculator.cc``): a rect centred
  on a first point, twice as wide and high as its distance to a second one, rotated so that
  the second point lies straight above the first (target angle 90 degrees);
- ``RectTransformationCalculator`` with ``scale_x: 1.25 scale_y: 1.25 square_long: true``
  (``pose_detection_to_roi.pbtxt`` and ``pose_landmarks_to_roi.pbtxt``);
- ``ImageToTensorCalculator``'s OpenCV converter (``image_to_tensor_converter_opencv.cc``):
  ``cv::boxPoints`` of the rotated rect mapped by ``getPerspectiveTransform`` onto the
  tensor's corners, ``warpPerspective`` with bilinear interpolation, then a linear map of
  0..255 onto the tensor's float range;
- ``LandmarkProjectionCalculator`` and ``WorldLandmarkProjectionCalculator``: landmarks of a
  crop back onto the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# pose_detection_to_roi.pbtxt / pose_landmarks_to_roi.pbtxt: rotation_vector_target_angle_degrees
TARGET_ANGLE_RAD: Final = math.pi / 2
# pose_detection_to_roi.pbtxt / pose_landmarks_to_roi.pbtxt: RectTransformationCalculator
ROI_SCALE: Final = 1.25


@dataclass(frozen=True, slots=True)
class Roi:
    """MediaPipe's ``NormalizedRect``: centre and size over the image's width and height,
    rotation in radians (clockwise in image coordinates)."""

    x_center: float
    y_center: float
    width: float
    height: float
    rotation: float


def normalize_radians(angle: float) -> float:
    """The angle in [-pi, pi), as MediaPipe's ``NormalizeRadians``."""
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def roi_from_alignment_points(
    center: FloatArray, scale_point: FloatArray, image_width: int, image_height: int
) -> Roi:
    """The pose ROI from two normalized points (centre, and one that encodes size and angle).

    ``AlignmentPointsRectsCalculator`` (start keypoint 0, end keypoint 1, target angle 90
    degrees) followed by ``RectTransformationCalculator`` (scale 1.25, square on the long side).
    """
    x0, y0 = float(center[0]) * image_width, float(center[1]) * image_height
    x1, y1 = float(scale_point[0]) * image_width, float(scale_point[1]) * image_height
    box_size = 2.0 * math.hypot(x1 - x0, y1 - y0)
    rotation = normalize_radians(TARGET_ANGLE_RAD - math.atan2(-(y1 - y0), x1 - x0))
    # square_long: both sides become the longer one in pixels (here they are equal already)
    return Roi(
        x_center=x0 / image_width,
        y_center=y0 / image_height,
        width=box_size / image_width * ROI_SCALE,
        height=box_size / image_height * ROI_SCALE,
        rotation=rotation,
    )


def object_scale(center: FloatArray, scale_point: FloatArray, width: int, height: int) -> float:
    """The object scale in pixels that MediaPipe's landmark smoothing divides velocities by.

    ``pose_landmark_filtering.pbtxt``: the alignment-points rect of the auxiliary landmarks,
    unscaled; ``GetObjectScale`` is the mean of its width and height in pixels.
    """
    dx = (float(scale_point[0]) - float(center[0])) * width
    dy = (float(scale_point[1]) - float(center[1])) * height
    return 2.0 * math.hypot(dx, dy)


def crop(
    rgb: npt.NDArray[np.uint8],
    center_px: tuple[float, float],
    size_px: tuple[float, float],
    rotation: float,
    out_size: int,
    value_range: tuple[float, float],
    border: int,
) -> npt.NDArray[np.float32]:
    """The rotated rect of the image warped onto an ``out_size`` square, as float32 in range.

    ``border`` is an OpenCV border mode: ``BORDER_CONSTANT`` (MediaPipe's ``BORDER_ZERO``)
    or ``BORDER_REPLICATE`` (its default when a graph names none).
    """
    corners = cv2.boxPoints((center_px, size_px, math.degrees(rotation)))
    target = np.array(
        [[0, out_size], [0, 0], [out_size, 0], [out_size, out_size]], dtype=np.float32
    )
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    warped = cv2.warpPerspective(
        rgb, matrix, (out_size, out_size), flags=cv2.INTER_LINEAR, borderMode=border
    )
    low, high = value_range
    scale = np.float32((high - low) / 255.0)
    return warped.astype(np.float32) * scale + np.float32(low)


def crop_roi(rgb: npt.NDArray[np.uint8], roi: Roi, out_size: int) -> npt.NDArray[np.float32]:
    """The landmark model's input: the ROI in [0, 1], border replicated.

    ``pose_landmark_by_roi_cpu.pbtxt``: 256x256, ``keep_aspect_ratio``, range [0, 1], no
    border mode (so the converter's default, replicate). The ROI is square in pixels, so
    keeping the aspect ratio adds no letterbox.
    """
    height, width = rgb.shape[:2]
    return crop(
        rgb,
        (roi.x_center * width, roi.y_center * height),
        (roi.width * width, roi.height * height),
        roi.rotation,
        out_size,
        (0.0, 1.0),
        cv2.BORDER_REPLICATE,
    )


def project_landmarks(landmarks: FloatArray, roi: Roi) -> FloatArray:
    """Crop-normalized (x, y, z, ...) rows onto the image (``LandmarkProjectionCalculator``).

    z scales with the ROI's width like x; further columns pass through.
    """
    out = landmarks.copy()
    x = landmarks[:, 0] - 0.5
    y = landmarks[:, 1] - 0.5
    cos, sin = math.cos(roi.rotation), math.sin(roi.rotation)
    out[:, 0] = (cos * x - sin * y) * roi.width + roi.x_center
    out[:, 1] = (sin * x + cos * y) * roi.height + roi.y_center
    out[:, 2] = landmarks[:, 2] * roi.width
    return out


def project_world(world: FloatArray, roi: Roi) -> FloatArray:
    """World landmarks rotated by the ROI's rotation (``WorldLandmarkProjectionCalculator``)."""
    out = world.copy()
    cos, sin = math.cos(roi.rotation), math.sin(roi.rotation)
    out[:, 0] = cos * world[:, 0] - sin * world[:, 1]
    out[:, 1] = sin * world[:, 0] + cos * world[:, 1]
    return out
