"""The database sink stores a running session's steps and bouts, once each."""

from __future__ import annotations

from dataclasses import replace

import psycopg

from kinestream.connectors.database import write_session_events
from kinestream.operators.gait.analyzer import RunningAnalyzer, RunningConfig
from kinestream.operators.pose import Landmark
from kinestream.session import SessionEvent
from kinestream.simulation.camera import Camera
from kinestream.simulation.running import RunnerParams, run
from kinestream.sports import Sport
from kinestream.wire import StartMessage


def test_steps_and_bouts_are_rows(migrated_database: str) -> None:
    trial = run(RunnerParams(), steps=14, camera=Camera(fps=60), seed=5)
    start = StartMessage(
        "run-1", Sport.RUNNING, 1.80, athlete_id="a-7", belt_speed_m_s=trial.belt_speed_m_s
    )
    analyzer = RunningAnalyzer(RunningConfig("run-1", 1.80, trial.belt_speed_m_s))
    events = [e for s in trial.samples for e in analyzer.process(s)] + analyzer.finish("end")
    outputs = [SessionEvent("run-1", start, None)]
    outputs += [SessionEvent("run-1", start, e.numbered(i)) for i, e in enumerate(events)]
    steps = [e.payload for e in events if e.event_type == "step"]
    with psycopg.connect(migrated_database) as conn:
        write_session_events(conn, outputs)
        write_session_events(conn, outputs)  # redelivered: nothing twice
        rows = conn.execute(
            "SELECT step, foot, extract(epoch FROM strike_at), contact_time_s, athlete_id"
            " FROM steps ORDER BY step"
        ).fetchall()
        bouts = conn.execute(
            "SELECT bout, steps, unseen_steps, cadence_spm, reason FROM bouts"
        ).fetchall()
        analysis = conn.execute("SELECT sport, belt_speed_m_s, status FROM analyses").fetchone()
    assert [(r[0], r[1]) for r in rows] == [(s["step"], s["foot"]) for s in steps]
    for row, step in zip(rows, steps, strict=True):
        assert abs(float(row[2]) - step["strike_time_s"]) < 1e-5
        assert row[3] == step["contact_time_s"]
        assert row[4] == "a-7"
    (bout,) = [e.payload for e in events if e.event_type == "bout_summary"]
    assert bouts == [(1, bout["steps"], bout["unseen_steps"], bout["cadence_spm"], "end_of_stream")]
    assert analysis == ("running", trial.belt_speed_m_s, "ended")


def test_a_bout_keeps_its_unseen_steps(migrated_database: str) -> None:
    """One far-foot contact hidden around its strike is no step: its bout stores one unseen
    step; a summary without the count (older analyses) stores NULL, not 0."""
    trial = run(RunnerParams(), steps=24, camera=Camera(fps=60), seed=13, far_leg_occlusion=False)
    hidden = [t for t in trial.steps if t.foot == "right"][1]
    rows = [Landmark.RIGHT_ANKLE, Landmark.RIGHT_HEEL, Landmark.RIGHT_FOOT_INDEX]
    for sample in trial.samples:
        if hidden.strike_s - 0.12 <= sample.timestamp_s <= hidden.strike_s + 0.05:
            assert sample.landmarks is not None
            sample.landmarks[rows, 3] = 0.1
    analyzer = RunningAnalyzer(RunningConfig("run-2", 1.80, trial.belt_speed_m_s))
    events = [e for s in trial.samples for e in analyzer.process(s)] + analyzer.finish("end")
    (bout,) = [e.numbered(0) for e in events if e.event_type == "bout_summary"]
    older = replace(
        bout,
        stream_id="run-3",
        payload={k: v for k, v in bout.payload.items() if k != "unseen_steps"},
    )
    start = StartMessage("run-2", Sport.RUNNING, 1.80, belt_speed_m_s=trial.belt_speed_m_s)
    with psycopg.connect(migrated_database) as conn:
        write_session_events(
            conn, [SessionEvent("run-2", start, bout), SessionEvent("run-3", None, older)]
        )
        stored = conn.execute(
            "SELECT stream_id, steps, unseen_steps FROM bouts ORDER BY stream_id"
        ).fetchall()
    assert stored == [("run-2", bout.payload["steps"], 1), ("run-3", bout.payload["steps"], None)]
