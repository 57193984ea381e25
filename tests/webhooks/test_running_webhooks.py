"""Running's events for webhooks: steps are frequent, so a webhook gets them only on request."""

from __future__ import annotations

import psycopg

from kinestream import wire
from kinestream.sports import Sport
from kinestream.webhooks.registry import DEFAULT_EVENT_TYPES, create_webhook

URL = "https://8.8.8.8/hooks/kinestream"


def test_step_events_are_opt_in(migrated_database: str) -> None:
    assert "step" not in DEFAULT_EVENT_TYPES
    assert {"step", "gait_update", "bout_summary"} <= wire.WEBHOOK_EVENT_TYPES
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        webhook, _ = create_webhook(
            conn,
            api_key_id="key-1",
            url=URL,
            event_types=["step", "bout_summary", "session_summary"],
            sport=Sport.RUNNING,
        )
    assert webhook.sport is Sport.RUNNING
    assert set(webhook.event_types) == {"step", "bout_summary", "session_summary"}
