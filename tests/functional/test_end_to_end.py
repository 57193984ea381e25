"""The whole system through its public interfaces: API, dataflow, webhook dispatcher.

A coach's app creates an analysis with a webhook over HTTP, watches it over the watch
WebSocket, and sends a simulated countermovement-jump session (3 reps, 60 fps, pose
packets) over the ingest WebSocket. The real ``kinestream flow`` and ``kinestream
webhooks`` processes run on the real broker and database. Checked: live events arrive in
position order without gaps and end with the session; the reps in the API's answer are the
live ones and match the simulated truth (flight time within a quarter frame, 4.2 ms; jump
height within 1 cm); the receiver gets each rep and the summary once, signed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from kinestream import wire
from kinestream.api.server import RunningServer, running_server
from kinestream.api.settings import ApiSettings
from kinestream.connectors.topics import ensure_topics
from kinestream.signing import verify
from kinestream.simulation.camera import Camera
from kinestream.simulation.scenarios import Trial, countermovement_jumps
from kinestream.store.api_keys import create_key
from tests.webhook_receiver import Receiver, Reply

REPO = Path(__file__).resolve().parents[2]
FPS = 60.0
WAIT_S = 120.0


@dataclass(frozen=True)
class Stack:
    """The running system: its API, processes' logs, topics and database."""

    server: RunningServer
    database_url: str
    topics: wire.Topics
    receiver: Receiver
    logs: Path

    def url(self, path: str) -> str:
        return f"{self.server.base_url}/api/v1{path}"

    def ws_url(self, path: str) -> str:
        return f"{self.server.ws_url}/api/v1{path}"


