"""API keys: creation, listing, revocation, and authenticating a request while counting it.

A key reads ``ks_<key_id>_<secret>``: ``key_id`` (16 hex digits) names the key in logs,
listings and the rows it owns; ``secret`` (32 random bytes, URL-safe base64) is known only
to its holder. The database keeps the SHA-256 of the secret (a high-entropy secret needs no
slow hash) and compares it in constant time.

Every key has two limits: ``rate_per_minute`` (requests per fixed one-minute window,
counted in ``api_request_windows``, so the limit holds across API instances sharing the
database) and ``max_streams`` (analyses of the key that are ``created`` or ``running``;
enforced by :mod:`kinestream.store.analyses`). :func:`check_request`
authenticates a key and counts the request in one round trip. Tables: ``003_api.sql``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.rows import dict_row

KEY_PREFIX: Final = "ks"
DEFAULT_RATE_PER_MINUTE: Final = 600
DEFAULT_MAX_STREAMS: Final = 5
WINDOW_S: Final = 60
_TOKEN = re.compile(r"^ks_(?P<key_id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{43})$")

_KEY_COLUMNS: Final = "key_id, name, rate_per_minute, max_streams, created_at, revoked_at"

_CHECK_REQUEST: Final = f"""
WITH key AS (
    SELECT {_KEY_COLUMNS}, secret_sha256 FROM api_keys WHERE key_id = %(key_id)s
), hit AS (
    INSERT INTO api_request_windows AS w (key_id, window_start, requests)
    SELECT key_id, to_timestamp(floor(extract(epoch FROM now()) / {WINDOW_S}) * {WINDOW_S}), 1
    FROM key
    WHERE revoked_at IS NULL AND (%(sha256)s::bytea IS NULL OR secret_sha256 = %(sha256)s)
    ON CONFLICT (key_id) DO UPDATE SET
        requests = CASE WHEN w.window_start = EXCLUDED.window_start
                        THEN w.requests + 1 ELSE 1 END,
        window_start = EXCLUDED.window_start
    RETURNING requests,
              extract(epoch FROM window_start + interval '{WINDOW_S} seconds' - now()) AS reset_s
)
SELECT key.*, hit.requests, hit.reset_s FROM key LEFT JOIN hit ON true
"""


class ApiKeyError(ValueError):
    """Key parameters the database would refuse (a readable reason)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as stored, without its secret."""

    key_id: str
    name: str
    rate_per_minute: int
    max_streams: int
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class RequestCheck:
    """A request of an authenticated key, counted in the key's current window."""

    key: ApiKey
    requests_in_window: int
    retry_after_s: int
    """Seconds until the current window ends (when a refused request may be retried)."""

    @property
    def allowed(self) -> bool:
        """Whether the request is within the key's rate limit."""
        return self.requests_in_window <= self.key.rate_per_minute


def _sha256(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_token(token: str) -> tuple[str, str] | None:
    """Split ``ks_<key_id>_<secret>`` into key id and secret; ``None`` if it is not a key."""
    match = _TOKEN.match(token)
    return None if match is None else (match["key_id"], match["secret"])


def _key(row: dict[str, Any]) -> ApiKey:
    return ApiKey(
        key_id=row["key_id"],
        name=row["name"],
        rate_per_minute=row["rate_per_minute"],
        max_streams=row["max_streams"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def create_key(
    conn: psycopg.Connection[Any],
    name: str,
    *,
    rate_per_minute: int = DEFAULT_RATE_PER_MINUTE,
    max_streams: int = DEFAULT_MAX_STREAMS,
) -> tuple[ApiKey, str]:
    """Create a key; return it and its token ``ks_<key_id>_<secret>`` (shown only now)."""
    if not name.strip():
        raise ApiKeyError("a key needs a name")
    if rate_per_minute < 1 or max_streams < 1:
        raise ApiKeyError("rate per minute and max streams must be at least 1")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"INSERT INTO api_keys (key_id, name, secret_sha256, rate_per_minute, max_streams)"
            f" VALUES (%s, %s, %s, %s, %s) RETURNING {_KEY_COLUMNS}",
            (key_id, name.strip(), _sha256(secret), rate_per_minute, max_streams),
        ).fetchone()
    assert row is not None
    return _key(row), f"{KEY_PREFIX}_{key_id}_{secret}"


def list_keys(conn: psycopg.Connection[Any]) -> list[ApiKey]:
    """Every key, oldest first, revoked ones included."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at, key_id")
        return [_key(row) for row in rows.fetchall()]


def revoke_key(conn: psycopg.Connection[Any], key_id: str) -> ApiKey | None:
    """Revoke a key (from now on it authenticates nothing); ``None`` if there is no such key.

    Revoking a revoked key changes nothing and returns it.
    """
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE key_id = %s"
            f" RETURNING {_KEY_COLUMNS}",
            (key_id,),
        ).fetchone()
    return None if row is None else _key(row)


def _check(conn: psycopg.Connection[Any], key_id: str, sha256: bytes | None) -> RequestCheck | None:
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_CHECK_REQUEST, {"key_id": key_id, "sha256": sha256}).fetchone()
    if row is None or row["revoked_at"] is not None or row["requests"] is None:
        return None
    if sha256 is not None and not hmac.compare_digest(bytes(row["secret_sha256"]), sha256):
        return None
    return RequestCheck(
        key=_key(row),
        requests_in_window=int(row["requests"]),
        retry_after_s=max(1, int(float(row["reset_s"]) + 0.999)),
    )


def check_request(conn: psycopg.Connection[Any], token: str) -> RequestCheck | None:
    """Authenticate ``token`` and count one request of its key (one round trip).

    ``None`` when the token is not a key, names no key, has the wrong secret or names a
    revoked key; a wrong secret counts nothing, so it cannot use up the key's budget.
    """
    parsed = parse_token(token)
    if parsed is None:
        return None
    key_id, secret = parsed
    return _check(conn, key_id, _sha256(secret))


def count_request(conn: psycopg.Connection[Any], key_id: str) -> RequestCheck | None:
    """Count one request of a key authenticated otherwise (a watch token it signed).

    ``None`` when the key does not exist or is revoked.
    """
    return _check(conn, key_id, None)


def shared_secret(conn: psycopg.Connection[Any], name: str) -> bytes:
    """A secret every API instance shares (``api_secrets``, made by the migration)."""
    row = conn.execute("SELECT secret FROM api_secrets WHERE name = %s", (name,)).fetchone()
    if row is None:
        raise LookupError(f"no shared secret {name!r}: run `kinestream db migrate`")
    return str(row[0]).encode()
