"""The footage bench's variants (bench/bench_footage.py --variants): the frames each variant
hands the analysis, the per-variant comparison and its table."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from bench.bench_footage import (
    VARIANTS,
    Label,
    Variant,
    analyse_frames,
    following_the_jumps,
    format_variants_table,
    hand_shake,
    jpeg_round_trip,
    mirrored,
    shaking_and_following,
    variant_frames,
    variant_run,
)
from kinestream.connectors.video import read_frames
from kinestream.events import AnalysisEvent
from tests.bench.test_bench_footage import FPS, TIMES
from tests.bench.test_bench_footage import LABEL as HOP
from tests.footage import DEMO_CLIP, footage

SECOND = Label("clip.mp4", "cmj", FPS, takeoff_frame=70, landing_frame=80, notes="")


def scene(k: int, width: int = 1280, height: int = 720) -> npt.NDArray[np.uint8]:
    """A BGR frame with a left-right asymmetric, moving scene: a gradient and a block."""
    bgr = np.zeros((height, width, 3), np.uint8)
    bgr[:, :, 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    bgr[:, :, 1] = np.linspace(40, 200, height, dtype=np.uint8)[:, None]
    cv2.rectangle(bgr, (100 + 10 * k, 200), (300 + 10 * k, 500), (20, 230, 250), -1)
    return bgr


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("variants") / "scene.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (1280, 720))
    assert writer.isOpened(), "OpenCV cannot write mp4v here (is it built with FFmpeg?)"
    for k in range(4):
        writer.write(scene(k))
    writer.release()
    return path


def test_the_variants_are_the_sizes_mirror_jpeg_qualities_and_hands_phones_send() -> None:
    assert len({v.name for v in VARIANTS}) == len(VARIANTS)
    assert {v.max_dimension for v in VARIANTS} == {1280, 960, 720, 540, 464}
    plain = [v for v in VARIANTS if v.transform is None and v.camera is None]
    assert [v.max_dimension for v in plain] == [1280, 960, 720, 540, 464]
    changed = [v for v in VARIANTS if v not in plain]
    assert all(v.max_dimension == 1280 for v in changed)
    assert {v.camera for v in changed} == {
        None,
        following_the_jumps,
        hand_shake,
        shaking_and_following,
    }


def test_a_camera_following_a_jump_tilts_with_it_and_back() -> None:
    """The picture is lowest (6 % of its height) just after the jump's middle, level a
    little before the takeoff and after the landing, and unmoved between jumps."""
    labels = [HOP, SECOND]
    middle = (SECOND.takeoff_frame + SECOND.landing_frame) / 2 + 0.1 * FPS
    assert following_the_jumps(labels, round(middle))[1] == pytest.approx(0.06)
    assert following_the_jumps(labels, SECOND.takeoff_frame)[1] > 0.02
    assert following_the_jumps(labels, SECOND.landing_frame + 20) == (0.0, 0.0, 0.0)
    assert following_the_jumps(labels, (HOP.landing_frame + SECOND.takeoff_frame) // 2)[1] < 0.01


def test_a_shaking_hand_moves_every_frame_the_same_on_every_run(clip: Path) -> None:
    shaking = Variant("shaking", camera=hand_shake)
    first, again = list(variant_frames(clip, shaking)), list(variant_frames(clip, shaking))
    original = list(read_frames(clip, 1280))
    for a, b, before in zip(first, again, original, strict=True):
        np.testing.assert_array_equal(a.rgb, b.rgb)
        assert a.rgb.shape == before.rgb.shape
    assert not np.array_equal(first[2].rgb, original[2].rgb)
    moves = np.array([hand_shake([], k) for k in range(2000)])
    assert 0.002 < moves[:, 1].std() < 0.02  # shares of the height
    assert 0.1 < moves[:, 2].std() < 0.6  # degrees


@pytest.mark.parametrize(("long_side", "short_side"), [(1280, 720), (960, 540), (464, 261)])
def test_a_smaller_variant_scales_every_frame_keeping_the_timing(
    clip: Path, long_side: int, short_side: int
) -> None:
    original = list(read_frames(clip, 1280))
    scaled = list(variant_frames(clip, Variant("scaled", long_side)))
    assert len(scaled) == len(original) == 4
    for before, after in zip(original, scaled, strict=True):
        assert after.rgb.shape == (short_side, long_side, 3)
        assert (after.seq, after.timestamp_s) == (before.seq, before.timestamp_s)


def test_the_mirrored_variant_is_each_frame_flipped_left_right(clip: Path) -> None:
    original = list(read_frames(clip, 1280))
    flipped = list(variant_frames(clip, Variant("mirrored", transform=mirrored)))
    for before, after in zip(original, flipped, strict=True):
        assert not np.array_equal(after.rgb, before.rgb)  # the scene is not symmetric
        np.testing.assert_array_equal(after.rgb, before.rgb[:, ::-1])
        assert after.rgb.flags["C_CONTIGUOUS"]
        assert after.timestamp_s == before.timestamp_s


def psnr_db(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10.0 * math.log10(255.0**2 / mse) if mse else math.inf


def test_a_jpeg_round_trip_loses_more_at_lower_quality_and_keeps_the_colours(
    clip: Path,
) -> None:
    frame = next(iter(read_frames(clip, 1280))).rgb
    q90, q70 = jpeg_round_trip(90)(frame), jpeg_round_trip(70)(frame)
    assert q90.shape == q70.shape == frame.shape
    assert q90.dtype == np.uint8
    # Lossy, and lossier at 70; both well above the 30 dB where JPEG blocks start to show.
    assert math.inf > psnr_db(frame, q90) > psnr_db(frame, q70) > 30.0
    # Channel order survives: a red/blue swap would move the block's mean colour by ~200.
    block = (slice(250, 450), slice(150, 250))
    assert np.abs(q70[block].mean(axis=(0, 1)) - frame[block].mean(axis=(0, 1))).max() < 5.0
    through = [
        f.rgb for f in variant_frames(clip, Variant("jpeg q70", transform=jpeg_round_trip(70)))
    ]
    np.testing.assert_array_equal(through[0], q70)


def event(kind: str, time_s: float, **payload: object) -> AnalysisEvent:
    return AnalysisEvent(kind, "s", round(time_s * FPS), time_s, dict(payload))  # type: ignore[arg-type]


def rep(takeoff_frame: float, landing_frame: float) -> AnalysisEvent:
    metrics = {
        "takeoff_time_s": takeoff_frame / FPS,
        "landing_time_s": landing_frame / FPS,
        "flight_time_s": (landing_frame - takeoff_frame) / FPS,
    }
    return event("rep_complete", landing_frame / FPS, metrics=metrics)


def test_a_variant_row_has_errors_misses_with_their_code_and_extra_reps() -> None:
    # The hop found a frame early and a frame late; the second jump missed with a rejected
    # flight warned during it; a rep at frame 10 matches neither label.
    events = [
        rep(10.2, 16.0),
        rep(29.4, 45.3),
        event("quality_warning", 2.4, code="rejected_flight"),
        event("session_summary", 3.3, reps=2),
    ]
    found = variant_run("1280 px", [HOP, SECOND], events, TIMES)
    assert (found.rows[0].takeoff_error, found.rows[0].landing_error) == (-1, 1)
    assert found.rows[1].takeoff_frame is None
    assert found.rows[1].reason == "rejected_flight"
    assert found.extra_takeoff_frames == [10]
    assert (found.found, found.within_one_frame) == (1, 1)

    late = variant_run("464 px", [HOP, SECOND], [rep(32.5, 45.0), rep(70.5, 80.0)], TIMES)
    silent = [event("session_summary", 3.3, no_reps_reason="no_quiet_standing")]
    none = variant_run("mirrored", [HOP, SECOND], silent, TIMES)
    assert none.rows[0].reason == none.rows[1].reason == "no_quiet_standing"

    header, *rows, total = format_variants_table([found, late, none])
    assert header.split() == ["variant", "30-45", "70-80", "±1", "extra"]
    assert rows[0].split() == [
        "1280",
        "px",
        "-1/+1",
        "miss",
        "(rejected_flight)",
        "1/2",
        "1",
        "(T",
        "10)",
    ]
    assert rows[1].split() == ["464", "px", "+2/+0", "+0/+0", "1/2", "0"]
    assert rows[2].split()[1:] == ["miss", "(no_quiet_standing)"] * 2 + ["0/2", "0"]
    # Columns line up: every jump's cell starts where its header does.
    column = header.index("70-80")
    assert rows[1][column:].startswith("+0/+0")
    assert rows[0][column:].startswith("miss")
    assert total == (
        "total: 3 of 6 labelled jumps found, 2 within ±1 frame at both takeoff and landing, "
        "3 missed, 1 extra reps"
    )


@pytest.mark.footage
def test_a_variant_of_the_real_clip_goes_through_mediapipe_and_the_analysis() -> None:
    # Twelve frames of the demo clip at 464 px, mirrored, through JPEG: a pose each frame
    # and a session that ends with a summary, on the clip's own frame timing.
    path = footage(DEMO_CLIP)
    label = Label(DEMO_CLIP, "cmj", FPS, takeoff_frame=5, landing_frame=8, notes="")
    small = Variant("464 px", 464, transform=lambda rgb: jpeg_round_trip(70)(mirrored(rgb)))
    events, times = analyse_frames(variant_frames(path, small, limit=12), path, label)
    assert times == [f.timestamp_s for f in read_frames(path, 464, limit=12)]
    assert [e.event_type for e in events].count("session_summary") == 1
    run = variant_run(small.name, [label], events, times)
    assert len(run.rows) == 1
    assert format_variants_table([run])[-1].startswith("total: ")
