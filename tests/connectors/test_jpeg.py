"""JPEG frames: OpenCV encodes RGB and decodes it back, close to the original."""

from __future__ import annotations

import numpy as np
import pytest

from kinestream.connectors.jpeg import decode_jpeg, encode_jpeg


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
