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

F32 = np.float32
# pose_detection_to_roi.pbtxt / pose_landmarks_to_roi.pbtxt: rotation_vector_target_angle_degrees
# 90, kept as a float by DetectionsToRectsCalculator (M_PI * degrees / 180.f)
TARGET_ANGLE_RAD: Final = F32(math.pi * 90.0 / 180.0)
# pose_detection_to_roi.pbtxt / pose_landmarks_to_roi.pbtxt: RectTransformationCalculator
ROI_SCALE: Final = F32(1.25)


@dataclass(frozen=True, slots=True)
class Roi:
    """MediaPipe's ``NormalizedRect``: centre and size over the image's width and height,
    rotation in radians (clockwise in image coordinates); float32 values, as its proto's."""

    x_center: float
    y_center: float
    width: float
    height: float
    rotation: float


def normalize_radians(angle: float) -> float:
    """The angle in [-pi, pi), as MediaPipe's ``NormalizeRadians`` (float in and out, the
    arithmetic in double)."""
    return float(F32(angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))))


def _f32_of(value: float) -> np.float32:
    """A double result stored as a C++ float (a libm float function, correctly rounded)."""
    return F32(value)


def _alignment_rect(
    center: FloatArray, scale_point: FloatArray, image_width: int, image_height: int
) -> Roi:
    """``AlignmentPointsRectsCalculator`` (start keypoint 0, end keypoint 1, target angle 90
    degrees) on two normalized points, in the calculator's float arithmetic."""
    width, height = F32(image_width), F32(image_height)
    x0, y0 = F32(center[0]) * width, F32(center[1]) * height
    x1, y1 = F32(scale_point[0]) * width, F32(scale_point[1]) * height
    dx, dy = x1 - x0, y1 - y0
    box_size = _f32_of(math.sqrt(float(dx * dx + dy * dy))) * F32(2.0)
    angle = TARGET_ANGLE_RAD - _f32_of(math.atan2(float(-dy), float(dx)))
    return Roi(
        x_center=float(x0 / width),
        y_center=float(y0 / height),
        width=float(box_size / width),
        height=float(box_size / height),
        rotation=normalize_radians(float(angle)),
    )


def roi_from_alignment_points(
    center: FloatArray, scale_point: FloatArray, image_width: int, image_height: int
) -> Roi:
    """The pose ROI from two normalized points (centre, and one that encodes size and angle).

    ``AlignmentPointsRectsCalculator`` followed by ``RectTransformationCalculator`` (scale
    1.25, square on the long side; its zero shift leaves the centre as it is), both in float
    as MediaPipe computes them: on a marginal frame (the real clip's first tracked one) a
    change of 1e-7 in the ROI moves the landmark model's output by up to 0.6 px.
    """
    rect = _alignment_rect(center, scale_point, image_width, image_height)
    width, height = F32(image_width), F32(image_height)
    long_side = max(F32(rect.width) * width, F32(rect.height) * height)
    return Roi(
        x_center=rect.x_center,
        y_center=rect.y_center,
        width=float(long_side / width * ROI_SCALE),
        height=float(long_side / height * ROI_SCALE),
        rotation=rect.rotation,
    )


def object_scale(center: FloatArray, scale_point: FloatArray, width: int, height: int) -> float:
    """The object scale in pixels that MediaPipe's landmark smoothing divides velocities by.

    ``pose_landmark_filtering.pbtxt``: the alignment-points rect of the auxiliary landmarks,
    unscaled; ``GetObjectScale`` is the mean of its width and height in pixels (in float).
    """
    rect = _alignment_rect(center, scale_point, width, height)
    return float((F32(rect.width) * F32(width) + F32(rect.height) * F32(height)) / F32(2.0))


def crop(
    rgb: npt.NDArray[np.uint8],
    center_px: tuple[float, float],
    size_px: tuple[float, float],
    angle_degrees: float,
    out_size: int,
    value_range: tuple[float, float],
    border: int,
) -> npt.NDArray[np.float32]:
    """The rotated rect of the image warped onto an ``out_size`` square, as float32 in range.

    The rect is OpenCV's ``RotatedRect`` (float centre, size and angle in degrees).

    ``border`` is an OpenCV border mode: ``BORDER_CONSTANT`` (MediaPipe's ``BORDER_ZERO``)
    or ``BORDER_REPLICATE`` (its default when a graph names none).
    """
    corners = cv2.boxPoints((center_px, size_px, angle_degrees))
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


