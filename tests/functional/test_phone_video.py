"""The real clip as a phone held upright stores it: frames turned in the file, a display
rotation in the container, variable frame timing. The analysis must see the athlete upright.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from kinestream.cli import main
from tests.footage import DEMO_CLIP, footage
from tests.phone_video import write_phone_clip

pytestmark = pytest.mark.footage

FRAME_S = 1 / 30
TOLERANCE_FRAMES = 2.5
ARGS = ["--sport", "cmj", "--athlete-height", "1.75", "--quiet"]


def _demo_frames() -> list[npt.NDArray[np.uint8]]:
    capture = cv2.VideoCapture(str(footage(DEMO_CLIP)), cv2.CAP_FFMPEG)
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(np.asarray(bgr, np.uint8))
    capture.release()
    return frames


def _hops(path: Path, tmp_path: Path) -> list[tuple[float, float]]:
    out = tmp_path / f"{path.stem}.jsonl"
    assert main(["analyze", str(path), *ARGS, "--json", str(out)]) == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    reps = [e["payload"]["metrics"] for e in events if e["event_type"] == "rep_complete"]
    return [(m["takeoff_time_s"], m["landing_time_s"]) for m in reps]


def test_a_clip_stored_rotated_gives_the_hops_of_the_original(tmp_path: Path) -> None:
    """The demo clip stored sideways with a 90-degree display rotation (how phones store
    portrait video) gives the five hops of the original, each takeoff and landing within
    ``TOLERANCE_FRAMES`` (the new file's compression moves the landmarks: stored upright in
    the same codec, the first hop reads 3 frames early and the turning hop is lost). Read
    sideways, as OpenCV 4.11 does by default, it gives none."""
    frames = _demo_frames()
    times = [i * FRAME_S for i in range(len(frames))]
    turned = write_phone_clip(tmp_path / "turned.mp4", frames, times, 90)
    expected, found = _hops(footage(DEMO_CLIP), tmp_path), _hops(turned, tmp_path)
    assert len(expected) == 5
    assert len(found) == len(expected)
    for (t0, l0), (t1, l1) in zip(expected, found, strict=True):
        assert t1 == pytest.approx(t0, abs=TOLERANCE_FRAMES * FRAME_S)
        assert l1 == pytest.approx(l0, abs=TOLERANCE_FRAMES * FRAME_S)
