"""The sync client on a real server: analyses, their event history page by page, the sports
catalogue, webhooks; the API's own models come back."""

from __future__ import annotations

import pytest

from kinestream.api.models import Analysis, AnalysisCreated, StopAccepted, WebhookCreated
from kinestream.client import Client
from kinestream.events import AnalysisEvent
from kinestream.sports import Sport
from tests.api.conftest import Api
from tests.api.test_watch import event, store
from tests.client.conftest import sync_client

HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture(autouse=True)
def loopback_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KINESTREAM_WEBHOOKS_ALLOW_PRIVATE", "1")


def rep(stream_id: str, position: int, number: int) -> AnalysisEvent:
    payload = {"rep": number, "sport": "cmj", "metrics": {"jump_height_m": 0.4}, "quality": {}}
    return AnalysisEvent(
        "rep_complete", stream_id, position, 1.0 + position, payload, position=position
    )


def test_create_read_and_stop_an_analysis(api: Api) -> None:
    with sync_client(api, api.new_key()) as client:
        created = client.create_analysis(
            "drop_jump", 1.72, box_height_m=0.4, athlete_id="athlete-17", echo_pose=True
        )
        read = client.get_analysis(created.analysis_id)
        stopped = client.stop(created.analysis_id, last_seq=41)
        again = client.get_analysis(created.analysis_id)
    assert isinstance(created, AnalysisCreated)
    assert created.status == "created"
    assert created.sport is Sport.DROP_JUMP
    assert created.watch.token.startswith("wt_")
    assert created.ingest.websocket.endswith(f"/analyses/{created.analysis_id}/ingest")
    assert created.webhook is None
    assert isinstance(read, Analysis)
    assert (read.athlete_id, read.athlete_height_m, read.box_height_m) == ("athlete-17", 1.72, 0.4)
    assert read.options.echo_pose is True
    assert read.stop_requested_at is None
    assert read.reps == []
    assert isinstance(stopped, StopAccepted)
    assert stopped.stop_requested_at is not None
    assert again.stop_requested_at == stopped.stop_requested_at


def test_events_follow_the_pages_to_the_end(api: Api) -> None:
    with sync_client(api, api.new_key()) as client:
        stream = client.create_analysis(Sport.CMJ, 1.8).analysis_id
        history = [event(stream, p) for p in range(250)]
        history[120] = rep(stream, 120, 1)
        history[240] = rep(stream, 240, 2)
        store(api, history)
        every = list(client.events(stream, page_size=100))
        later = list(client.events(stream, after=199, page_size=50))
        reps = list(client.events(stream, types=["rep_complete"], page_size=1))
        whole_pages = list(client.events(stream, after=49, page_size=100))
        analysis = client.get_analysis(stream)
    assert [e.position for e in every] == list(range(250))
    assert [e.event_id for e in every] == [e.event_id for e in history]
    assert every[120].event_type == "rep_complete"
    assert every[120].payload == history[120].payload
    assert [e.position for e in later] == list(range(200, 250))
    assert [e.position for e in reps] == [120, 240]
    assert [e.position for e in whole_pages] == list(range(50, 250))
    assert [r.rep for r in analysis.reps] == [1, 2]


def test_sports_need_no_key(api: Api) -> None:
    with Client(api.server.base_url, None) as client:
        catalogue = client.sports()
    assert {s.sport for s in catalogue.sports} == set(Sport)
    assert catalogue.pose_model.landmarks == 33
    drop_jump = next(s for s in catalogue.sports if s.sport is Sport.DROP_JUMP)
    assert drop_jump.box_height_required


def test_webhooks(api: Api) -> None:
    with sync_client(api, api.new_key()) as client:
        hook = client.create_webhook(HOOK, ["session_summary", "rep_complete"], "cmj")
        listed = client.list_webhooks()
        read = client.get_webhook(hook.webhook_id)
        created = client.create_analysis("cmj", 1.8, webhook_url=HOOK)
        both = client.list_webhooks()
        client.delete_webhook(hook.webhook_id)
        left = client.list_webhooks()
    assert isinstance(hook, WebhookCreated)
    assert len(hook.secret) >= 32
    assert (hook.url, hook.event_types, hook.sport) == (
        HOOK,
        ["rep_complete", "session_summary"],
        Sport.CMJ,
    )
    assert [w.webhook_id for w in listed] == [hook.webhook_id]
    assert read.model_dump() == listed[0].model_dump()
    assert created.webhook is not None
    assert len(created.webhook.secret) >= 32
    assert [w.analysis_id for w in both] == [None, created.analysis_id]
    assert [w.webhook_id for w in left] == [created.webhook.webhook_id]
