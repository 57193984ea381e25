"""``kinestream analyze --plot / --overlay``: the pictures of a recording and of a video."""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib.image
import pytest

from kinestream.cli import main
from kinestream.commands.simulate import simulate
from kinestream.connectors.jpeg import encode_jpeg
from kinestream.connectors.recording import RecordingParams, RecordingWriter
from kinestream.sports import Sport
from tests.synthetic_video import render, write_clip

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "cmj_demo.arrow"
FPS = 30.0


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def frame_count(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


def test_a_recording_with_jpegs_gets_both_pictures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trial = simulate(Sport.CMJ, reps=2, fps=FPS, seed=3)
    path = tmp_path / "with_jpegs.arrow"
    params = RecordingParams("j", Sport.CMJ, trial.athlete_height_m, fps=FPS)
    with RecordingWriter(path, params, jpeg=True) as writer:
        for sample in trial.samples:
            writer.write(sample, encode_jpeg(render(sample, 320, 180)[:, :, ::-1].copy(), 70))
    plot, overlay = tmp_path / "session.png", tmp_path / "session.mp4"
    status, out, err = run(
        ["analyze", str(path), "--plot", str(plot), "--overlay", str(overlay)], capsys
    )
    assert status == 0, out + err
    assert "Session summary: 2 reps" in out
    assert f"plot: {plot}" in out
    assert f"overlay: {overlay} ({len(trial.samples)} frames)" in out
    assert matplotlib.image.imread(plot).shape[:2] == (600, 1200)
    assert frame_count(overlay) == len(trial.samples)


def test_overlay_needs_pictures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "none.mp4"
    status, out, err = run(["analyze", str(EXAMPLE), "--overlay", str(target)], capsys)
    assert status == 2, out + err
    assert "--overlay needs the frames' pictures" in err
    assert not target.exists()


def test_pictures_into_a_missing_directory_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(["analyze", str(EXAMPLE), "--plot", str(tmp_path / "no/p.png")], capsys)
    assert status == 2, out + err
    assert "--plot: no such directory" in err


def test_a_video_gets_its_overlay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples = simulate(Sport.CMJ, reps=1, fps=FPS, seed=1).samples[:15]
    clip = write_clip(tmp_path / "clip.mp4", samples, FPS, 320, 180)
    overlay = tmp_path / "overlay.mp4"
    argv = ["analyze", str(clip), "--sport", "cmj", "--athlete-height", "1.8"]
    status, out, err = run([*argv, "--overlay", str(overlay)], capsys)  # MediaPipe: 15 frames
    assert status == 0, out + err
    assert f"overlay: {overlay} (15 frames)" in out
    assert frame_count(overlay) == 15
