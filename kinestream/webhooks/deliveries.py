"""The ``webhook_deliveries`` table (migration ``004_webhooks``): the dispatcher's durable
to-do list.

- :func:`record_deliveries` matches a batch of webhook events against the registered
  webhooks and inserts one ``pending`` delivery per match; delivery ids are UUID 5 over
  (event id, webhook id), so a redelivered event inserts nothing new.
- :func:`claim_due` hands out due pending deliveries (``FOR UPDATE SKIP LOCKED``, so
  dispatchers running side by side never take the same one) and leases them: their
  ``next_attempt_at`` moves ``lease_s`` ahead, and if the claimer dies the delivery is due
  again when the lease runs out.
- :func:`mark_delivered` and :func:`mark_failed` record an attempt's outcome, only while the
  claim still holds (its lease is unchanged); a failure either schedules the next try or
  makes the delivery ``dead``.
- :func:`dead_letters` hands dead deliveries not yet dead-lettered to a publisher and marks
  them once it returns.

The schedule lives in the table (``next_attempt_at``, from the database's clock), so it
survives a restart of every dispatcher. Deleting a webhook deletes its deliveries, which
drops whatever was pending for it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.rows import tuple_row

from kinestream.webhooks.registry import canonical_analysis_id
from kinestream.wire import DeadLetter, WebhookEvent

AsyncConnection = psycopg.AsyncConnection[Any]

_DELIVERY_NAMESPACE: Final = uuid.UUID("3d6f0b8e-8a47-4c1b-b2a4-5e9c7f1d2a60")

_MATCH: Final = """
SELECT e.i, w.webhook_id
FROM unnest(%s::int[], %s::text[], %s::text[], %s::text[], %s::text[])
    AS e(i, api_key_id, event_type, sport, analysis_id)
JOIN webhooks w
  ON w.api_key_id = e.api_key_id
 AND e.event_type = ANY (w.event_types)
 AND (w.sport IS NULL OR w.sport = e.sport)
 AND (w.analysis_id IS NULL OR w.analysis_id = e.analysis_id)
ORDER BY e.i, w.created_at, w.webhook_id
FOR KEY SHARE OF w
"""

_INSERT: Final = """
INSERT INTO webhook_deliveries (delivery_id, webhook_id, event_id, event_type, analysis_id, body)
SELECT d.delivery_id, d.webhook_id, d.event_id, d.event_type, d.analysis_id, d.body::json
FROM unnest(%s::uuid[], %s::uuid[], %s::uuid[], %s::text[], %s::text[], %s::text[])
    AS d(delivery_id, webhook_id, event_id, event_type, analysis_id, body)
ON CONFLICT (delivery_id) DO NOTHING
"""

_CLAIM: Final = """
WITH due AS (
    SELECT delivery_id FROM webhook_deliveries
    WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE webhook_deliveries d
SET next_attempt_at = now() + make_interval(secs => %(lease_s)s)
FROM due, webhooks w
WHERE d.delivery_id = due.delivery_id AND w.webhook_id = d.webhook_id
RETURNING d.delivery_id::text, d.webhook_id::text, d.event_id::text, d.event_type, d.body,
          d.attempts, d.next_attempt_at, w.url, w.secret
"""

_STILL_CLAIMED: Final = (
    "delivery_id = %(delivery_id)s AND status = 'pending' AND next_attempt_at = %(lease)s"
)

_DELIVERED: Final = f"""
UPDATE webhook_deliveries
SET status = 'delivered', attempts = attempts + 1, delivered_at = now(), next_attempt_at = NULL,
    last_status_code = %(status_code)s, last_error = NULL
WHERE {_STILL_CLAIMED}
"""

_RETRY: Final = f"""
UPDATE webhook_deliveries
SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => %(retry_in_s)s),
    last_status_code = %(status_code)s, last_error = %(error)s
WHERE {_STILL_CLAIMED}
"""

_DEAD: Final = f"""
UPDATE webhook_deliveries
SET status = 'dead', attempts = attempts + 1, next_attempt_at = NULL,
    last_status_code = %(status_code)s, last_error = %(error)s
WHERE {_STILL_CLAIMED}
"""

_DEAD_LETTERS: Final = """
SELECT delivery_id::text, webhook_id::text, event_id::text, event_type, attempts,
       last_error, last_status_code, body
