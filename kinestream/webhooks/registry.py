"""Webhook registrations: rows of the ``webhooks`` table (migration ``004_webhooks``).

A webhook belongs to one API key and receives that key's analysis events of the types it
subscribes to (:data:`kinestream.wire.WEBHOOK_EVENT_TYPES`), optionally only of one sport
and of one analysis. The dispatcher (:mod:`kinestream.webhooks.dispatcher`) reads
the same rows to match events; this module is what the API uses to manage them.

Each webhook has its own signing secret (32 random bytes, URL-safe base64), returned once
by :func:`create_webhook` and kept server side, since signing needs it. Deleting a webhook
deletes its row, its secret and its pending deliveries.

Every function reads or writes through the caller's connection. Writes run in
``conn.transaction()``: committed at once on a connection with no transaction open, part
of the caller's transaction otherwise.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.rows import tuple_row

from kinestream.events import EVENT_TYPES
from kinestream.sports import Sport
from kinestream.webhooks.targets import (
    WebhookTargetError,
    allow_private_from_env,
    check_target,
)
from kinestream.wire import WEBHOOK_EVENT_TYPES

DEFAULT_EVENT_TYPES: Final[tuple[str, ...]] = ("rep_complete", "session_summary")
SECRET_BYTES: Final = 32

_COLUMNS: Final = "webhook_id::text, api_key_id, url, event_types, sport, analysis_id, created_at"


class WebhookError(ValueError):
    """A webhook registration that cannot be accepted; the message says why."""


@dataclass(frozen=True, slots=True)
class Webhook:
    """A registered webhook (its secret is not part of it: it is shown only once)."""

    webhook_id: str
    api_key_id: str
    url: str
    event_types: tuple[str, ...]
    sport: Sport | None
    analysis_id: str | None
    created_at: datetime


def create_webhook(
    conn: psycopg.Connection[Any],
    *,
    api_key_id: str,
    url: str,
    event_types: Sequence[str] = DEFAULT_EVENT_TYPES,
    sport: Sport | None = None,
    analysis_id: str | None = None,
) -> tuple[Webhook, str]:
    """Register a webhook; return it and its signing secret (to show the user once).

    Raise :class:`WebhookError` for an empty API key id, unknown or no event types, an
    unknown sport, an analysis id that is not a UUID, or a URL kinestream will not deliver
    to (see :mod:`kinestream.webhooks.targets`; private targets are allowed only
    with ``KINESTREAM_WEBHOOKS_ALLOW_PRIVATE=1``).
    """
    if not api_key_id:
        raise WebhookError("a webhook needs the API key that owns it")
    types = _event_types(event_types)
    try:
        sport_value = None if sport is None else Sport(sport).value
    except ValueError as exc:
        raise WebhookError(
            f"unknown sport {sport!r}; expected one of {', '.join(s.value for s in Sport)}"
        ) from exc
    scope = None if analysis_id is None else canonical_analysis_id(analysis_id)
    if scope is None and analysis_id is not None:
        raise WebhookError(f"analysis id {analysis_id!r} is not a UUID")
    try:
        check_target(url, allow_private=allow_private_from_env())
    except WebhookTargetError as exc:
        raise WebhookError(str(exc)) from exc
    secret = secrets.token_urlsafe(SECRET_BYTES)
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            f"INSERT INTO webhooks (webhook_id, api_key_id, url, event_types, sport, analysis_id,"
            f" secret) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
            (uuid.uuid4(), api_key_id, url, list(types), sport_value, scope, secret),
        )
        row = cur.fetchone()
    assert row is not None
    return _webhook(row), secret


def list_webhooks(conn: psycopg.Connection[Any], api_key_id: str) -> list[Webhook]:
    """Return the API key's webhooks, oldest first."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM webhooks WHERE api_key_id = %s"
            " ORDER BY created_at, webhook_id",
            (api_key_id,),
        )
        return [_webhook(row) for row in cur.fetchall()]


def get_webhook(conn: psycopg.Connection[Any], api_key_id: str, webhook_id: str) -> Webhook | None:
    """Return the API key's webhook ``webhook_id``; ``None`` when the key has no such webhook
    (another key's, or an id that is not a UUID)."""
    key = _uuid(webhook_id)
    if key is None:
        return None
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM webhooks WHERE webhook_id = %s AND api_key_id = %s",
            (key, api_key_id),
        )
        row = cur.fetchone()
    return None if row is None else _webhook(row)


def delete_webhook(conn: psycopg.Connection[Any], api_key_id: str, webhook_id: str) -> bool:
    """Delete the API key's webhook and its pending deliveries; ``False`` when there was none."""
    key = _uuid(webhook_id)
    if key is None:
        return False
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            "DELETE FROM webhooks WHERE webhook_id = %s AND api_key_id = %s", (key, api_key_id)
        )
        return cur.rowcount > 0


def canonical_analysis_id(analysis_id: str) -> str | None:
    """The lowercase hyphenated form of a UUID analysis id (``None`` if it is not a UUID),
    the form webhooks store, so that ``ABC…`` and ``abc…`` scope the same analysis."""
    parsed = _uuid(analysis_id)
    return None if parsed is None else str(parsed)


def _event_types(event_types: Sequence[str]) -> tuple[str, ...]:
    if isinstance(event_types, str):
        raise WebhookError("event types must be a list of event type names, not one string")
    chosen = set(event_types)
    if not chosen:
        raise WebhookError("a webhook needs at least one event type")
    unknown = sorted(repr(t) for t in chosen - WEBHOOK_EVENT_TYPES)
    if unknown:
        allowed = ", ".join(t for t in EVENT_TYPES if t in WEBHOOK_EVENT_TYPES)
        raise WebhookError(
            f"unknown webhook event type(s) {', '.join(unknown)}; allowed: {allowed}"
        )
    return tuple(t for t in EVENT_TYPES if t in chosen)


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None


def _webhook(row: tuple[Any, ...]) -> Webhook:
    webhook_id, api_key_id, url, event_types, sport, analysis_id, created_at = row
    return Webhook(
        webhook_id=webhook_id,
        api_key_id=api_key_id,
        url=url,
        event_types=tuple(event_types),
        sport=None if sport is None else Sport(sport),
        analysis_id=analysis_id,
        created_at=created_at,
    )
