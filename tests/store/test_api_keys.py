"""API keys against the real PostgreSQL server: hashed storage, authentication, revocation,
and the per-minute request counter shared by every API instance."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from kinestream.store.api_keys import (
    DEFAULT_MAX_STREAMS,
    DEFAULT_RATE_PER_MINUTE,
    ApiKeyError,
    check_request,
    count_request,
    create_key,
    list_keys,
    parse_token,
    revoke_key,
    shared_secret,
)


def within_one_minute(seconds: float = 10.0) -> None:
    """Wait, if need be, until the current rate-limit minute has ``seconds`` left."""
    left = 60.0 - time.time() % 60.0
    if left < seconds:
        time.sleep(left + 0.1)


@pytest.fixture
def conn(migrated_database: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    with psycopg.connect(migrated_database, autocommit=True) as connection:
        yield connection


def test_a_key_is_shown_once_and_stored_hashed(
    conn: psycopg.Connection[tuple[Any, ...]],
) -> None:
    key, token = create_key(conn, "coach app")
    key_id, secret = token.split("_")[1], token.split("_", 2)[2]
    assert token.startswith("ks_")
    assert parse_token(token) == (key_id, secret)
    assert key.key_id == key_id
    assert (key.name, key.rate_per_minute, key.max_streams, key.revoked_at) == (
        "coach app",
        DEFAULT_RATE_PER_MINUTE,
        DEFAULT_MAX_STREAMS,
        None,
    )
    row = conn.execute("SELECT secret_sha256 FROM api_keys WHERE key_id = %s", (key_id,)).fetchone()
    assert row is not None
    assert bytes(row[0]) == hashlib.sha256(secret.encode()).digest()
    dump = conn.execute("SELECT api_keys::text FROM api_keys").fetchone()
    assert dump is not None
    assert secret not in str(dump[0])


def test_check_request_authenticates_and_counts(
    conn: psycopg.Connection[tuple[Any, ...]],
) -> None:
    key, token = create_key(conn, "limited", rate_per_minute=3, max_streams=2)
    within_one_minute()
    checks = [check_request(conn, token) for _ in range(4)]
    assert all(check is not None and check.key == key for check in checks)
    assert [(c.requests_in_window, c.allowed) for c in checks if c] == [
        (1, True),
        (2, True),
        (3, True),
        (4, False),
    ]
    assert all(c is not None and 1 <= c.retry_after_s <= 60 for c in checks)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "nonsense",
        "ks_",
        "ks_0123456789abcdef_short",
        "Bearer ks_x",
        "ks_" + "0" * 16 + "_" + "a" * 43,
    ],
)
def test_what_is_not_a_key_authenticates_nothing(
    conn: psycopg.Connection[tuple[Any, ...]], token: str
) -> None:
    create_key(conn, "someone")
    assert check_request(conn, token) is None


def test_a_wrong_secret_neither_authenticates_nor_counts(
    conn: psycopg.Connection[tuple[Any, ...]],
) -> None:
    _, token = create_key(conn, "target", rate_per_minute=2)
    wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert [check_request(conn, wrong) for _ in range(5)] == [None] * 5
    check = check_request(conn, token)
    assert check is not None
    assert check.allowed


def test_revoked_keys_authenticate_nothing(conn: psycopg.Connection[tuple[Any, ...]]) -> None:
    key, token = create_key(conn, "leaked")
    revoked = revoke_key(conn, key.key_id)
    assert revoked is not None
    assert revoked.revoked_at is not None
    assert revoke_key(conn, key.key_id) == revoked  # again: no change
    assert revoke_key(conn, "0" * 16) is None
    assert check_request(conn, token) is None
    assert count_request(conn, key.key_id) is None
    assert [k.revoked_at is not None for k in list_keys(conn)] == [True]


def test_count_request_counts_in_the_same_window(
    conn: psycopg.Connection[tuple[Any, ...]],
) -> None:
    key, token = create_key(conn, "watched")
    within_one_minute()
    first = check_request(conn, token)
    second = count_request(conn, key.key_id)
    assert first is not None
    assert second is not None
    assert (first.requests_in_window, second.requests_in_window) == (1, 2)
    assert count_request(conn, "nope") is None


def test_concurrent_requests_are_all_counted(migrated_database: str) -> None:
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        _, token = create_key(conn, "busy")
    counts: list[int] = []
    within_one_minute()

    def hammer() -> None:
        with psycopg.connect(migrated_database, autocommit=True) as own:
            for _ in range(10):
                check = check_request(own, token)
                assert check is not None
                counts.append(check.requests_in_window)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == list(range(1, 41))  # every request got its own count


def test_keys_are_listed_oldest_first(conn: psycopg.Connection[tuple[Any, ...]]) -> None:
    first, _ = create_key(conn, "a", rate_per_minute=10, max_streams=1)
    second, _ = create_key(conn, "b")
    assert [k.key_id for k in list_keys(conn)] == [first.key_id, second.key_id]


@pytest.mark.parametrize(
    ("name", "rate", "streams"), [("", 10, 1), ("  ", 10, 1), ("x", 0, 1), ("x", 10, 0)]
)
def test_refuses_keys_without_name_or_limits(
    conn: psycopg.Connection[tuple[Any, ...]], name: str, rate: int, streams: int
) -> None:
    with pytest.raises(ApiKeyError):
        create_key(conn, name, rate_per_minute=rate, max_streams=streams)


def test_the_migration_makes_the_shared_watch_token_secret(
    conn: psycopg.Connection[tuple[Any, ...]],
) -> None:
    secret = shared_secret(conn, "watch_token")
    assert len(secret) == 64
    assert shared_secret(conn, "watch_token") == secret
    with pytest.raises(LookupError):
        shared_secret(conn, "nothing")