FROM webhook_deliveries
WHERE status = 'dead' AND dead_lettered_at IS NULL
ORDER BY created_at
LIMIT %s
FOR UPDATE SKIP LOCKED
"""


@dataclass(frozen=True, slots=True)
class Claim:
    """A due delivery this dispatcher holds until ``lease`` (the row's ``next_attempt_at``)."""

    delivery_id: str
    webhook_id: str
    event_id: str
    event_type: str
    body: dict[str, Any]
    attempts: int
    """Attempts made before this one."""
    lease: datetime
    url: str
    secret: str


def delivery_id_for(event_id: str, webhook_id: str) -> str:
    """The deterministic id of the delivery of event ``event_id`` to webhook ``webhook_id``."""
    return str(uuid.uuid5(_DELIVERY_NAMESPACE, f"{event_id}\x1f{webhook_id}"))


def delivery_body(item: WebhookEvent, delivery_id: str, webhook_id: str) -> dict[str, Any]:
    """The JSON object POSTed to a webhook (documented in the dispatcher's module)."""
    return {
        "delivery_id": delivery_id,
        "webhook_id": webhook_id,
        "analysis_id": item.analysis_id,
        "athlete_id": item.athlete_id,
        "sport": item.sport.value,
        "event": item.event.to_dict(),
    }


async def record_deliveries(conn: AsyncConnection, items: Sequence[WebhookEvent]) -> int:
    """Insert a pending delivery per (event, matching webhook), in one transaction; return
    how many were new."""
    if not items:
        return 0
    columns: list[list[Any]] = [[] for _ in range(5)]
    for i, item in enumerate(items):
        scope = canonical_analysis_id(item.analysis_id) or item.analysis_id
        for column, value in zip(
            columns,
            (i, item.api_key_id, item.event.event_type, item.sport.value, scope),
            strict=True,
        ):
            column.append(value)
    async with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        # FOR KEY SHARE: a webhook deleted meanwhile waits for this transaction to end.
        await cur.execute(_MATCH, columns)
        rows: list[list[Any]] = [[] for _ in range(6)]
        for i, webhook_uuid in await cur.fetchall():
            item, webhook_id = items[i], str(webhook_uuid)
            delivery_id = delivery_id_for(item.event.event_id, webhook_id)
            body = delivery_body(item, delivery_id, webhook_id)
            for column, value in zip(
                rows,
                (
                    delivery_id,
                    webhook_id,
                    item.event.event_id,
                    item.event.event_type,
                    item.analysis_id,
                    json.dumps(body, separators=(",", ":"), allow_nan=False),
                ),
                strict=True,
            ):
                column.append(value)
        if not rows[0]:
            return 0
        await cur.execute(_INSERT, rows)
        return max(cur.rowcount, 0)


async def claim_due(conn: AsyncConnection, limit: int, lease_s: float) -> list[Claim]:
    """Lease up to ``limit`` due pending deliveries for ``lease_s`` seconds."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(_CLAIM, {"limit": limit, "lease_s": lease_s})
        return [Claim(*row) for row in await cur.fetchall()]


async def mark_delivered(conn: AsyncConnection, claim: Claim, status_code: int | None) -> bool:
    """Record a successful attempt; ``False`` when the claim no longer held."""
    return await _update(conn, _DELIVERED, claim, status_code=status_code)


async def mark_failed(
    conn: AsyncConnection,
    claim: Claim,
    *,
    error: str,
    status_code: int | None,
    retry_in_s: float | None,
) -> bool:
    """Record a failed attempt: try again in ``retry_in_s`` seconds, or (``None``) make the
    delivery dead; ``False`` when the claim no longer held."""
    if retry_in_s is None:
        return await _update(conn, _DEAD, claim, status_code=status_code, error=error)
    return await _update(
        conn, _RETRY, claim, status_code=status_code, error=error, retry_in_s=retry_in_s
    )


async def dead_letters(
    conn: AsyncConnection,
    publish: Callable[[list[DeadLetter]], Awaitable[None]],
    limit: int = 100,
) -> int:
    """Pass up to ``limit`` dead deliveries not yet dead-lettered to ``publish`` and mark them
    once it returns (in one transaction: if it raises, they stay for the next call)."""
    async with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(_DEAD_LETTERS, (limit,))
        letters = [_dead_letter(row) for row in await cur.fetchall()]
        if not letters:
            return 0
        await publish(letters)
        await cur.execute(
            "UPDATE webhook_deliveries SET dead_lettered_at = now()"
            " WHERE delivery_id = ANY (%s::uuid[])",
            ([letter.delivery_id for letter in letters],),
        )
        return len(letters)


async def _update(conn: AsyncConnection, query: str, claim: Claim, **values: Any) -> bool:
    async with conn.cursor() as cur:
        await cur.execute(query, {"delivery_id": claim.delivery_id, "lease": claim.lease, **values})
        return cur.rowcount == 1


def _dead_letter(row: tuple[Any, ...]) -> DeadLetter:
    delivery_id, webhook_id, event_id, event_type, attempts, error, status_code, body = row
    return DeadLetter(
        delivery_id=delivery_id,
        webhook_id=webhook_id,
        stream_id=str(body["event"]["stream_id"]),
        event_id=event_id,
        event_type=event_type,
        attempts=attempts,
        last_error=error or "",
        last_status_code=status_code,
        body=body,
    )
