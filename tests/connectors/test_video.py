"""Reading frames with OpenCV: a small synthetic clip written to tmp_path and read back."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from kinestream.connectors.video import (
    VideoError,
    VideoReader,
    poses_from_video,
    read_frames,
    scaled_size,
)
from kinestream.operators.pose import PoseSample
from tests.phone_video import write_phone_clip

FPS = 25.0
WIDTH, HEIGHT = 320, 240
FRAMES = 20


def write_clip(path: Path, frames: int = FRAMES, fps: float = FPS) -> Path:
    """A clip of a red square moving right over a dark background, mp4v in .mp4."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (WIDTH, HEIGHT))
    assert writer.isOpened(), "OpenCV cannot write mp4v here (is it built with FFmpeg?)"
    for i in range(frames):
        bgr = np.full((HEIGHT, WIDTH, 3), 30, dtype=np.uint8)
        x = 20 + 10 * i
        bgr[80:160, x : x + 60] = (0, 0, 255)  # red in BGR
        writer.write(bgr)
    writer.release()
    return path


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4")


def test_reads_every_frame_in_order_with_container_timestamps(clip: Path) -> None:
    with VideoReader(clip, max_dimension=None) as reader:
        assert reader.fps == pytest.approx(FPS)
        assert reader.frame_count == FRAMES
        assert (reader.source_width, reader.source_height) == (WIDTH, HEIGHT)
        frames = list(reader)
    assert [f.seq for f in frames] == list(range(FRAMES))
    times = np.array([f.timestamp_s for f in frames])
    assert np.all(np.diff(times) > 0)
    np.testing.assert_allclose(times, np.arange(FRAMES) / FPS, atol=1e-3)
    rgb = frames[3].rgb
    assert rgb.shape == (HEIGHT, WIDTH, 3)
    assert rgb.dtype == np.uint8
    red = rgb[120, 20 + 30 + 30]  # centre of the square in frame 3
    assert red[0] > 200 > red[2]  # the square is red in RGB order


def test_downscales_the_long_side_keeping_aspect(clip: Path) -> None:
    frames = list(read_frames(clip, max_dimension=160))
    assert len(frames) == FRAMES
    assert {f.rgb.shape for f in frames} == {(120, 160, 3)}


def test_does_not_upscale(clip: Path) -> None:
    frames = list(read_frames(clip, max_dimension=1280))
    assert frames[0].rgb.shape == (HEIGHT, WIDTH, 3)


def test_limit_stops_early(clip: Path) -> None:
    assert [f.seq for f in read_frames(clip, limit=5)] == [0, 1, 2, 3, 4]


def test_scaled_size() -> None:
    assert scaled_size(1768, 994, 1280) == (1280, 720)
    assert scaled_size(994, 1768, 1280) == (720, 1280)
    assert scaled_size(640, 480, 1280) == (640, 480)
    assert scaled_size(640, 480, None) == (640, 480)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(FileNotFoundError, match=r"video file not found: .*nope\.mp4"):
        read_frames(missing)
    with pytest.raises(FileNotFoundError):
        poses_from_video(missing, _StubEstimator())


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(VideoError, match=r"cannot open video file .*junk\.mp4"):
        VideoReader(junk)


def test_iterates_once(clip: Path) -> None:
    with VideoReader(clip) as reader:
        list(reader)
        with pytest.raises(RuntimeError, match="only once"):
            iter(reader)


class _StubEstimator:
    """Finds nobody; records what it was given."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def estimate(self, rgb: npt.NDArray[np.uint8], seq: int, timestamp_s: float) -> PoseSample:
        self.shapes.append(rgb.shape)
        return PoseSample(seq, timestamp_s, rgb.shape[1], rgb.shape[0], None)

    def close(self) -> None:
        pass


def test_poses_from_video_feeds_every_frame_to_the_estimator(clip: Path) -> None:
    stub = _StubEstimator()
    samples = list(poses_from_video(clip, stub, max_dimension=160))
    assert [s.seq for s in samples] == list(range(FRAMES))
    assert [s.timestamp_s for s in samples] == sorted(s.timestamp_s for s in samples)
    assert {(s.image_width, s.image_height) for s in samples} == {(160, 120)}
    assert stub.shapes == [(120, 160, 3)] * FRAMES


def _marked_frame(index: int) -> npt.NDArray[np.uint8]:
    """A portrait frame as shown upright: a white block in its top-left corner, a red one
    at its bottom, and a green bar whose length counts the frame."""
    bgr = np.full((PORTRAIT_HEIGHT, PORTRAIT_WIDTH, 3), 30, dtype=np.uint8)
    bgr[:40, :40] = 255
    bgr[-40:, 40:-40] = (0, 0, 255)
    bgr[100:120, 20 : 20 + 10 * (index + 1)] = (0, 255, 0)
    return bgr


PORTRAIT_WIDTH, PORTRAIT_HEIGHT = 144, 256


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_a_phones_display_rotation_gives_upright_frames(tmp_path: Path, rotation: int) -> None:
    """A phone held upright stores sideways frames and a display rotation: they are read
    upright, with the upright size (OpenCV 4.11 alone gives them sideways)."""
    shown = [_marked_frame(i) for i in range(8)]
    path = write_phone_clip(tmp_path / "phone.mp4", shown, [i / 30 for i in range(8)], rotation)
    with VideoReader(path, max_dimension=None) as reader:
        assert reader.rotation_deg == rotation
        assert (reader.source_width, reader.source_height) == (PORTRAIT_WIDTH, PORTRAIT_HEIGHT)
        assert (reader.width, reader.height) == (PORTRAIT_WIDTH, PORTRAIT_HEIGHT)
        frames = list(reader)
    assert len(frames) == len(shown)
    for frame, truth in zip(frames, shown, strict=True):
        assert frame.rgb.shape == (PORTRAIT_HEIGHT, PORTRAIT_WIDTH, 3)
        upright = cv2.cvtColor(truth, cv2.COLOR_BGR2RGB).astype(np.float64)
        # mp4v's compression moves pixels by a few levels; a turned frame differs by ~100
        assert float(np.mean(np.abs(frame.rgb - upright))) < 8.0


def test_a_rotated_clip_is_downscaled_upright(tmp_path: Path) -> None:
    shown = [_marked_frame(i) for i in range(4)]
    path = write_phone_clip(tmp_path / "phone.mp4", shown, [i / 30 for i in range(4)], 90)
    frames = list(read_frames(path, max_dimension=128))
    assert frames[0].rgb.shape == (128, 72, 3)


def test_variable_frame_timing_is_read_from_the_container(tmp_path: Path) -> None:
    """Phones film at a variable rate: each frame's own capture time comes through, not
    its index over the nominal fps (30 here)."""
    rng = np.random.default_rng(7)
    gaps = (1 / 30) * (1 + 0.3 * rng.uniform(-1, 1, 29))
    gaps[[5, 17]] *= 2.0  # two skipped frames
    times = np.concatenate([[0.0], np.cumsum(gaps)])
    shown = [_marked_frame(i % 10) for i in range(30)]
    path = write_phone_clip(tmp_path / "vfr.mp4", shown, times.tolist(), 90)
    read = np.array([f.timestamp_s for f in read_frames(path, max_dimension=None)])
    np.testing.assert_allclose(read, times, atol=1e-4)  # the track's tick is 1/15360 s
