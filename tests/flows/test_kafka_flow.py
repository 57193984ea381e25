"""The analysis flow on the real broker and database: in-process, crash/resume, scale-out.

Pose streams come from the synthetic athlete (countermovement jumps); the reference is the
analyzer run over each whole stream in this process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from bytewax.testing import run_main
from confluent_kafka import Consumer, Producer

from kinestream import wire
from kinestream.events import AnalysisEvent
from kinestream.flows.analysis import FlowSettings, build_flow
from kinestream.flows.stream_logic import StreamSettings
from kinestream.operators.analyzer import StreamAnalyzer, StreamConfig
from kinestream.operators.metric_batches import MetricBatcher
from kinestream.operators.pose import PoseSample
from kinestream.simulation.scenarios import Trial, countermovement_jumps
from kinestream.sports import Sport

TopicFactory = Callable[..., str]

T0 = 1_760_000_000.0
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Athlete:
    """One stream: a simulated session shifted to wall-clock capture times."""

    stream_id: str
    trial: Trial
    samples: list[PoseSample]

    @property
    def start(self) -> wire.StartMessage:
        return wire.StartMessage(
            self.stream_id,
            self.trial.sport,
            self.trial.athlete_height_m,
            athlete_id=f"athlete-{self.stream_id}",
            api_key_id="key-1",
            started_at_s=T0,
        )

    def expected_events(self) -> list[AnalysisEvent]:
        """What an uninterrupted analysis of the whole stream emits (frames' values a few
        to an event, as the flow sends them)."""
        analyzer = MetricBatcher(
            StreamAnalyzer(
                StreamConfig(self.stream_id, Sport(self.trial.sport), self.trial.athlete_height_m)
            )
        )
        out = [e for s in self.samples for e in analyzer.process(s)]
        return out + analyzer.finish("end")


def athletes(count: int, prefix: str = "cam", reps: int = 2) -> list[Athlete]:
    out = []
    for i in range(count):
        trial = countermovement_jumps(reps=reps, seed=i)
        # As the flow sees them: on wall-clock time, through the (float32) wire format.
        samples = [
            wire.decode_pose_value(
                wire.encode_pose_value(
                    PoseSample(
                        s.seq,
                        s.timestamp_s + T0,
                        s.image_width,
                        s.image_height,
                        s.landmarks,
                        s.world,
                    )
                )
            )
            for s in trial.samples
        ]
        out.append(Athlete(f"{prefix}-{i}", trial, samples))
    return out


def produce(
    brokers: str,
    topics: wire.Topics,
    athletes: Iterable[Athlete],
    *,
    start: bool = False,
    poses: slice | None = None,
    end: bool = False,
) -> None:
    """Produce part of each athlete's stream: its start, a slice of its poses, its end."""
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 5})
    for athlete in athletes:
        if start:
            key, value = wire.encode_control(athlete.start)
            producer.produce(topics.control, value, key)
        for sample in athlete.samples[poses] if poses is not None else ():
            key, value, headers = wire.encode_pose(athlete.stream_id, sample, 60.0)
            kafka_headers: list[tuple[str, str | bytes | None]] = list(headers)
            producer.produce(topics.poses, value, key, headers=kafka_headers)
            producer.poll(0)
        if end:
            last = athlete.samples[-1].seq
            key, value = wire.encode_control(wire.EndMessage(athlete.stream_id, last))
            producer.produce(topics.control, value, key)
    assert producer.flush(30) == 0


def consume_all(
    brokers: str, topic: str, timeout_s: float = 5.0
) -> list[tuple[bytes | None, bytes | None]]:
    """Every message on ``topic`` so far (reads until it stays quiet for ``timeout_s``)."""
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"test-{os.getpid()}-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    out: list[tuple[bytes | None, bytes | None]] = []
    try:
        while True:
            batch = consumer.consume(1000, timeout=timeout_s)
            if not batch:
                return out
            for msg in batch:
                if msg.error() is None:
                    out.append((msg.key(), msg.value()))
    finally:
        consumer.close()


