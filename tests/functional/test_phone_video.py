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
from kinestream.connectors.jpeg import decode_jpeg, encode_jpeg
from kinestream.operators.analyzer import StreamAnalyzer, StreamConfig
from kinestream.operators.mediapipe_pose import MediaPipePoseEstimator
from kinestream.sports import Sport
from tests.footage import DEMO_CLIP, footage
from tests.phone_video import write_phone_clip

pytestmark = pytest.mark.footage

FRAME_S = 1 / 30
TOLERANCE_FRAMES = 2.5
ARGS = ["--sport", "cmj", "--athlete-height", "1.75", "--quiet"]


@pytest.fixture(scope="module")
def demo_frames() -> list[npt.NDArray[np.uint8]]:
    """The demo clip's frames, BGR, as decoded from the committed file."""
    capture = cv2.VideoCapture(str(footage(DEMO_CLIP)), cv2.CAP_FFMPEG)
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(np.asarray(bgr, np.uint8))
    capture.release()
    return frames


@pytest.fixture(scope="module")
def original_hops(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[float, float]]:
    """(takeoff, landing) of each rep of the committed clip: its five hops on the box."""
    hops = _hops(footage(DEMO_CLIP), tmp_path_factory.mktemp("original"))
    assert len(hops) == 5
    return hops


def _hops(path: Path, tmp_path: Path) -> list[tuple[float, float]]:
    out = tmp_path / f"{path.stem}.jsonl"
    assert main(["analyze", str(path), *ARGS, "--json", str(out)]) == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    reps = [e["payload"]["metrics"] for e in events if e["event_type"] == "rep_complete"]
    return [(m["takeoff_time_s"], m["landing_time_s"]) for m in reps]


def _close(a: tuple[float, float], b: tuple[float, float]) -> bool:
    limit = TOLERANCE_FRAMES * FRAME_S
    return abs(a[0] - b[0]) <= limit and abs(a[1] - b[1]) <= limit


def test_a_clip_stored_rotated_gives_the_hops_of_the_original(
    tmp_path: Path,
    demo_frames: list[npt.NDArray[np.uint8]],
    original_hops: list[tuple[float, float]],
) -> None:
    """The demo clip stored sideways with a 90-degree display rotation (how phones store
    portrait video) gives the five hops of the original, each takeoff and landing within
    ``TOLERANCE_FRAMES`` (the new file's compression moves the landmarks). Read sideways,
    as OpenCV 4.11 does by default, it gives none."""
    times = [i * FRAME_S for i in range(len(demo_frames))]
    turned = write_phone_clip(tmp_path / "turned.mp4", demo_frames, times, 90)
    found = _hops(turned, tmp_path)
    assert len(found) == len(original_hops)
    for hop, original in zip(found, original_hops, strict=True):
        assert _close(hop, original), (hop, original)


def test_a_recompressed_clip_invents_no_hop(
    tmp_path: Path,
    demo_frames: list[npt.NDArray[np.uint8]],
    original_hops: list[tuple[float, float]],
) -> None:
    """Stored upright in mp4v (37 dB PSNR against the original), MediaPipe's first frames
    of the athlete are further from settled: his feet read 6 to 60 cm above the box while
    his CoM rises through his push-off, and once read as a 105 ms flight landing with the
    CoM rising at 0.9 m/s. A body lands falling: every rep found is one of the original's
    hops (within ``TOLERANCE_FRAMES``); some may be lost."""
    times = [i * FRAME_S for i in range(len(demo_frames))]
    upright = write_phone_clip(tmp_path / "upright.mp4", demo_frames, times, 0)
    found = _hops(upright, tmp_path)
    assert len(found) >= 3
    for hop in found:
        assert any(_close(hop, original) for original in original_hops), hop


def test_frames_sent_as_jpegs_give_the_hops_of_the_original(
    demo_frames: list[npt.NDArray[np.uint8]],
    original_hops: list[tuple[float, float]],
) -> None:
    """The demo clip's frames as a client sends them in frames mode, JPEG at quality 90:
    MediaPipe's landmarks move by the compression, and on the fourth hop the toe landmark
    seemed to leave 3.5 frame periods early, at the bottom of the rebound, while the CoM
    rose at 0.3 m/s, too slow for any flight. That hop was read as no takeoff at all; a
    flight begins where the push-off ends, at the CoM's fastest rise. All five hops come
    within ``TOLERANCE_FRAMES`` of the original's."""
    analyzer = StreamAnalyzer(StreamConfig("jpeg", Sport.CMJ, 1.75))
    events = []
    with MediaPipePoseEstimator() as estimator:
        for seq, bgr in enumerate(demo_frames):
            jpeg = encode_jpeg(np.ascontiguousarray(bgr[:, :, ::-1]), quality=90)
            sample = estimator.estimate(decode_jpeg(jpeg), seq, seq * FRAME_S)
            events += analyzer.process(sample)
    events += analyzer.finish("end")
    reps = [e.payload["metrics"] for e in events if e.event_type == "rep_complete"]
    found = [(m["takeoff_time_s"], m["landing_time_s"]) for m in reps]
    assert len(found) == len(original_hops), found
    for hop, original in zip(found, original_hops, strict=True):
        assert _close(hop, original), (hop, original)
