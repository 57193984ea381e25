"""``kinestream simulate --sport running`` and ``kinestream analyze`` of what it wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kinestream.cli import main
from kinestream.commands.simulate_running import simulate_run
from kinestream.connectors.recording import read_recording


@pytest.mark.parametrize("overground", [False, True])
def test_simulated_run_is_analysed_to_its_steps(
    overground: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.arrow"
    where = ["--overground"] if overground else []
    argv = ["simulate", str(path), "--sport", "running", "--steps", "24", "--seed", "4", *where]
    assert main(argv) == 0
    out, _ = capsys.readouterr()
    assert "ground truth" in out
    truth = simulate_run(
        steps=24, fps=60.0, seed=4, athlete_height_m=1.80, treadmill=not overground, noise="white"
    )
    assert main(["analyze", str(path), "--json", "-", "--quiet"]) == 0
    out, _ = capsys.readouterr()
    events = [json.loads(line) for line in out.splitlines()]
    steps = [e["payload"] for e in events if e["event_type"] == "step"]
    seen = [s for s, v in zip(truth.steps, truth.in_view, strict=True) if v]
    assert len(steps) >= len(seen)
    for step in steps:
        match = min(truth.steps, key=lambda t: abs(t.strike_s - step["strike_time_s"]))
        assert step["foot"] == match.foot
        assert step["contact_time_s"] == pytest.approx(match.contact_time_s, abs=0.035)
    assert events[-1]["event_type"] == "session_summary"
    assert events[-1]["payload"]["steps"] == len(steps)


def test_the_report_shows_the_bout_and_its_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.arrow"
    assert main(["simulate", str(path), "--sport", "running", "--steps", "20"]) == 0
    capsys.readouterr()
    assert main(["analyze", str(path), "--belt-speed", "3.5"]) == 0
    out, _ = capsys.readouterr()
    assert "sport running" in out
    assert "Bout 1: 20 steps" in out
    assert "cadence_spm" in out
    speed = next(line for line in out.splitlines() if line.strip().startswith("speed_m_s"))
    assert speed.split()[1:] == ["m/s", "3.500"]
    assert "Session summary: 20 steps in 1 bouts" in out


def test_belt_speed_is_for_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cmj.arrow"
    assert main(["simulate", str(path), "--sport", "cmj", "--reps", "1"]) == 0
    capsys.readouterr()
    assert main(["analyze", str(path), "--belt-speed", "3.0"]) == 2
    _, err = capsys.readouterr()
    assert "belt speed applies to running only" in err


def test_a_simulated_treadmill_recording_keeps_its_belt_speed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.arrow"
    assert main(["simulate", str(path), "--sport", "running", "--steps", "16", "--seed", "6"]) == 0
    capsys.readouterr()
    truth = simulate_run(
        steps=16, fps=60.0, seed=6, athlete_height_m=1.80, treadmill=True, noise="white"
    )
    belt = read_recording(path).params.belt_speed_m_s
    assert belt == pytest.approx(truth.params.speed_m_s)
    assert main(["analyze", str(path), "--json", "-", "--quiet"]) == 0
    out, _ = capsys.readouterr()
    events = [json.loads(line) for line in out.splitlines()]
    (bout,) = [e["payload"] for e in events if e["event_type"] == "bout_summary"]
    assert bout["speed_m_s"] == pytest.approx(belt, abs=5e-4)  # the belt's, not measured
