"""JPEG frames: OpenCV encodes RGB and decodes it back, close to the original; the frame
header is checked before decoding."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from kinestream.connectors.jpeg import JpegError, decode_jpeg, encode_jpeg, jpeg_size
from tests.hostile_packets import jpeg_claiming


def test_round_trip_keeps_size_and_colours() -> None:
    rgb = np.zeros((60, 80, 3), dtype=np.uint8)
    rgb[:, :40] = (220, 30, 30)  # red left half
    rgb[:, 40:] = (30, 30, 220)  # blue right half
    jpeg = encode_jpeg(rgb, 95)
    assert jpeg.startswith(b"\xff\xd8")
    back = decode_jpeg(jpeg)
    assert back.shape == rgb.shape
    assert back.dtype == np.uint8
    assert np.abs(back[30, 10].astype(int) - (220, 30, 30)).max() < 12  # RGB order kept
    assert np.abs(back[30, 70].astype(int) - (30, 30, 220)).max() < 12


def test_lower_quality_is_smaller() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    assert len(encode_jpeg(rgb, 30)) < len(encode_jpeg(rgb, 95))


@pytest.mark.parametrize("quality", [0, 101])
def test_quality_out_of_range_is_refused(quality: int) -> None:
    with pytest.raises(ValueError, match="quality"):
        encode_jpeg(np.zeros((8, 8, 3), dtype=np.uint8), quality)


def test_bytes_that_are_not_a_jpeg_are_refused() -> None:
    with pytest.raises(ValueError, match="JPEG"):
        decode_jpeg(b"\xff\xd8 not really")


def test_the_frame_header_is_read_without_decoding() -> None:
    rgb = np.zeros((48, 64, 3), dtype=np.uint8)
    assert jpeg_size(encode_jpeg(rgb)) == (64, 48)
    ok, progressive = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    assert jpeg_size(progressive.tobytes()) == (64, 48)
    assert jpeg_size(jpeg_claiming(65500, 65500)) == (65500, 65500)


@pytest.mark.parametrize(
    ("jpeg", "message"),
    [
        (b"GIF89a", "FF D8"),
        (b"\xff\xd8", "ends before"),
        (b"\xff\xd8\xff\xe0\x00", "ends before"),
        (b"\xff\xd8\xff\xe0\x00\x10" + b"\x00" * 14 + b"\xff\xda\x00\x02", "no frame header"),
        (b"\xff\xd8\xff\xe0\x00\x01", "length of 1"),
        (b"\xff\xd8\x00\x00", "no marker"),
    ],
)
def test_a_jpeg_without_a_usable_frame_header_is_refused(jpeg: bytes, message: str) -> None:
    with pytest.raises(JpegError, match=message):
        decode_jpeg(jpeg)


@pytest.mark.parametrize(("width", "height"), [(65500, 65500), (20000, 20000), (4097, 4096)])
def test_a_frame_over_the_pixel_limit_is_refused_before_decoding(
    width: int, height: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[int] = []

    def imdecode(*args: object) -> None:  # 20000x20000 took 7.8 s and 2.5 GiB
        decoded.append(1)
        raise AssertionError("the oversized JPEG was handed to the decoder")

    monkeypatch.setattr(cv2, "imdecode", imdecode)
    with pytest.raises(JpegError, match="exceeds the limit") as refused:
        decode_jpeg(jpeg_claiming(width, height))
    assert refused.value.code == "too_large"
    assert decoded == []


def test_a_small_file_claiming_many_pixels_is_refused_as_a_bomb() -> None:
    with pytest.raises(JpegError, match="too few bytes") as refused:
        decode_jpeg(jpeg_claiming(4096, 4096))  # 629 bytes: it would take 0.4 s to decode
    assert refused.value.code == "too_large"
    # The most compressible real frames stay far above the floor.
    black = encode_jpeg(np.zeros((1080, 1920, 3), dtype=np.uint8), 10)
    assert decode_jpeg(black).shape == (1080, 1920, 3)


def test_opencv_errors_are_jpeg_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> None:
        raise cv2.error("OpenCV(4.11.0) loadsave.cpp:79: error: (-215:Assertion failed)")

    monkeypatch.setattr(cv2, "imdecode", fail)
    with pytest.raises(JpegError, match="OpenCV could not decode"):
        decode_jpeg(encode_jpeg(np.zeros((8, 8, 3), dtype=np.uint8)))
