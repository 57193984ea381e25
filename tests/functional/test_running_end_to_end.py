"""A simulated treadmill run through the whole system: API, dataflow, database, webhooks.

The run (40 steps at 60 fps, 0.5 px of landmark noise) is sent as pose packets over the
ingest WebSocket to the real ``kinestream flow`` and ``kinestream webhooks`` processes, on
the real broker and database (the stack of :mod:`tests.functional.test_end_to_end`).
Checked: the live ``step`` events are those of the running analysis run in this process on
the same samples (as ``kinestream analyze`` runs it), the database holds each as a row and
the bout, and a webhook that asked for steps gets each step once, signed.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from typing import Any

import httpx
import psycopg

from kinestream import wire
from kinestream.operators.analyzers import analyzer_for
from kinestream.signing import verify
from kinestream.simulation.camera import Camera
from kinestream.simulation.running import RunnerParams, RunTrial, run
from kinestream.sports import Sport
from kinestream.store.api_keys import create_key
from tests.functional import test_end_to_end as e2e
from tests.functional.test_end_to_end import WAIT_S, Stack, _send, _wait, _watch

running_stack = e2e.stack
"""The whole system: API, flow and webhook processes, a webhook receiver."""

BELT_M_S = 3.4


def _run() -> RunTrial:
    """The simulated run on today's clock (as a camera would stamp it)."""
    trial = run(RunnerParams(cadence_spm=172.0, contact_s=0.24), steps=40, camera=Camera(), seed=8)
    shift = time.time() - trial.samples[0].timestamp_s
    samples = [replace(s, timestamp_s=s.timestamp_s + shift) for s in trial.samples]
    return replace(trial, samples=samples)


def _local_steps(trial: RunTrial, analysis_id: str) -> list[dict[str, Any]]:
    """The steps of the analysis run here on the samples as the flow got them (the wire
    keeps landmarks in float32)."""
    analyzer = analyzer_for(analysis_id, Sport.RUNNING, 1.80, belt_speed_m_s=BELT_M_S)
    received = [wire.decode_pose_value(wire.encode_pose_value(s, 60.0)) for s in trial.samples]
    events = [e for s in received for e in analyzer.process(s)]
    events += analyzer.finish("end")
    return [e.payload for e in events if e.event_type == "step"]


def test_a_treadmill_run_from_ingest_to_watch_database_and_webhook(running_stack: Stack) -> None:
    stack = running_stack
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        _, key = create_key(conn, "e2e-run", rate_per_minute=10_000, max_streams=5)
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        response = http.post(
            stack.url("/analyses"),
            json={
                "sport": "running",
                "athlete_height_m": 1.80,
                "athlete_id": "runner-e2e",
                "belt_speed_m_s": BELT_M_S,
                "options": {"echo_pose": False},
            },
        )
        assert response.status_code == 201, response.text
        created = response.json()
        analysis_id = created["analysis_id"]
        hook = http.post(
            stack.url("/webhooks"),
            json={
                "url": stack.receiver.url("/hooks/run"),
                "event_types": ["step", "bout_summary"],
                "analysis_id": analysis_id,
            },
        )
        assert hook.status_code == 201, hook.text
        secret = hook.json()["secret"]

        watched: list[dict[str, Any]] = []
        watcher = threading.Thread(
            target=_watch, args=(stack, analysis_id, created["watch"]["token"], watched)
        )
        watcher.start()
        trial = _run()
        _send(stack, analysis_id, key, trial)  # type: ignore[arg-type]
        watcher.join(WAIT_S)
        assert not watcher.is_alive(), "the watch socket stayed open after the run"

    # Live: the same steps as the analysis run here on the same samples.
    events = [m["event"] for m in watched[:-1]]
    assert events[-1]["event_type"] == "session_summary"
    live = [e for e in events if e["event_type"] == "step"]
    assert [e["payload"] for e in live] == _local_steps(trial, analysis_id)
    assert sum(trial.in_view) <= len(live) <= len(trial.steps)
    assert all(e["payload"]["speed_m_s"] == BELT_M_S for e in live)

    # Stored: each step a row, the bout with its figures.
    def stored() -> list[tuple[Any, ...]]:
        with psycopg.connect(stack.database_url) as conn:
            return conn.execute(
                "SELECT step, foot, contact_time_s FROM steps WHERE stream_id = %s ORDER BY step",
                (analysis_id,),
            ).fetchall()

    _wait(lambda: len(stored()) == len(live), "the steps in the database")
    assert stored() == [
        (e["payload"]["step"], e["payload"]["foot"], e["payload"]["contact_time_s"]) for e in live
    ]

    # Pushed: each step and the bout once, signed.
    expected = {e["event_id"] for e in events if e["event_type"] in ("step", "bout_summary")}
    _wait(lambda: len(stack.receiver.requests) >= len(expected), "the webhook deliveries")
    time.sleep(1.0)  # nothing more may come
    received = stack.receiver.requests
    assert sorted(r.headers["Kinestream-Event-Id"] for r in received) == sorted(expected)
    for request in received:
        verify(secret, request.body, request.headers["Kinestream-Signature"])
        assert json.loads(request.body)["analysis_id"] == analysis_id