def _process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "kinestream.cli", *args],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def stack(
    kafka_bootstrap: str, migrated_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    """API in this process; dataflow and dispatcher as their own processes; a receiver."""
    monkeypatch.setenv("KINESTREAM_WEBHOOKS_ALLOW_PRIVATE", "1")  # the receiver is loopback
    prefix = f"e2e_{uuid.uuid4().hex[:8]}."
    topics = wire.Topics.prefixed(prefix)
    ensure_topics(kafka_bootstrap, topics, partitions=4)
    env = {
        "KINESTREAM_KAFKA": kafka_bootstrap,
        "KINESTREAM_DATABASE_URL": migrated_database,
        "KINESTREAM_WEBHOOKS_ALLOW_PRIVATE": "1",
    }
    common = ["--topic-prefix", prefix]
    flow = _process(["flow", "--no-frames", *common], env, tmp_path / "flow.log")
    hooks = _process(
        ["webhooks", *common, "--retry-base-s", "0.5", "--group-id", f"e2e-{prefix}"],
        env,
        tmp_path / "webhooks.log",
    )
    receiver = Receiver(lambda path, index: Reply())
    settings = ApiSettings(database_url=migrated_database, brokers=kafka_bootstrap, topics=topics)
    try:
        with running_server(settings) as server:
            yield Stack(server, migrated_database, topics, receiver, tmp_path)
    finally:
        receiver.close()
        for process in (flow, hooks):
            process.terminate()
        for process in (flow, hooks):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def _session() -> Trial:
    """The simulated session on today's clock (as a camera would stamp it)."""
    trial = countermovement_jumps(reps=3, camera=Camera(fps=FPS), seed=21)
    shift = time.time() - trial.samples[0].timestamp_s
    trial.samples = [replace(s, timestamp_s=s.timestamp_s + shift) for s in trial.samples]
    trial.reps = [
        replace(r, takeoff_s=r.takeoff_s + shift, landing_s=r.landing_s + shift) for r in trial.reps
    ]
    return trial


def _watch(stack: Stack, analysis_id: str, token: str, out: list[dict[str, Any]]) -> None:
    """Collect the watch socket's events until the server closes it."""
    with connect(
        stack.ws_url(f"/analyses/{analysis_id}/stream"),
        subprotocols=[Subprotocol("kinestream.v1"), Subprotocol(f"bearer.{token}")],
        open_timeout=10,
    ) as socket:
        try:
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline:
                message = json.loads(socket.recv(timeout=WAIT_S))
                if message["type"] == "event":
                    out.append(message)
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
            out.append({"type": "closed", "code": code})


def _send(stack: Stack, analysis_id: str, key: str, trial: Trial) -> None:
    """Send the session's pose packets over the ingest socket, then close it (ends it)."""
    with connect(
        stack.ws_url(f"/analyses/{analysis_id}/ingest?end_on_close=1"),
        subprotocols=[Subprotocol("kinestream.v1"), Subprotocol(f"bearer.{key}")],
        open_timeout=10,
    ) as socket:
        for sample in trial.samples:
            socket.send(wire.encode_pose_value(sample, FPS))
        acked = 0
        while acked < len(trial.samples):
            reply = json.loads(socket.recv(timeout=60))
            assert reply["type"] in ("ack", "backpressure"), reply
            acked += reply["type"] == "ack"


def _wait(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_session_from_ingest_to_watch_database_and_webhook(stack: Stack) -> None:
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        _, key = create_key(conn, "e2e", rate_per_minute=10_000, max_streams=5)
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        response = http.post(
            stack.url("/analyses"),
            json={
                "sport": "cmj",
                "athlete_height_m": 1.80,
                "athlete_id": "athlete-e2e",
                "webhook_url": stack.receiver.url("/hooks/e2e"),
            },
        )
        assert response.status_code == 201, response.text
        created = response.json()
        analysis_id = created["analysis_id"]
        secret = created["webhook"]["secret"]

        watched: list[dict[str, Any]] = []
        watcher = threading.Thread(
            target=_watch, args=(stack, analysis_id, created["watch"]["token"], watched)
        )
        watcher.start()
        trial = _session()
        _send(stack, analysis_id, key, trial)
        watcher.join(WAIT_S)
        assert not watcher.is_alive(), "the watch socket stayed open after the session"

        # Live: every event once, in order, ending with the session.
        assert watched[-1] == {"type": "closed", "code": 1000}
        events = [m["event"] for m in watched[:-1]]
        assert [m["position"] for m in watched[:-1]] == list(range(len(events)))
        assert events[-1]["event_type"] == "session_summary"
        assert events[-1]["payload"]["reps"] == 3
        live_reps = [e for e in events if e["event_type"] == "rep_complete"]
        assert len(live_reps) == 3
        for event, truth in zip(live_reps, trial.reps, strict=True):
            metrics = event["payload"]["metrics"]
            assert metrics["flight_time_s"] == pytest.approx(truth.flight_time_s, abs=0.25 / FPS)
            assert metrics["jump_height_m"] == pytest.approx(truth.jump_height_m, abs=0.01)

        # Stored: the API answers with the same reps, and the analysis is over.
        _wait(
            lambda: http.get(stack.url(f"/analyses/{analysis_id}")).json()["status"] == "ended",
            "the analysis to be ended in the database",
        )
        stored = http.get(stack.url(f"/analyses/{analysis_id}")).json()
        assert [r["metrics"] for r in stored["reps"]] == [
            e["payload"]["metrics"] for e in live_reps
        ]

    # Pushed: each rep and the summary once, signed with the webhook's secret.
    expected = {
        e["event_id"] for e in events if e["event_type"] in ("rep_complete", "session_summary")
    }
    _wait(lambda: len(stack.receiver.requests) >= len(expected), "the webhook deliveries")
    time.sleep(1.0)  # nothing more may come
    received = stack.receiver.requests
    assert sorted(r.headers["Kinestream-Event-Id"] for r in received) == sorted(expected)
    for request in received:
        assert request.path == "/hooks/e2e"
        verify(secret, request.body, request.headers["Kinestream-Signature"])
        body = json.loads(request.body)
        assert body["analysis_id"] == analysis_id
        assert body["athlete_id"] == "athlete-e2e"
