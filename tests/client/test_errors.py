"""The API's refusals as the SDK's exceptions, with the server's detail; GETs refused with
503 or 429 retried within the policy, nothing else."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from kinestream.client import (
    ApiError,
    AuthError,
    Client,
    ConnectionFailedError,
    KinestreamError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ServiceUnavailableError,
    ValidationError,
)
from tests.api.conftest import Api, within_one_minute
from tests.client.conftest import sync_client


def test_unknown_or_missing_keys_are_auth_errors(api: Api) -> None:
    wrong_key = "ks_0123456789abcdef_" + "a" * 43
    with Client(api.server.base_url, wrong_key) as client, pytest.raises(AuthError) as wrong:
        client.list_webhooks()
    with Client(api.server.base_url, None) as client, pytest.raises(AuthError) as missing:
        client.create_analysis("cmj", 1.8)
    assert wrong.value.status_code == 401
    assert wrong.value.detail == "invalid or revoked API key"
    assert str(wrong.value) == "401 Unauthorized: invalid or revoked API key"
    assert missing.value.detail == "missing API key: send Authorization: Bearer <key>"


def test_another_keys_analysis_is_not_found(api: Api) -> None:
    with sync_client(api, api.new_key()) as owner:
        analysis_id = owner.create_analysis("cmj", 1.8).analysis_id
    with sync_client(api, api.new_key()) as other:
        for call in (
            lambda: other.get_analysis(analysis_id),
            lambda: list(other.events(analysis_id)),
            lambda: other.stop(analysis_id),
            lambda: other.get_analysis(str(uuid.uuid4())),
        ):
            with pytest.raises(NotFoundError, match="analysis not found") as error:
                call()
            assert error.value.status_code == 404
        with pytest.raises(NotFoundError, match="webhook not found"):
            other.delete_webhook(str(uuid.uuid4()))


def test_invalid_input_is_a_validation_error_with_the_reason(api: Api) -> None:
    with sync_client(api, api.new_key()) as client:
        analysis_id = client.create_analysis("cmj", 1.8).analysis_id
        cases: dict[str, Callable[[], object]] = {
            "athlete_height_m: Input should be less than 2.6": lambda: client.create_analysis(
                "cmj", 3.0
            ),
            "a drop jump needs a box height": lambda: client.create_analysis("drop_jump", 1.8),
            "sport: Input should be 'cmj', 'drop_jump', 'squat_jump' or 'running'": (
                lambda: client.create_analysis("curling", 1.8)
            ),
            "types: unknown event types jumps": lambda: list(
                client.events(analysis_id, types=["jumps"])
            ),
            "webhook URL must start with https:// or http://, not 'ftp'": (
                lambda: client.create_webhook("ftp://example.com/hook")
            ),
        }
        for reason, call in cases.items():
            with pytest.raises(ValidationError) as error:
                call()
            assert error.value.status_code == 422
            assert reason in error.value.detail


def test_rate_limits_are_raised_with_retry_after(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    key = api.new_key(rate_per_minute=2, max_streams=1)
    policy = RetryPolicy(max_wait_s=0.5)  # the rate limit's Retry-After is at least 1 s
    with Client(api.server.base_url, key, retry=policy) as client:
        within_one_minute(5.0)
        client.create_analysis("cmj", 1.8)
        with pytest.raises(RateLimitError) as streams:
            client.create_analysis("cmj", 1.8)
        with (
            caplog.at_level(logging.INFO, "kinestream.client"),
            pytest.raises(RateLimitError) as rate,
        ):
            client.list_webhooks()
    assert "1 active analyses" in streams.value.detail
    assert streams.value.retry_after_s == 30.0  # the stop grace period
    assert rate.value.status_code == 429
    assert rate.value.detail == "rate limit reached: 2 requests per minute for this key"
    assert rate.value.retry_after_s is not None
    assert 1 <= rate.value.retry_after_s <= 60
    assert retries(caplog) == []  # raised at once: the wait is longer than the policy's
    assert isinstance(rate.value, ApiError)
    assert isinstance(rate.value, KinestreamError)


def _allow_connections(maintenance_url: str, database_url: str, allowed: bool) -> None:
    """Let the database take connections again, or refuse them and end those it has."""
    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                sql.Identifier(name), sql.SQL("true" if allowed else "false")
            )
        )
        if not allowed:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )


def retries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "kinestream.client"]


def test_gets_are_retried_through_a_database_outage(
    api: Api, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = api.new_key()
    patient = RetryPolicy(max_retries=8, backoff_s=0.1, max_wait_s=2.0)
    with (
        sync_client(api, key) as client,
        Client(api.server.base_url, key, retry=patient) as retrying,
    ):
        analysis_id = client.create_analysis("cmj", 1.8).analysis_id
        _allow_connections(database_url, api.database_url, allowed=False)
        back = threading.Timer(1.0, _allow_connections, (database_url, api.database_url, True))
        try:
            with pytest.raises(ServiceUnavailableError, match="database unavailable"):
                client.get_analysis(analysis_id)
            with caplog.at_level(logging.INFO, "kinestream.client"):
                with pytest.raises(ServiceUnavailableError):
                    retrying.stop(analysis_id)  # a POST is never sent twice
                assert retries(caplog) == []
                back.start()
                read = retrying.get_analysis(analysis_id)
        finally:
            back.cancel()
            _allow_connections(database_url, api.database_url, allowed=True)
    assert read.analysis_id == analysis_id
    assert read.stop_requested_at is None
    assert retries(caplog)
    assert all(
        m.startswith(f"GET /analyses/{analysis_id}: 503 Service Unavailable: database unavailable")
        for m in retries(caplog)
    )


def test_an_unreachable_api_is_a_connection_error() -> None:
    with (
        Client("http://127.0.0.1:9", "ks_x", timeout_s=2.0) as client,
        pytest.raises(ConnectionFailedError, match="GET /sports: no response"),
    ):
        client.sports()
    with pytest.raises(ValueError, match="http:// or https://"):
        Client("ws://127.0.0.1:9", None)
