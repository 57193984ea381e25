"""A message that kills the dataflow's worker cannot make it die on every restart.

``kinestream flow`` runs as its own process on the real broker and database, with a
recovery directory. A test-only hook (``KINESTREAM_TEST_CRASH_ON=<stream id>:<seq>``, see
:mod:`kinestream.flows.inflight`) makes the worker die on one pose as a native crash would
(SIGKILL, so no exception handler runs). The first restart retries the message and dies
again; the second quarantines it: the message goes to the dead-letter topic with its topic,
partition, offset and why, its stream gets an error event, and every stream's results,
its own included, keep flowing.
"""

from __future__ import annotations

import signal
from pathlib import Path

import psycopg

from kinestream import wire
from tests.flows.test_kafka_flow import (
    _ended,
    _expected_reps,
    _flow_env,
    _reps,
    _wait_for,
    athletes,
    consume_all,
    produce,
    start_flow,
)
from tests.kafka_topics import TopicFactory, fresh_topics, read_topic


def test_a_message_that_kills_the_worker_is_quarantined_and_the_flow_goes_on(
    kafka_bootstrap: str, topic_factory: TopicFactory, migrated_database: str, tmp_path: Path
) -> None:
    topics = fresh_topics(topic_factory, partitions=4)
    group = athletes(3, prefix="loop", reps=2)
    poison_stream, poison_seq = group[2].stream_id, 40
    produce(kafka_bootstrap, topics, group, start=True, poses=slice(None), end=True)
    env = {
        **_flow_env(kafka_bootstrap, topics, migrated_database),
        "KINESTREAM_TEST_CRASH_ON": f"{poison_stream}:{poison_seq}",
    }
    args = ["--recovery-dir", str(tmp_path / "recovery"), "--snapshot-interval-s", "0.5"]
    log = tmp_path / "flow.log"

    # It dies on the message, and again on the retry: a kill from outside is not the
    # message's fault, so the first death alone does not quarantine it.
    for attempt in (1, 2):
        flow = start_flow(args, env, log)
        status = flow.wait(300)
        assert status == -signal.SIGKILL, f"start {attempt}: {status}\n{log.read_text()[-3000:]}"
    assert consume_all(kafka_bootstrap, topics.deadletter, timeout_s=1.0) == []

    # The third start gets past it.
    flow = start_flow(args, env, log)
    try:
        _wait_for(lambda: _ended(migrated_database) == len(group), 300, "every session's end")
        assert flow.poll() is None, log.read_text()[-3000:]
    finally:
        flow.kill()
        flow.wait(10)

    # The healthy streams' results are exactly those of an uninterrupted run.
    healthy = group[:2]
    reps = _reps(migrated_database)
    assert {r for r in reps if r[0] != poison_stream} == _expected_reps(healthy)
    # The poisoned stream lost that one pose, and went on.
    with psycopg.connect(migrated_database) as conn:
        row = conn.execute(
            "SELECT (summary->>'frames')::int, (summary->>'reps')::int, "
            "(summary->>'dropped_frames')::int FROM analyses WHERE stream_id = %s",
            (poison_stream,),
        ).fetchone()
        errors = conn.execute(
            "SELECT seq, payload->>'code', payload->>'message' FROM events "
            "WHERE stream_id = %s AND event_type = 'error'",
            (poison_stream,),
        ).fetchall()
    assert row == (len(group[2].samples) - 1, 2, 1)
    [(seq, code, message)] = errors
    assert (seq, code) == (poison_seq, "quarantined")
    assert "died 2 times" in message

    # The dead letter is the message as it was, with where it was and why.
    [letter] = read_topic(kafka_bootstrap, topics.deadletter)
    quarantined = wire.decode_quarantined(letter.key(), letter.value(), letter.headers())
    assert quarantined.key == poison_stream.encode()
    assert wire.decode_pose_value(quarantined.value).seq == poison_seq
    assert quarantined.reason == "worker_died"
    assert "died 2 times" in quarantined.error
    assert quarantined.topic == topics.poses
    [original] = [
        m
        for m in read_topic(kafka_bootstrap, topics.poses)
        if m.key() == quarantined.key and wire.decode_pose_value(m.value()).seq == poison_seq
    ]
    assert (quarantined.partition, quarantined.offset) == (original.partition(), original.offset())
    assert "quarantining" in log.read_text()
