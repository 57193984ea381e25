"""The video overlay on a generated clip: every frame written, the skeleton where the
landmarks are, the readout in the corner."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from kinestream.commands.simulate import simulate
from kinestream.connectors.jpeg import encode_jpeg
from kinestream.connectors.video import read_frames
from kinestream.events import AnalysisEvent
from kinestream.operators.analyzer import StreamAnalyzer, StreamConfig
from kinestream.operators.pose import PoseSample
from kinestream.pictures.overlay import MIN_VISIBILITY, LiveReadout, OverlayWriter
from kinestream.sports import Sport
from tests.synthetic_video import BACKGROUND, write_clip

FPS = 30.0
FRAMES = 24
WIDTH, HEIGHT = 640, 360


def read_back(path: Path) -> list[npt.NDArray[np.uint8]]:
    capture = cv2.VideoCapture(str(path))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS)
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(np.asarray(bgr, dtype=np.uint8))
    capture.release()
    return frames


def is_joint(bgr: npt.NDArray[np.uint8], x: int, y: int) -> bool:
    """Red (BGR 40, 40, 255) at (x, y), within what mp4v compression leaves of it."""
    blue, green, red = (int(v) for v in bgr[y, x])
    return red > 170 and green < 130 and blue < 130


@pytest.fixture
def samples() -> list[PoseSample]:
    return simulate(Sport.CMJ, reps=1, fps=FPS, seed=1).samples[:FRAMES]


def test_skeleton_drawn_where_the_landmarks_are(tmp_path: Path, samples: list[PoseSample]) -> None:
    clip = write_clip(tmp_path / "in.mp4", samples, FPS, WIDTH, HEIGHT)
    analyzer = StreamAnalyzer(StreamConfig("o", Sport.CMJ, 1.8))
    out = tmp_path / "out.mp4"
    with OverlayWriter(out, FPS) as writer:
        for frame, sample in zip(read_frames(clip), samples, strict=True):
            writer.write(frame.rgb, sample, analyzer.process(sample))
    assert writer.frames_written == FRAMES

    frames = read_back(out)
    assert len(frames) == FRAMES
    assert frames[0].shape == (HEIGHT, WIDTH, 3)
    for index in (0, FRAMES // 2, FRAMES - 1):
        landmarks = samples[index].landmarks
        assert landmarks is not None
        visible = landmarks[:, 3] >= MIN_VISIBILITY
        points = np.rint(landmarks[visible, :2] * (WIDTH, HEIGHT)).astype(int)
        assert len(points) > 20
        hits = sum(is_joint(frames[index], x, y) for x, y in points)
        assert hits >= 0.9 * len(points)
        assert not is_joint(frames[index], WIDTH - 20, HEIGHT - 20)  # the background
        corner = frames[index][5:40, 5:100].astype(int)
        assert (corner > 200).any()  # the readout's white text
        background = frames[index][HEIGHT - 40 : HEIGHT - 10, WIDTH - 40 : WIDTH - 10]
        assert abs(float(background.mean()) - BACKGROUND) < 10


def test_jpeg_pictures_and_a_change_of_size(tmp_path: Path, samples: list[PoseSample]) -> None:
    out = tmp_path / "jpeg.mp4"
    with OverlayWriter(out, FPS) as writer:
        for i, sample in enumerate(samples[:6]):
            size = (WIDTH, HEIGHT) if i < 3 else (WIDTH // 2, HEIGHT // 2)
            rgb = np.full((size[1], size[0], 3), 90, dtype=np.uint8)
            writer.write(encode_jpeg(rgb), sample, [])
    frames = read_back(out)
    assert [f.shape for f in frames] == [(HEIGHT, WIDTH, 3)] * 6


def test_the_readout_follows_the_events() -> None:
    readout = LiveReadout()
    assert readout.lines() == ["phase: calibrating"]
    payload = {"phase": "flight", "com_height_m": 0.31, "com_velocity_m_s": -0.5}
    readout.update([AnalysisEvent("metric_update", "s", 1, 1.0, payload)])
    metrics = {"jump_height_m": 0.4123}
    readout.update([AnalysisEvent("rep_complete", "s", 2, 1.1, {"rep": 1, "metrics": metrics})])
    assert readout.lines() == [
        "phase: flight",
        "CoM height: +0.310 m",
        "CoM velocity: -0.50 m/s",
        "rep 1 jump height: 0.412 m",
    ]
