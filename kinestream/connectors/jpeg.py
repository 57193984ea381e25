"""Frames as JPEG images, with OpenCV: RGB pixels in, JPEG bytes out, and back."""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

DEFAULT_JPEG_QUALITY: Final = 85

RgbImage = npt.NDArray[np.uint8]


def encode_jpeg(rgb: RgbImage, quality: int = DEFAULT_JPEG_QUALITY) -> bytes:
    """Encode an RGB image of shape (height, width, 3) as JPEG at ``quality`` (1-100)."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be between 1 and 100, got {quality}")
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {rgb.shape} image as JPEG")
    return bytes(buffer)


def decode_jpeg(jpeg: bytes) -> RgbImage:
    """Decode JPEG bytes to RGB; raise ``ValueError`` when they are not a JPEG image."""
    bgr = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("not a decodable JPEG image")
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
