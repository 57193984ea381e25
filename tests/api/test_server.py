"""Starting the API: a failed start is an error, and credentials stay out of the logs."""

from __future__ import annotations

import logging
import uuid

import psycopg
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from kinestream.api.server import running_server
from kinestream.api.settings import ApiSettings
from kinestream.store.api_keys import create_key


def test_a_server_on_an_unmigrated_database_does_not_start(fresh_database: str) -> None:
    with (
        pytest.raises(RuntimeError, match="did not start"),
        running_server(ApiSettings(database_url=fresh_database), log_level="critical"),
    ):
        pass


def test_tokens_in_query_strings_stay_out_of_the_logs(
    migrated_database: str, kafka_bootstrap: str
) -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    settings = ApiSettings(database_url=migrated_database, brokers=kafka_bootstrap)
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        _, key = create_key(conn, "logged")
    with running_server(settings, log_level="info") as server:
        keep = Keep()  # after the start: uvicorn's logging setup drops the handlers it finds
        logging.getLogger("uvicorn.error").addHandler(keep)
        try:
            url = f"{server.ws_url}/api/v1/analyses/{uuid.uuid4()}/stream?after=3&token={key}"
            with pytest.raises(InvalidStatus):
                connect(url, open_timeout=10)
        finally:
            logging.getLogger("uvicorn.error").removeHandler(keep)
    request_lines = [line for line in records if "WebSocket" in line]
    assert request_lines
    assert all(key not in line for line in records)
    assert any("?after=3&token=[redacted]" in line for line in request_lines)
