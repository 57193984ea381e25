"""The reliability probe's packets against the real broker, ``kinestream flow`` and the
database: each one that used to stop the dataflow for every tenant is now its own stream's
``error`` event, the flow keeps running, and a normal session afterwards still gives its
exact reps.

The packets reach Kafka as they would from the public ingest socket (a ``KF`` packet is
republished as a frame message) or straight from a hostile producer (``KP`` packets and
control messages the ingest socket would refuse).
"""

from __future__ import annotations

import json
import struct
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from confluent_kafka import Producer

from kinestream import wire
from kinestream.sports import Sport
from tests.flows.test_kafka_flow import (
    Athlete,
    _ended,
    _expected_reps,
    _flow_env,
    _reps,
    _wait_for,
    athletes,
    produce,
    start_flow,
)
from tests.hostile_packets import bomb_packet, raw_pose_packet, standing_landmarks
from tests.kafka_topics import TopicFactory, fresh_topics

T0 = 1_760_000_000.0


def _start(stream_id: str) -> tuple[bytes, bytes]:
    return wire.encode_control(wire.StartMessage(stream_id, Sport.CMJ, 1.8))


def _control(stream_id: str, body: dict[str, Any] | bytes) -> tuple[bytes, bytes]:
    value = body if isinstance(body, bytes) else json.dumps(body).encode()
    return stream_id.encode(), value


def _produce_hostile(brokers: str, topics: wire.Topics) -> dict[str, str]:
    """Produce every hostile message; return each stream's expected error code."""
    producer = Producer({"bootstrap.servers": brokers})
    expected: dict[str, str] = {}

    def send(topic: str, key: bytes, value: bytes, headers: Any = None) -> None:
        producer.produce(topic, value, key, headers=headers)

    # The 660-byte KF packets, republished as the ingest socket does: their own size
    # fields say 640x480, their JPEG headers 65500x65500 and 20000x20000.
    for stream_id, side in (("bomb-65500", 65500), ("bomb-20000", 20000)):
        packet = bomb_packet(side, side, seq=0, timestamp_s=T0)
        assert len(packet) == 660
        send(topics.control, *_start(stream_id))
        key, value, headers = wire.encode_frame(wire.decode_frame_packet(stream_id, packet))
        send(topics.frames, key, value, headers)
        expected[stream_id] = "too_large"
    # Poses: microseconds as seconds (PostgreSQL's timestamps overflowed), 1e300 (the
    # smoother's least squares failed), a negative seq, non-finite landmarks.
    hostile_poses = {
        "usec": (raw_pose_packet(0, 1e15, standing_landmarks()), "bad_capture_time"),
        "huge-time": (raw_pose_packet(0, 1e300, standing_landmarks()), "bad_capture_time"),
        "negative-seq": (raw_pose_packet(-5, T0, standing_landmarks()), "bad_seq"),
        "nan-pose": (raw_pose_packet(0, T0, np.full((33, 4), np.nan)), "bad_message"),
    }
    for stream_id, (packet, code) in hostile_poses.items():
        send(topics.control, *_start(stream_id))
        send(topics.poses, stream_id.encode(), packet)
        expected[stream_id] = code
    # Control messages: a start from the future, JSON nested past Python's recursion limit,
    # an id the database cannot store.
    start = {"schema_version": 1, "type": "start", "sport": "cmj", "athlete_height_m": 1.8}
    send(
        topics.control, *_control("future", {**start, "stream_id": "future", "started_at_s": 1e15})
    )
    expected["future"] = "bad_capture_time"
    send(topics.control, *_control("nested", b"[" * 30_000 + b"]" * 30_000))
    expected["nested"] = "bad_message"
    nul = {**start, "stream_id": "nul", "athlete_id": "a\u0000b"}
    send(topics.control, *_control("nul", nul))
    expected["nul"] = "bad_message"
    # A key the database cannot store: an error of no stream.
    send(topics.poses, b"nul\x00key", raw_pose_packet(0, T0, standing_landmarks()))
    expected["_unkeyed"] = "bad_message"
    assert producer.flush(30) == 0
    return expected


def test_the_probes_packets_are_errors_of_their_streams_and_the_flow_goes_on(
    kafka_bootstrap: str, topic_factory: TopicFactory, migrated_database: str, tmp_path: Path
) -> None:
    topics = fresh_topics(topic_factory, partitions=4)
    expected_codes = _produce_hostile(kafka_bootstrap, topics)

    # A session whose clock jumps ahead by 1e6 s for one frame: that frame is dropped.
    [jumping] = athletes(1, prefix="jump", reps=2)
    at = len(jumping.samples) // 3
    outlier = replace(jumping.samples[at], timestamp_s=jumping.samples[at].timestamp_s + 1e6)
    produce(
        kafka_bootstrap,
        topics,
        [replace(jumping, samples=[*jumping.samples[:at], outlier, *jumping.samples[at + 1 :]])],
        start=True,
        poses=slice(None),
        end=True,
    )
    without_outlier = Athlete(
        jumping.stream_id, jumping.trial, [*jumping.samples[:at], *jumping.samples[at + 1 :]]
    )
    # And last, one normal session from the simulator.
    [normal] = athletes(1, prefix="normal", reps=3)
    produce(kafka_bootstrap, topics, [normal], start=True, poses=slice(None), end=True)

    log = tmp_path / "flow.log"
    flow = start_flow([], _flow_env(kafka_bootstrap, topics, migrated_database), log, frames=True)
    try:
        _wait_for(lambda: _ended(migrated_database) >= 2, 300, "the two sessions' ends")
        assert flow.poll() is None, log.read_text()[-3000:]  # still running
    finally:
        flow.kill()
        flow.wait(10)

    assert _reps(migrated_database) == _expected_reps([normal, without_outlier])
    with psycopg.connect(migrated_database) as conn:
        errors = conn.execute(
            "SELECT stream_id, payload->>'code' FROM events WHERE event_type = 'error'"
        ).fetchall()
        warnings = conn.execute(
            "SELECT payload->>'code' FROM events "
            "WHERE event_type = 'quality_warning' AND stream_id = %s",
            (jumping.stream_id,),
        ).fetchall()
        status: dict[str, str] = dict(
            conn.execute("SELECT stream_id, status FROM analyses").fetchall()
        )
    assert dict(errors) == expected_codes
    assert len(errors) == len(expected_codes)
    assert ("time_jump",) in warnings
    assert (status[normal.stream_id], status[jumping.stream_id]) == ("ended", "ended")
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    # The bomb frames were refused before any pose estimator was built.
    assert "mediapipe" not in text.lower()


def test_bomb_packets_are_the_probes(tmp_path: Path) -> None:
    """The KF packets above are built as the probe's were: 660 bytes, a real JPEG whose
    frame header alone claims the size."""
    packet = bomb_packet(65500, 65500)
    assert len(packet) == 660
    header = struct.unpack_from("<2sBqdfII", packet)
    assert (header[0], header[5], header[6]) == (b"KF", 640, 480)