def pad_roi(roi: Roi, image_width: int, image_height: int) -> tuple[Roi, tuple[float, float]]:
    """The ROI in pixels as ``ImageToTensorCalculator`` crops it for a square tensor, and the
    (horizontal, vertical) letterbox padding fractions it adds.

    ``GetRoi`` scales the rect to pixels and ``PadRoi`` (``keep_aspect_ratio``) makes it
    square on its long side, in float: the ROI is square in pixels only up to rounding, so
    the padding is zero or a rounding error, which the graph removes from the landmarks
    again (``LandmarkLetterboxRemovalCalculator``).
    """
    width = F32(roi.width) * F32(image_width)
    height = F32(roi.height) * F32(image_height)
    one, two = F32(1.0), F32(2.0)
    aspect = height / width
    pad_x = pad_y = F32(0.0)
    if one > aspect:
        height = width
        pad_y = (one - aspect) / two
    else:
        width = height
        pad_x = (one - one / aspect) / two
    rotation = F32(roi.rotation)
    pixels = Roi(
        x_center=float(F32(roi.x_center) * F32(image_width)),
        y_center=float(F32(roi.y_center) * F32(image_height)),
        width=float(width),
        height=float(height),
        rotation=float(_f32_of(float(rotation * F32(180.0)) / math.pi)),  # degrees
    )
    return pixels, (float(pad_x), float(pad_y))


def crop_roi(rgb: npt.NDArray[np.uint8], roi: Roi, out_size: int) -> npt.NDArray[np.float32]:
    """The landmark model's input: the ROI in [0, 1], border replicated.

    ``pose_landmark_by_roi_cpu.pbtxt``: 256x256, ``keep_aspect_ratio``, range [0, 1], no
    border mode (so the converter's default, replicate); the rect as :func:`pad_roi` gives it.
    """
    height, width = rgb.shape[:2]
    pixels, _ = pad_roi(roi, width, height)
    return crop(
        rgb,
        (pixels.x_center, pixels.y_center),
        (pixels.width, pixels.height),
        pixels.rotation,
        out_size,
        (0.0, 1.0),
        cv2.BORDER_REPLICATE,
    )


def project_landmarks(
    landmarks: FloatArray, roi: Roi, padding: tuple[float, float] = (0.0, 0.0)
) -> FloatArray:
    """Crop-normalized (x, y, z, ...) rows onto the image, in float as MediaPipe does.

    ``LandmarkLetterboxRemovalCalculator`` (the crop's ``padding``, :func:`pad_roi`), then
    ``LandmarkProjectionCalculator``: z scales with the ROI's width like x; further columns
    pass through.
    """
    out = landmarks.copy()
    pad_x, pad_y = F32(padding[0]), F32(padding[1])
    one, half = F32(1.0), F32(0.5)
    x = (landmarks[:, 0].astype(np.float32) - pad_x) / (one - (pad_x + pad_x))
    y = (landmarks[:, 1].astype(np.float32) - pad_y) / (one - (pad_y + pad_y))
    z = landmarks[:, 2].astype(np.float32) / (one - (pad_x + pad_x))
    x, y = x - half, y - half
    rotation = float(F32(roi.rotation))
    cos, sin = _f32_of(math.cos(rotation)), _f32_of(math.sin(rotation))
    out[:, 0] = (cos * x - sin * y) * F32(roi.width) + F32(roi.x_center)
    out[:, 1] = (sin * x + cos * y) * F32(roi.height) + F32(roi.y_center)
    out[:, 2] = z * F32(roi.width)
    return out


def project_world(world: FloatArray, roi: Roi) -> FloatArray:
    """World landmarks rotated by the ROI's rotation (``WorldLandmarkProjectionCalculator``)."""
    out = world.copy()
    cos, sin = math.cos(roi.rotation), math.sin(roi.rotation)
    out[:, 0] = cos * world[:, 0] - sin * world[:, 1]
    out[:, 1] = sin * world[:, 0] + cos * world[:, 1]
    return out
