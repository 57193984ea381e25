"""The footage bench's labels and comparison (bench/bench_footage.py), without MediaPipe."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_footage import (
    Detected,
    Label,
    compare,
    format_table,
    frame_at_or_after,
    frame_at_or_before,
    read_labels,
    reason_for,
)
from kinestream.events import AnalysisEvent
from kinestream.sports import Sport
from tests.footage import FOOTAGE, footage

FPS = 30.0
TIMES = [k / FPS for k in range(100)]
LABEL = Label("clip.mp4", "cmj", FPS, takeoff_frame=30, landing_frame=45, notes="")


def test_the_committed_labels_parse_and_name_committed_clips() -> None:
    labels = read_labels(FOOTAGE / "labels.csv")
    assert labels
    for label in labels:
        assert footage(label.clip).is_file()
        assert Sport(label.sport)
        # The demo clip has 230 frames (examples/footage/README.md).
        assert 0 <= label.takeoff_frame < label.landing_frame < 230
        assert label.notes


def test_labelled_flight_runs_from_mid_interval_to_mid_interval() -> None:
    # Last contact at frame 30, first contact at 45: the true instants lie in (30, 31) and
    # (44, 45), so the flight is 14 frames, 466.7 ms.
    row = compare(LABEL, [], TIMES, "why")
    assert row.labelled_flight_s == pytest.approx(14 / FPS)
    assert row.takeoff_frame is None
    assert row.flight_error_s is None
    assert row.reason == "why"


def test_detected_instants_become_the_frames_a_labeller_picks() -> None:
    assert frame_at_or_before(TIMES, 30.4 / FPS) == 30
    assert frame_at_or_before(TIMES, 30.0 / FPS) == 30
    assert frame_at_or_after(TIMES, 44.2 / FPS) == 45
    assert frame_at_or_after(TIMES, 45.0 / FPS) == 45
    exact = compare(LABEL, [Detected(30.5 / FPS, 44.5 / FPS, 14.0 / FPS)], TIMES, "")
    assert (exact.takeoff_error, exact.landing_error) == (0, 0)
    assert exact.flight_error_s == pytest.approx(0.0)
    late = compare(LABEL, [Detected(31.2 / FPS, 46.1 / FPS, 14.9 / FPS)], TIMES, "")
    assert (late.takeoff_frame, late.landing_frame) == (31, 47)
    assert (late.takeoff_error, late.landing_error) == (1, 2)
    assert late.flight_error_s == pytest.approx(0.9 / FPS)


def test_the_nearest_detected_takeoff_is_the_match_and_far_ones_are_none() -> None:
    near = Detected(29.8 / FPS, 44.0 / FPS, 14.2 / FPS)
    other = Detected(32.9 / FPS, 45.0 / FPS, 12.1 / FPS)
    far = Detected(60.0 / FPS, 75.0 / FPS, 15.0 / FPS)
    row = compare(LABEL, [other, far, near], TIMES, "")
    assert row.takeoff_frame == 29
    assert row.flight_error_s == pytest.approx(0.2 / FPS)
    assert compare(LABEL, [far], TIMES, "nothing").reason == "nothing"


def event(kind: str, time_s: float, **payload: object) -> AnalysisEvent:
    return AnalysisEvent(kind, "s", round(time_s * FPS), time_s, dict(payload))  # type: ignore[arg-type]


def test_the_reason_is_the_summary_s_or_the_warnings_around_the_jump() -> None:
    summary = event("session_summary", 3.0, no_reps_reason="no_jump_seen", no_reps_message="m")
    assert reason_for([summary], LABEL, TIMES) == "no_jump_seen: m"
    warned = [
        event("quality_warning", 2.7, code="late"),  # over a second after landing (1.5 s)
        event("quality_warning", 1.2, code="rejected_flight"),
        event("session_summary", 3.0, reps=1),
    ]
    assert reason_for(warned, LABEL, TIMES) == "no rep here; warnings: rejected_flight"
    assert reason_for(warned[2:], LABEL, TIMES) == "no rep here and no warning"


def test_the_table_shows_signed_frame_errors_and_the_reason(tmp_path: Path) -> None:
    found = compare(LABEL, [Detected(31.2 / FPS, 46.1 / FPS, 14.9 / FPS)], TIMES, "")
    missing = compare(LABEL, [], TIMES, "no_quiet_standing: never still")
    header, first, second = format_table([found, missing])
    assert header.split()[:4] == ["clip", "sport", "label", "T"]
    assert first.split()[2:10] == ["30", "45", "31", "47", "+1", "+2", "467", "+30"]
    assert second.split()[2:10] == ["30", "45", "-", "-", "-", "-", "467", "-"]
    assert second.endswith("no_quiet_standing: never still")


def test_bad_labels_are_refused_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("clip,sport,fps,takeoff_frame,landing_frame\n")
    with pytest.raises(ValueError, match="missing column"):
        read_labels(path)
    path.write_text(
        "clip,sport,fps,takeoff_frame,landing_frame,notes\n"
        "a.mp4,cmj,30,10,20,ok\n"
        "a.mp4,cmj,30,20,10,backwards\n"
    )
    with pytest.raises(ValueError, match=r"labels.csv:3: takeoff must come before landing"):
        read_labels(path)