def topics_env(topics: wire.Topics) -> dict[str, str]:
    return {
        "KINESTREAM_TOPIC_FRAMES": topics.frames,
        "KINESTREAM_TOPIC_POSES": topics.poses,
        "KINESTREAM_TOPIC_CONTROL": topics.control,
        "KINESTREAM_TOPIC_EVENTS": topics.events,
        "KINESTREAM_TOPIC_WEBHOOKS": topics.webhooks,
        "KINESTREAM_TOPIC_DEADLETTER": topics.deadletter,
    }


def start_flow(
    args: list[str], env: Mapping[str, str], log: Path, *, frames: bool = False
) -> subprocess.Popen[bytes]:
    """Start ``kinestream flow ARGS`` in its own process (poses only, unless ``frames``)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kinestream.cli",
                "flow",
                *([] if frames else ["--no-frames"]),
                *args,
            ],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def topics(topic_factory: TopicFactory) -> wire.Topics:
    return wire.Topics(
        frames=topic_factory(4),
        poses=topic_factory(4),
        control=topic_factory(4),
        events=topic_factory(4),
        webhooks=topic_factory(4),
    )


def _events(kafka: str, topic: str) -> list[AnalysisEvent]:
    return [wire.decode_event(k, v) for k, v in consume_all(kafka, topic)]


def _reps(url: str) -> set[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT stream_id, rep, event_id::text, jump_height_m FROM reps"
        ).fetchall()
    return {tuple(r) for r in rows}


def _expected_reps(group: list[Athlete]) -> set[tuple[Any, ...]]:
    return {
        (e.stream_id, e.payload["rep"], e.event_id, e.payload["metrics"]["jump_height_m"])
        for a in group
        for e in a.expected_events()
        if e.event_type == "rep_complete"
    }


def _positions_are_dense(url: str) -> bool:
    """Every stream's stored events are numbered 0..n-1: none missing, none twice."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT stream_id, array_agg(position ORDER BY position) FROM events GROUP BY stream_id"
        ).fetchall()
    return bool(rows) and all(list(p) == list(range(len(p))) for _, p in rows)


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _ended(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM analyses WHERE status = 'ended'").fetchone()
    return int(row[0]) if row else 0


def test_poses_in_events_out(
    kafka_bootstrap: str, topics: wire.Topics, migrated_database: str
) -> None:
    group = athletes(3)
    produce(kafka_bootstrap, topics, group, start=True, poses=slice(None), end=True)
    settings = FlowSettings(
        brokers=(kafka_bootstrap,),
        topics=topics,
        database_url=migrated_database,
        frames=False,
        tail=False,
    )
    run_main(build_flow(settings))  # type: ignore[no-untyped-call]

    events = _events(kafka_bootstrap, topics.events)
    expected = [e for a in group for e in a.expected_events()]
    assert sorted(e.event_id for e in events) == sorted(e.event_id for e in expected)
    hooks = [wire.decode_webhook(k, v) for k, v in consume_all(kafka_bootstrap, topics.webhooks)]
    assert sorted(h.event.event_id for h in hooks) == sorted(
        e.event_id for e in expected if e.event_type in wire.WEBHOOK_EVENT_TYPES
    )
    assert _reps(migrated_database) == _expected_reps(group)
    assert _ended(migrated_database) == 3
    assert _positions_are_dense(migrated_database)


def _flow_env(kafka: str, topics: wire.Topics, url: str) -> dict[str, str]:
    return {
        **topics_env(topics),
        "KINESTREAM_KAFKA": kafka,
        "KINESTREAM_DATABASE_URL": url,
        "KINESTREAM_IDLE_TIMEOUT_S": "120",
    }


def test_kill_9_mid_stream_and_resume_loses_nothing_and_duplicates_nothing(
    kafka_bootstrap: str, topics: wire.Topics, migrated_database: str, tmp_path: Path
) -> None:
    group = athletes(4, reps=3)
    env = _flow_env(kafka_bootstrap, topics, migrated_database)
    args = ["--recovery-dir", str(tmp_path / "recovery"), "--snapshot-interval-s", "0.5"]
    log = tmp_path / "flow.log"
    first_half = min(len(a.samples) for a in group) // 2
    produce(kafka_bootstrap, topics, group, start=True, poses=slice(0, first_half))

    flow = start_flow(args, env, log)
    try:
        _wait_for(lambda: len(_reps(migrated_database)) >= 2, 90, "reps of the first half")
        time.sleep(1.0)  # let a snapshot or two go by, then crash mid-epoch
        os.kill(flow.pid, signal.SIGKILL)
        flow.wait(10)
        reps_before_crash = _reps(migrated_database)
        produce(kafka_bootstrap, topics, group, poses=slice(first_half, None), end=True)
        flow = start_flow(args, env, log)
        _wait_for(lambda: _ended(migrated_database) == len(group), 120, "every session's end")
    finally:
        flow.kill()
        flow.wait(10)

    # Every completed rep is in the database exactly once, as an uninterrupted run has it.
    reps = _reps(migrated_database)
    assert reps == _expected_reps(group)
    assert reps_before_crash <= reps
    # Every event once, numbered as an uninterrupted run numbers them.
    assert _positions_are_dense(migrated_database)
    # No stream state was lost: each summary counts every frame of its stream.
    with psycopg.connect(migrated_database) as conn:
        summaries = conn.execute(
            "SELECT stream_id, (summary->>'frames')::int, (summary->>'reps')::int FROM analyses"
        ).fetchall()
    assert sorted(summaries) == sorted(
        (a.stream_id, e.payload["frames"], e.payload["reps"])
        for a in group
        for e in a.expected_events()
        if e.event_type == "session_summary"
    )
    # The events topic may hold repeats (at-least-once); a repeat has the same id.
    events = _events(kafka_bootstrap, topics.events)
    ids_by_content: dict[tuple[str, str, int, int], set[str]] = defaultdict(set)
    for e in events:
        ids_by_content[(e.stream_id, e.event_type, e.seq, e.index)].add(e.event_id)
    assert all(len(ids) == 1 for ids in ids_by_content.values())
    expected_ids = {e.event_id for a in group for e in a.expected_events()}
    assert {e.event_id for e in events} == expected_ids
    positions: dict[str, set[int | None]] = defaultdict(set)
    for e in events:
        positions[e.event_id].add(e.position)
    assert all(len(p) == 1 for p in positions.values())


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_processes_give_the_same_reps_as_one(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    topics: wire.Topics,
    migrated_database: str,
    tmp_path: Path,
) -> None:
    group = athletes(8, prefix="scale", reps=2)
    produce(kafka_bootstrap, topics, group, start=True, poses=slice(None), end=True)
    env = _flow_env(kafka_bootstrap, topics, migrated_database)
    addresses = ";".join(f"127.0.0.1:{p}" for p in _free_ports(2))
    log = tmp_path / "cluster.log"
    procs = [start_flow(["-i", str(i), "-a", addresses, "--stop-at-end"], env, log) for i in (0, 1)]
    try:
        for proc in procs:
            assert proc.wait(180) == 0, log.read_text()[-3000:]
    finally:
        for proc in procs:
            proc.kill()
    # The single-process reference: the same streams through one process, in-process.
    assert _reps(migrated_database) == _expected_reps(group)
    assert _ended(migrated_database) == len(group)
    cluster_events = _events(kafka_bootstrap, topics.events)

    single = FlowSettings(
        brokers=(kafka_bootstrap,),
        topics=wire.Topics(
            poses=topics.poses,
            control=topics.control,
            frames=topics.frames,
            events=topic_factory(4),
            webhooks=topic_factory(4),
        ),
        frames=False,
        tail=False,
        stream=StreamSettings(idle_timeout_s=120),
    )
    run_main(build_flow(single))  # type: ignore[no-untyped-call]
    single_events = _events(kafka_bootstrap, single.topics.events)
    assert sorted(e.event_id for e in single_events) == sorted(e.event_id for e in cluster_events)
    assert sorted((e.event_id, e.position) for e in single_events) == sorted(
        (e.event_id, e.position) for e in cluster_events
    )
