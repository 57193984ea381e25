"""Frames as JPEG images, with OpenCV: RGB pixels in, JPEG bytes out, and back.

Decoding reads the JPEG's own frame header (its SOF marker) first and refuses, before
OpenCV allocates anything, an image of more than :data:`~kinestream.wire.MAX_FRAME_PIXELS`
(a 660-byte JPEG can claim 65500x65500 pixels, when OpenCV raises ``cv2.error``, or
20000x20000, which it decodes in 7.8 s and 2.5 GiB) or one whose bytes are too few for its
pixels (:data:`MIN_JPEG_BYTES_PER_MEGAPIXEL`).
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from kinestream.wire import MAX_FRAME_PIXELS, TOO_LARGE

DEFAULT_JPEG_QUALITY: Final = 85
MIN_JPEG_BYTES_PER_MEGAPIXEL: Final = 500
"""A JPEG smaller than this for the pixels it declares is refused as a decompression bomb:
an all-black frame, the most compressible there is, takes 16,000 bytes a megapixel with
OpenCV (33 KB at 1920x1080), 30 times this floor; a 660-byte file claiming 4096x4096 would
take 0.4 s and 100 MB to decode."""

RgbImage = npt.NDArray[np.uint8]

# Start-of-frame markers (baseline, extended, progressive, lossless; Huffman or arithmetic):
# every one but DHT (C4), JPG (C8) and DAC (CC) in C0-CF.
_SOF_MARKERS: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length: TEM and RST0-RST7.
_STANDALONE_MARKERS: Final = frozenset({0x01, *range(0xD0, 0xD8)})
_START_OF_SCAN: Final = 0xDA
_END_OF_IMAGE: Final = 0xD9


class JpegError(ValueError):
    """Bytes the decoder refuses; ``code`` is ``too_large`` for an image over the pixel
    limit, ``bad_frame`` otherwise."""

    def __init__(self, message: str, code: str = "bad_frame") -> None:
        super().__init__(message)
        self.code = code


def encode_jpeg(rgb: RgbImage, quality: int = DEFAULT_JPEG_QUALITY) -> bytes:
    """Encode an RGB image of shape (height, width, 3) as JPEG at ``quality`` (1-100)."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be between 1 and 100, got {quality}")
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {rgb.shape} image as JPEG")
    return bytes(buffer)


def jpeg_size(jpeg: bytes) -> tuple[int, int]:
    """The (width, height) a JPEG's frame header (SOF) declares, without decoding it.

    Raises :class:`JpegError` when the bytes are not a JPEG or end, or reach the image data,
    before a frame header.
    """
    if not jpeg.startswith(b"\xff\xd8"):
        raise JpegError("not a JPEG image (it does not start with FF D8)")
    size = len(jpeg)
    at = 2
    while at < size:
        if jpeg[at] != 0xFF:
            raise JpegError(f"not a JPEG image (no marker at byte {at})")
        while at < size and jpeg[at] == 0xFF:  # fill bytes
            at += 1
        if at >= size:
            break
        marker = jpeg[at]
        at += 1
        if marker in _STANDALONE_MARKERS:
            continue
        if marker in (_START_OF_SCAN, _END_OF_IMAGE):
            raise JpegError("JPEG has no frame header (SOF) before its image data")
        if at + 2 > size:
            break
        length = int.from_bytes(jpeg[at : at + 2], "big")
        if length < 2:
            raise JpegError(f"JPEG segment at byte {at} has a length of {length}")
        if marker in _SOF_MARKERS:
            if length < 8 or at + 7 > size:
                break
            height = int.from_bytes(jpeg[at + 3 : at + 5], "big")
            width = int.from_bytes(jpeg[at + 5 : at + 7], "big")
            return width, height
        at += length
    raise JpegError("JPEG ends before its frame header (SOF)")


def decode_jpeg(jpeg: bytes, max_pixels: int = MAX_FRAME_PIXELS) -> RgbImage:
    """Decode JPEG bytes to RGB.

    Raise :class:`JpegError` (a ``ValueError``) when they are not a decodable JPEG image, or
    when its header declares more than ``max_pixels`` pixels or more than its size can hold
    (both checked before decoding).
    """
    width, height = jpeg_size(jpeg)
    if width == 0 or height == 0:
        raise JpegError(f"JPEG frame header declares a {width}x{height} image")
    if width * height > max_pixels:
        raise JpegError(
            f"JPEG of {width}x{height} pixels exceeds the limit of {max_pixels} "
            f"({width * height / 1e6:.1f} MP > {max_pixels / 1e6:.1f} MP); not decoded",
            TOO_LARGE,
        )
    if len(jpeg) * 1_000_000 < width * height * MIN_JPEG_BYTES_PER_MEGAPIXEL:
        raise JpegError(
            f"JPEG of {len(jpeg)} bytes claims {width}x{height} pixels: too few bytes for "
            f"them (at least {MIN_JPEG_BYTES_PER_MEGAPIXEL} a megapixel); not decoded",
            TOO_LARGE,
        )
    try:
        bgr = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise JpegError(f"OpenCV could not decode the JPEG: {exc}") from exc
    if bgr is None:
        raise JpegError("not a decodable JPEG image")
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
