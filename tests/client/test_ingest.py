"""Publishing through the ingest socket on a real server and broker: poses and frames land
on their topics, every packet answered; refusals, a stop and a slow Kafka as the client
sees them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest

from kinestream import wire
from kinestream.api.server import running_server
from kinestream.client import (
    AsyncClient,
    Client,
    ConflictError,
    IngestError,
    StreamClosedError,
)
from tests.api.conftest import Api, headers_of, messages_of
from tests.api.test_ingest import JPEG, frame, pose
from tests.client.conftest import sync_client


@pytest.fixture(scope="module")
def api_settings_overrides() -> dict[str, Any]:
    return {"max_frame_bytes": 64 * 1024}


def end_message(api: Api, stream: str, timeout_s: float = 20.0) -> wire.ControlMessage:
    """The control message after the start (the end), once it is on the topic."""
    deadline = time.monotonic() + timeout_s
    while len(control := messages_of(api.brokers, api.topics.control, stream)) < 2:
        assert time.monotonic() < deadline, "no end message"
        time.sleep(0.1)
    return wire.decode_control(control[-1].key(), control[-1].value())


def test_poses_and_frames_reach_their_topics_and_closing_ends_the_analysis(api: Api) -> None:
    samples = [pose(seq) for seq in range(40)]
    with sync_client(api, api.new_key()) as client:
        stream = client.create_analysis("cmj", 1.8).analysis_id
        frames = [frame(stream, seq) for seq in range(40, 43)]
        with client.ingest(stream, window=4) as session:
            for sample in samples:
                session.send_pose(sample, fps=60.0)
            for item in frames:
                session.send_frame(item)
    assert (session.sent, session.acked, session.errors, session.backpressure) == (43, 43, [], 0)
    poses = messages_of(api.brokers, api.topics.poses, stream)
    assert [m.value() for m in poses] == [wire.encode_pose_value(s, 60.0) for s in samples]
    sent_frames = messages_of(api.brokers, api.topics.frames, stream)
    assert [wire.decode_frame(m.key(), m.value(), headers_of(m)) for m in sent_frames] == frames
    assert end_message(api, stream) == wire.EndMessage(stream, 42)


def test_a_refused_packet_is_raised_once_and_the_session_goes_on(api: Api) -> None:
    with sync_client(api, api.new_key()) as client:
        stream = client.create_analysis("cmj", 1.8).analysis_id
        oversize = replace(frame(stream, 0), jpeg=JPEG * 40)
        with client.ingest(stream, end_on_close=False) as session:
            session.send_frame(oversize)
            with pytest.raises(IngestError) as refused:
                session.flush()
            session.send_pose(pose(1))
    assert refused.value.code == "too_large"
    assert refused.value.seq is None
    assert "(limit 65536)" in refused.value.message
    assert str(refused.value).startswith("packet refused: too_large: frame packet of")
    assert session.errors == [refused.value]
    assert (session.sent, session.acked) == (2, 1)


def stop_while_sending(client: Client, stream: str) -> None:
    with client.ingest(stream) as session:
        session.send_pose(pose(0))
        session.flush()
        client.stop(stream)
        for seq in range(1, 100):  # the server notices the stop within about a second
            session.send_pose(pose(seq))
            session.flush()
            time.sleep(0.1)


def test_a_stop_closes_the_session_and_a_stopped_analysis_takes_no_more(api: Api) -> None:
    with sync_client(api, api.new_key()) as client:
        stream = client.create_analysis("cmj", 1.8).analysis_id
        with pytest.raises(StreamClosedError) as closed:
            stop_while_sending(client, stream)
        with pytest.raises(ConflictError, match="the analysis is stopped"):
            client.ingest(stream).open()
    assert (closed.value.code, closed.value.reason) == (1000, "analysis stopped")


def test_the_window_holds_the_sender_while_kafka_does_not_answer(api: Api) -> None:
    key = api.new_key()
    with sync_client(api, key) as client:
        stream = client.create_analysis("cmj", 1.8).analysis_id
    settings = replace(
        api.settings, brokers="127.0.0.1:9", kafka_timeout_s=1.0, ingest_max_in_flight=2
    )
    with running_server(settings) as down, Client(down.base_url, key) as client:
        with client.ingest(stream, end_on_close=False, window=1) as one_at_a_time:
            one_at_a_time.send_pose(pose(0))
            started = time.monotonic()
            with pytest.raises(IngestError) as first:
                one_at_a_time.send_pose(pose(1))  # waits for the answer to 0: an error
            waited = time.monotonic() - started
        with client.ingest(stream, end_on_close=False, window=8) as eager:
            for seq in range(3):
                eager.send_pose(pose(seq))
            with pytest.raises(IngestError) as flushed:
                eager.flush()
    assert (first.value.code, first.value.seq) == ("kafka_unavailable", 0)
    assert waited >= 0.9
    assert one_at_a_time.sent == 1  # the second packet was never sent
    assert eager.backpressure == 1  # the server's own window (2) was full
    assert [(e.code, e.seq) for e in eager.errors] == [("kafka_unavailable", s) for s in range(3)]
    assert flushed.value is eager.errors[0]
    assert flushed.value.__notes__ == ["2 more packets refused since: see .errors"]


def test_the_async_session(api: Api) -> None:
    key = api.new_key()
    samples = [pose(seq) for seq in range(20)]

    async def scenario() -> tuple[str, int, int]:
        async with AsyncClient(api.server.base_url, key) as client:
            stream = (await client.create_analysis("cmj", 1.8)).analysis_id
            async with client.ingest(stream, window=3) as session:
                for sample in samples:
                    await session.send_pose(sample)
                await session.send_frame(frame(stream, 20))
            return stream, session.sent, session.acked

    stream, sent, acked = asyncio.run(scenario())
    assert (sent, acked) == (21, 21)
    poses = messages_of(api.brokers, api.topics.poses, stream)
    assert [m.value() for m in poses] == [wire.encode_pose_value(s) for s in samples]
    assert len(messages_of(api.brokers, api.topics.frames, stream)) == 1
    assert end_message(api, stream) == wire.EndMessage(stream, 20)
