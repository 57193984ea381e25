"""Test clips of the synthetic athlete: stick figures drawn with OpenCV, written as mp4v.

Nothing binary is shipped: each test renders the clip it needs into its tmp_path.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from kinestream.operators.pose import PoseSample

BACKGROUND = 30
LIMBS = (
    (0, 11),  # nose to shoulder: the neck
    (11, 13),
    (13, 15),
    (11, 23),
    (23, 25),
    (25, 27),
    (27, 29),
    (29, 31),
    (27, 31),
)


def render(sample: PoseSample, width: int, height: int) -> npt.NDArray[np.uint8]:
    """The sample's athlete as a white stick figure on a dark background, BGR."""
    bgr = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    if sample.landmarks is None:
        return bgr
    points = [(round(x * width), round(y * height)) for x, y in sample.landmarks[:, :2].tolist()]
    for a, b in LIMBS:
        cv2.line(bgr, points[a], points[b], (255, 255, 255), 3, cv2.LINE_AA)
    cv2.circle(bgr, points[0], max(3, height // 40), (255, 255, 255), -1, cv2.LINE_AA)
    return bgr


def write_clip(
    path: Path, samples: Iterable[PoseSample], fps: float, width: int, height: int
) -> Path:
    """Render ``samples`` into an mp4v clip at ``fps``."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write mp4v here (is it built with FFmpeg?)"
    for sample in samples:
        writer.write(render(sample, width, height))
    writer.release()
    return path
