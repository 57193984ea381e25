"""``kinestream analyze`` of the real clip filmed by a shaking hand that also tilts the
camera up with each jump: the camera's motion is measured on the background and taken out,
so the hops are timed as on the still clip."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from bench.bench_footage import (
    Detected,
    Variant,
    compare,
    match,
    read_labels,
    shaking_and_following,
    variant_frames,
)
from kinestream.cli import main
from tests.footage import DEMO_CLIP, FOOTAGE, footage

FPS = 30.0


def handheld_clip(target: Path) -> Path:
    """The demo clip as a hand shaking and following the jumps would have filmed it."""
    labels = [label for label in read_labels(FOOTAGE / "labels.csv") if label.clip == DEMO_CLIP]
    variant = Variant("shaking+following", camera=shaking_and_following)
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (1280, 720))
    assert writer.isOpened(), "OpenCV cannot write mp4v here (is it built with FFmpeg?)"
    for frame in variant_frames(footage(DEMO_CLIP), variant, labels):
        writer.write(cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return target


@pytest.mark.footage
def test_a_shaking_camera_following_the_jumps_still_times_the_hops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The five frontal hops: at least four with takeoff and landing within one frame of
    the labels (the still clip: five), and no rep where no jump was. Without the camera's
    motion taken out no hop is found at all: the athlete never seems to stand still."""
    clip = handheld_clip(tmp_path / "handheld.mp4")
    out = tmp_path / "events.jsonl"
    argv = ["analyze", str(clip), "--sport", "cmj", "--athlete-height", "1.75", "--quiet"]
    assert main([*argv, "--json", str(out)]) == 0, capsys.readouterr()
    events = [json.loads(line) for line in out.read_text().splitlines()]
    reps = [
        Detected(m["takeoff_time_s"], m["landing_time_s"], m["flight_time_s"])
        for m in (e["payload"]["metrics"] for e in events if e["event_type"] == "rep_complete")
    ]
    labels = [label for label in read_labels(FOOTAGE / "labels.csv") if label.clip == DEMO_CLIP]
    hops = [label for label in labels if label.view == "frontal"]
    times = [k / FPS for k in range(230)]
    rows = [compare(label, reps, times, "") for label in hops]
    within = [
        r
        for r in rows
        if r.takeoff_error is not None
        and r.landing_error is not None
        and abs(r.takeoff_error) <= 1
        and abs(r.landing_error) <= 1
    ]
    assert len(within) >= 4, rows
    matched = [match(label, reps, times) for label in labels]
    assert all(rep in matched for rep in reps), reps  # no rep where no jump was
