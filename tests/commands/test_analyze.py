"""``kinestream simulate`` and ``kinestream analyze``: the embedded mode, end to end.

Accuracy tolerances are those of ``tests/operators/test_accuracy.py`` at 60 fps: flight
time within a quarter frame (4.2 ms), jump height within 1.0 cm of the simulated truth.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kinestream.cli import main
from kinestream.commands.analyze import PoseSource, Report, format_report
from kinestream.commands.simulate import simulate
from kinestream.connectors.recording import RecordingParams, RecordingWriter, read_recording
from kinestream.events import AnalysisEvent
from kinestream.operators.analyzer import StreamConfig
from kinestream.sports import JUMPS, Sport

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "cmj_demo.arrow"
FPS = 60.0


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def json_events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("sport", JUMPS)
def test_simulated_session_is_analysed_to_its_ground_truth(
    sport: Sport, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"{sport.value}.arrow"
    status, out, err = run(["simulate", str(path), "--sport", sport.value, "--seed", "3"], capsys)
    assert status == 0, out + err
    assert "ground truth" in out
    truth = simulate(sport, reps=3, fps=FPS, seed=3)

    status, out, err = run(["analyze", str(path), "--json", "-", "--quiet"], capsys)
    assert status == 0, out + err
    events = json_events(out)
    reps = [e["payload"] for e in events if e["event_type"] == "rep_complete"]
    assert len(reps) == len(truth.reps) == 3
    for rep, expected in zip(reps, truth.reps, strict=True):
        assert rep["sport"] == sport.value
        metrics = rep["metrics"]
        assert metrics["flight_time_s"] == pytest.approx(expected.flight_time_s, abs=0.25 / FPS)
        assert metrics["jump_height_m"] == pytest.approx(expected.jump_height_m, abs=0.010)
        if sport is Sport.DROP_JUMP:
            assert expected.contact_s is not None
            contact = expected.takeoff_s - expected.contact_s
            assert metrics["ground_contact_time_s"] == pytest.approx(contact, abs=0.25 / FPS)
    assert events[-1]["event_type"] == "session_summary"
    assert events[-1]["payload"]["reps"] == 3
    assert events[-1]["payload"]["dropped_frames"] == 0


def test_shipped_example_is_the_simulated_demo_and_its_report_is_readable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The README's first command analyses this file; it is `kinestream simulate` output.
    regenerated = tmp_path / "demo.arrow"
    assert run(["simulate", str(regenerated)], capsys)[0] == 0
    shipped, fresh = read_recording(EXAMPLE), read_recording(regenerated)
    assert shipped.params == fresh.params
    assert [s.seq for s in shipped] == [s.seq for s in fresh]

    status, out, err = run(
        ["analyze", str(EXAMPLE), "--sport", "cmj", "--athlete-height", "1.80"], capsys
    )
    assert status == 0, out + err
    assert "recording" in out
    assert "sport cmj, athlete 1.80 m" in out
    header = next(line for line in out.splitlines() if line.startswith("metric"))
    assert header.split()[2:] == ["rep", "1", "rep", "2", "rep", "3"]
    for name in ("flight_time_s", "jump_height_m", "countermovement_depth_m", "confidence"):
        assert any(line.startswith(name) for line in out.splitlines()), name
    assert "Session summary: 3 reps" in out


def test_json_to_a_file_with_every_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "events.jsonl"
    status, out, err = run(["analyze", str(EXAMPLE), "--json", str(target), "--all-events"], capsys)
    assert status == 0, out + err
    assert "Session summary" in out  # the table still goes to stdout
    types = {e["event_type"] for e in json_events(target.read_text())}
    assert {"metric_update", "phase_change", "rep_complete", "session_summary"} <= types


def test_arguments_override_the_recordings_parameters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same stream analysed as if the athlete were shorter: flight time stays within a
    # quarter frame (only the feet's air threshold, in metres, moves with the scale);
    # CoM-based depths shrink with the scale.
    base = json_events(run(["analyze", str(EXAMPLE), "--json", "-", "--quiet"], capsys)[1])
    short = json_events(
        run(
            ["analyze", str(EXAMPLE), "--json", "-", "--quiet", "--athlete-height", "1.50"], capsys
        )[1]
    )
    a = [e["payload"]["metrics"] for e in base if e["event_type"] == "rep_complete"]
    b = [e["payload"]["metrics"] for e in short if e["event_type"] == "rep_complete"]
    assert len(a) == len(b) == 3
    for x, y in zip(a, b, strict=True):
        assert y["flight_time_s"] == pytest.approx(x["flight_time_s"], abs=0.25 / FPS)
        ratio = y["countermovement_depth_m"] / x["countermovement_depth_m"]
        assert ratio == pytest.approx(1.50 / 1.80, rel=0.02)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["analyze", "/no/such/file.arrow"], "no such file"),
        (["analyze", str(EXAMPLE), "--box-height", "0.3"], "drop jumps only"),
        (["analyze", str(EXAMPLE), "--sport", "drop_jump"], "needs the box height"),
        (["analyze", str(EXAMPLE), "--athlete-height", "7"], "athlete height"),
    ],
)
def test_bad_input_exits_2_with_a_reason(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(argv, capsys)
    assert status == 2, out + err
    assert message in err


def test_a_file_that_is_neither_recording_nor_video_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    status, out, err = run(
        ["analyze", str(path), "--sport", "cmj", "--athlete-height", "1.8"], capsys
    )
    assert status == 2, out + err
    assert "not a recording either" in err


def test_a_recording_without_parameters_asks_for_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bare.arrow"
    with RecordingWriter(path, RecordingParams("bare")) as writer:
        for sample in read_recording(EXAMPLE):
            writer.write(sample)
    status, out, err = run(["analyze", str(path)], capsys)
    assert status == 2, out + err
    assert "pass --sport" in err
    status, out, err = run(["analyze", str(path), "--sport", "cmj"], capsys)
    assert status == 2, out + err
    assert "--athlete-height" in err
    status, out, err = run(
        ["analyze", str(path), "--sport", "cmj", "--athlete-height", "1.8"], capsys
    )
    assert status == 0, out + err
    assert "Session summary: 3 reps" in out


def test_simulate_refuses_impossible_sessions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(["simulate", str(tmp_path / "x.arrow"), "--reps", "0"], capsys)
    assert status == 2, out + err
    assert "--reps" in err


def test_reps_warning_codes_are_listed_under_the_table_not_in_its_columns() -> None:
    codes = ["com_and_flight_time_disagree", "calibrated_without_standing", "low_fps"]
    reps = [
        AnalysisEvent(
            "rep_complete",
            "s",
            seq,
            seq / 30,
            {
                "rep": rep,
                "metrics": {"flight_time_s": 0.3},
                "quality": {"confidence": 0.4, "warnings": warnings},
            },
        )
        for rep, (seq, warnings) in enumerate([(10, codes), (40, [])], start=1)
    ]
    source = PoseSource("video clip.mp4", [], 60, fps=30.0)
    config = StreamConfig("s", Sport.CMJ, 1.75)
    out = format_report(source, config, Report(reps=reps)).splitlines()

    table = out[out.index(next(line for line in out if line.startswith("metric"))) :]
    widths = {len(line) for line in table[: table.index("")] if not line.startswith("  ")}
    assert max(widths) < 50, table  # two narrow value columns, whatever the warnings
    assert next(line for line in table if line.startswith("warnings")).split() == [
        "warnings",
        "3",
        "-",
    ]
    assert f"  rep 1: {', '.join(codes)}" in table
    assert not any(line.startswith("  rep 2:") for line in table)
