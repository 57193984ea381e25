"""The async client on a real server: the same calls as the sync one, as coroutines."""

from __future__ import annotations

import asyncio

import pytest

from kinestream.client import AsyncClient, NotFoundError
from kinestream.sports import Sport
from tests.api.conftest import Api
from tests.api.test_watch import event, store

HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture(autouse=True)
def loopback_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KINESTREAM_WEBHOOKS_ALLOW_PRIVATE", "1")


def test_analyses_events_and_sports(api: Api) -> None:
    key = api.new_key()

    async def scenario() -> None:
        async with AsyncClient(api.server.base_url, key) as client:
            created = await client.create_analysis("squat_jump", 1.65, athlete_id="a-1")
            stream = created.analysis_id
            store(api, [event(stream, p) for p in range(120)])
            read = await client.get_analysis(stream)
            events = [e async for e in client.events(stream, after=9, page_size=50)]
            stopped = await client.stop(stream)
            catalogue = await client.sports()
            assert read.sport is Sport.SQUAT_JUMP
            assert read.athlete_id == "a-1"
            assert [e.position for e in events] == list(range(10, 120))
            assert stopped.stop_requested_at is not None
            assert len(catalogue.sports) == len(Sport)

    asyncio.run(scenario())


def test_webhooks(api: Api) -> None:
    key = api.new_key()

    async def scenario() -> None:
        async with AsyncClient(api.server.base_url, key) as client:
            hook = await client.create_webhook(HOOK, sport=Sport.CMJ)
            listed = await client.list_webhooks()
            read = await client.get_webhook(hook.webhook_id)
            await client.delete_webhook(hook.webhook_id)
            assert await client.list_webhooks() == []
            with pytest.raises(NotFoundError, match="webhook not found"):
                await client.delete_webhook(hook.webhook_id)
        assert hook.event_types == ["rep_complete", "session_summary"]
        assert [w.webhook_id for w in listed] == [hook.webhook_id]
        assert read.sport is Sport.CMJ

    asyncio.run(scenario())
