"""Webhook registrations in the real PostgreSQL server (migration 004)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from kinestream.sports import Sport
from kinestream.webhooks.registry import (
    DEFAULT_EVENT_TYPES,
    WebhookError,
    create_webhook,
    delete_webhook,
    get_webhook,
    list_webhooks,
)

URL = "https://8.8.8.8/hooks/kinestream"


@pytest.fixture
def conn(migrated_database: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(migrated_database, autocommit=True) as connection:
        yield connection


def test_create_returns_the_webhook_and_a_secret_shown_once(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    webhook, secret = create_webhook(conn, api_key_id="key-1", url=URL)

    assert uuid.UUID(webhook.webhook_id).version == 4
    assert (webhook.api_key_id, webhook.url) == ("key-1", URL)
    assert webhook.event_types == DEFAULT_EVENT_TYPES == ("rep_complete", "session_summary")
    assert webhook.sport is None
    assert webhook.analysis_id is None
    assert abs(webhook.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert len(secret) >= 43  # 32 random bytes, URL-safe base64
    assert not hasattr(webhook, "secret")
    stored = conn.execute("SELECT secret FROM webhooks").fetchone()
    assert stored == (secret,)
    _, other_secret = create_webhook(conn, api_key_id="key-1", url=URL)
    assert other_secret != secret


def test_filters_are_stored_in_canonical_form(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    analysis_id = str(uuid.uuid4())

    webhook, _ = create_webhook(
        conn,
        api_key_id="key-1",
        url=URL,
        event_types=["session_summary", "phase_change", "phase_change", "error"],
        sport=Sport.DROP_JUMP,
        analysis_id=analysis_id.upper(),
    )

    assert webhook.event_types == ("phase_change", "error", "session_summary")
    assert webhook.sport is Sport.DROP_JUMP
    assert webhook.analysis_id == analysis_id
    assert get_webhook(conn, "key-1", webhook.webhook_id) == webhook


def test_a_key_sees_only_its_own_webhooks(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    first, _ = create_webhook(conn, api_key_id="key-1", url=URL)
    second, _ = create_webhook(conn, api_key_id="key-1", url=URL + "/2")
    theirs, _ = create_webhook(conn, api_key_id="key-2", url=URL)

    assert list_webhooks(conn, "key-1") == [first, second]
    assert list_webhooks(conn, "key-2") == [theirs]
    assert list_webhooks(conn, "key-3") == []
    assert get_webhook(conn, "key-2", first.webhook_id) is None
    assert get_webhook(conn, "key-1", "not-a-uuid") is None
    assert get_webhook(conn, "key-1", str(uuid.uuid4())) is None


def test_delete_removes_only_the_keys_own_webhook(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    webhook, _ = create_webhook(conn, api_key_id="key-1", url=URL)

    assert delete_webhook(conn, "key-2", webhook.webhook_id) is False
    assert delete_webhook(conn, "key-1", "not-a-uuid") is False
    assert delete_webhook(conn, "key-1", webhook.webhook_id) is True
    assert delete_webhook(conn, "key-1", webhook.webhook_id) is False
    assert get_webhook(conn, "key-1", webhook.webhook_id) is None
    assert conn.execute("SELECT count(*) FROM webhooks").fetchone() == (0,)


def test_writes_join_the_callers_open_transaction(migrated_database: str) -> None:
    with psycopg.connect(migrated_database) as conn:  # not autocommit
        conn.execute("SELECT 1")
        create_webhook(conn, api_key_id="key-1", url=URL)
        conn.rollback()
        assert list_webhooks(conn, "key-1") == []
        create_webhook(conn, api_key_id="key-1", url=URL)
        conn.commit()
        assert len(list_webhooks(conn, "key-1")) == 1


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"event_types": []}, "at least one event type"),
        ({"event_types": ["rep_complete", "metric_update"]}, "'metric_update'; allowed: phase"),
        ({"event_types": ["jump"]}, "unknown webhook event type"),
        ({"event_types": "rep_complete"}, "not one string"),
        ({"sport": "high_jump"}, "unknown sport 'high_jump'"),
        ({"analysis_id": "analysis-7"}, "is not a UUID"),
        ({"url": "ftp://8.8.8.8/x"}, "https:// or http://"),
        ({"url": "https://user:pw@8.8.8.8/x"}, "credentials"),
        ({"url": "http://127.0.0.1:8080/x"}, "loopback"),
        ({"url": "http://10.0.0.5/x"}, "private"),
        ({"api_key_id": ""}, "API key"),
    ],
)
def test_bad_registrations_are_refused_with_a_reason(
    conn: psycopg.Connection[tuple[object, ...]],
    monkeypatch: pytest.MonkeyPatch,
    kwargs: dict[str, object],
    reason: str,
) -> None:
    monkeypatch.delenv("KINESTREAM_WEBHOOKS_ALLOW_PRIVATE", raising=False)
    arguments: dict[str, object] = {"api_key_id": "key-1", "url": URL, **kwargs}

    with pytest.raises(WebhookError, match=reason):
        create_webhook(conn, **arguments)  # type: ignore[arg-type]
    assert conn.execute("SELECT count(*) FROM webhooks").fetchone() == (0,)


def test_private_urls_are_accepted_when_the_environment_allows(
    conn: psycopg.Connection[tuple[object, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KINESTREAM_WEBHOOKS_ALLOW_PRIVATE", "1")

    webhook, _ = create_webhook(conn, api_key_id="key-1", url="http://127.0.0.1:8080/x")

    assert webhook.url == "http://127.0.0.1:8080/x"
