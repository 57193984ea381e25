"""``/webhooks`` on a real server and database: the calling key's webhooks only."""

from __future__ import annotations

import uuid

import pytest

from tests.api.conftest import Api

HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture(autouse=True)
def loopback_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KINESTREAM_WEBHOOKS_ALLOW_PRIVATE", "1")


def test_register_list_read_delete(api: Api) -> None:
    key = api.new_key()
    analysis_id = api.create_analysis(key)["analysis_id"]
    with api.client(key) as client:
        created = client.post(
            api.url("/webhooks"),
            json={
                "url": HOOK,
                "event_types": ["session_summary", "rep_complete", "error"],
                "sport": "cmj",
                "analysis_id": analysis_id,
            },
        )
        assert created.status_code == 201, created.text
        hook = created.json()
        webhook_id = hook.pop("webhook_id")
        secret = hook.pop("secret")
        listed = client.get(api.url("/webhooks")).json()["webhooks"]
        read = client.get(api.url(f"/webhooks/{webhook_id}"))
        deleted = client.delete(api.url(f"/webhooks/{webhook_id}"))
        after = [
            client.get(api.url(f"/webhooks/{webhook_id}")),
            client.delete(api.url(f"/webhooks/{webhook_id}")),
        ]
        empty = client.get(api.url("/webhooks")).json()
    assert created.headers["location"] == f"/api/v1/webhooks/{webhook_id}"
    assert len(secret) >= 32
    assert hook == {
        "url": HOOK,
        "event_types": ["rep_complete", "error", "session_summary"],
        "sport": "cmj",
        "analysis_id": analysis_id,
        "created_at": hook["created_at"],
    }
    assert listed == [{"webhook_id": webhook_id, **hook}]
    assert read.json() == {"webhook_id": webhook_id, **hook}
    assert deleted.status_code == 204
    assert [r.status_code for r in after] == [404, 404]
    assert empty == {"webhooks": []}


def test_defaults_to_reps_and_summaries_of_every_analysis(api: Api) -> None:
    key = api.new_key()
    with api.client(key) as client:
        hook = client.post(api.url("/webhooks"), json={"url": HOOK}).json()
    assert hook["event_types"] == ["rep_complete", "session_summary"]
    assert (hook["sport"], hook["analysis_id"]) == (None, None)


def test_another_keys_webhooks_are_not_found(api: Api) -> None:
    owner, other = api.new_key(), api.new_key()
    owners_analysis = api.create_analysis(owner)["analysis_id"]
    with api.client(owner) as client:
        webhook_id = client.post(api.url("/webhooks"), json={"url": HOOK}).json()["webhook_id"]
    with api.client(other) as client:
        assert client.get(api.url(f"/webhooks/{webhook_id}")).status_code == 404
        assert client.delete(api.url(f"/webhooks/{webhook_id}")).status_code == 404
        assert client.get(api.url("/webhooks")).json() == {"webhooks": []}
        scoped = client.post(
            api.url("/webhooks"), json={"url": HOOK, "analysis_id": owners_analysis}
        )
        assert (scoped.status_code, scoped.json()) == (404, {"detail": "analysis not found"})
    with api.client(owner) as client:
        assert client.get(api.url(f"/webhooks/{webhook_id}")).status_code == 200


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"url": "ftp://example.com/hook"}, "http"),
        ({"url": HOOK, "event_types": ["metric_update"]}, "metric_update"),
        ({"url": HOOK, "event_types": []}, "at least one event type"),
        ({"url": HOOK, "sport": "marathon"}, "sport"),
        ({"url": HOOK, "analysis_id": "not-a-uuid"}, "analysis_id"),
        ({"url": HOOK, "secret": "mine"}, "secret"),
        ({}, "url: Field required"),
    ],
)
def test_refuses_bad_registrations(api: Api, body: dict[str, object], reason: str) -> None:
    key = api.new_key()
    with api.client(key) as client:
        response = client.post(api.url("/webhooks"), json=body)
    assert response.status_code == 422
    assert reason in response.json()["detail"]


def test_private_targets_need_the_setting(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KINESTREAM_WEBHOOKS_ALLOW_PRIVATE")
    key = api.new_key()
    with api.client(key) as client:
        response = client.post(api.url("/webhooks"), json={"url": HOOK})
        unknown = client.get(api.url(f"/webhooks/{uuid.uuid4()}"))
        not_a_uuid = client.get(api.url("/webhooks/nope"))
    assert response.status_code == 422
    assert unknown.status_code == 404
    assert not_a_uuid.status_code == 422
