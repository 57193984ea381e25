"""Who may open an analysis's WebSockets: keys wherever browsers can put them, watch tokens
for the watch socket only, and refusals as HTTP responses like the REST routes'."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import psycopg
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from kinestream.store.api_keys import revoke_key
from tests.api.conftest import Api, within_one_minute

SOCKETS = ("stream", "ingest")


def refusal(url: str, **kwargs: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Open a socket that must be refused: status, JSON body, headers."""
    with pytest.raises(InvalidStatus) as refused, connect(url, open_timeout=10, **kwargs):
        pass
    response = refused.value.response
    return response.status_code, json.loads(response.body or b"{}"), dict(response.headers)


class Records(logging.Handler):
    """Keeps the records of a logger."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_refused_handshakes_log_no_error(api: Api) -> None:
    key = api.new_key()
    stopped = api.create_analysis(key)["analysis_id"]
    records = Records()
    server_log = logging.getLogger("uvicorn.error")
    level = server_log.level
    server_log.addHandler(records)
    server_log.setLevel(logging.INFO)
    try:
        with api.client(key) as client:
            assert client.post(api.url(f"/analyses/{stopped}/stop")).status_code == 202
        statuses = [
            refusal(api.ws_url(f"/analyses/{uuid.uuid4()}/stream"))[0],
            refusal(
                api.ws_url(f"/analyses/{uuid.uuid4()}/ingest"),
                additional_headers={"X-API-Key": key},
            )[0],
            refusal(
                api.ws_url(f"/analyses/{stopped}/ingest"), additional_headers={"X-API-Key": key}
            )[0],
        ]
        # The server logs a connection's end in the event-loop step that answered it: a
        # request served after it comes after that log.
        with api.client() as client:
            assert client.get(api.url("/sports")).status_code == 200
    finally:
        server_log.setLevel(level)
        server_log.removeHandler(records)
    assert statuses == [401, 404, 409]
    logged = [(r.levelname, r.getMessage()) for r in records.records]
    assert [entry for entry in logged if entry[0] not in ("DEBUG", "INFO")] == [], logged
    assert sum("connection rejected" in message for _, message in logged) == 3, logged


@pytest.mark.parametrize("socket", SOCKETS)
def test_a_key_opens_the_socket_in_every_place_a_client_can_put_it(api: Api, socket: str) -> None:
    key = api.new_key()
    analysis_id = api.create_analysis(key)["analysis_id"]
    url = api.ws_url(f"/analyses/{analysis_id}/{socket}")
    offered = [Subprotocol("kinestream.v1"), Subprotocol(f"bearer.{key}")]
    for uri, headers, protocols in (
        (url, {}, offered),
        (url, {"Authorization": f"Bearer {key}"}, None),
        (url, {"X-API-Key": key}, None),
        (f"{url}?token={key}", {}, None),
    ):
        with connect(
            uri, additional_headers=headers, subprotocols=protocols, open_timeout=10
        ) as ws:
            assert ws.subprotocol == ("kinestream.v1" if protocols else None)


@pytest.mark.parametrize("socket", SOCKETS)
def test_refusals_say_why_like_the_routes(api: Api, socket: str) -> None:
    owner, other, revoked = api.new_key(), api.new_key(), api.new_key()
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        revoke_key(conn, revoked.split("_")[1])
    analysis_id = api.create_analysis(owner)["analysis_id"]
    url = api.ws_url(f"/analyses/{analysis_id}/{socket}")

    status, body, headers = refusal(url)
    assert status == 401
    assert body == {"detail": "missing API key: send Authorization: Bearer <key>"}
    assert headers["www-authenticate"].startswith("Bearer")
    for token in ("nonsense", revoked, f"{owner[:-2]}xx"):
        assert (
            refusal(
                url, subprotocols=[Subprotocol("kinestream.v1"), Subprotocol(f"bearer.{token}")]
            )[0]
            == 401
        )
    for target in (url, api.ws_url(f"/analyses/{uuid.uuid4()}/{socket}")):
        status, body, _ = refusal(target, additional_headers={"Authorization": f"Bearer {other}"})
        assert (status, body) == (404, {"detail": "analysis not found"})
    not_a_uuid = api.ws_url(f"/analyses/not-a-uuid/{socket}")
    assert refusal(not_a_uuid, additional_headers={"X-API-Key": owner})[0] == 404


def test_bad_after_is_refused(api: Api) -> None:
    key = api.new_key()
    analysis_id = api.create_analysis(key)["analysis_id"]
    for after in ("x", "-2", str(2**63)):
        url = api.ws_url(f"/analyses/{analysis_id}/stream?after={after}&token={key}")
        status, body, _ = refusal(url)
        assert status == 422
        assert body["detail"].startswith("after:")


def test_a_socket_counts_against_the_rate_limit(api: Api) -> None:
    key = api.new_key(rate_per_minute=2)
    within_one_minute()
    analysis_id = api.create_analysis(key)["analysis_id"]  # request 1
    url = api.ws_url(f"/analyses/{analysis_id}/stream?token={key}")
    with connect(url, open_timeout=10):  # request 2
        pass
    status, body, headers = refusal(url)
    assert status == 429
    assert 1 <= int(headers["retry-after"]) <= 60
    assert "2 requests per minute" in body["detail"]


def test_a_watch_token_opens_its_analysis_stream_and_nothing_else(api: Api) -> None:
    key = api.new_key()
    created = api.create_analysis(key)
    token = created["watch"]["token"]
    other = api.create_analysis(key)["analysis_id"]
    with connect(created["watch"]["websocket"] + f"?token={token}", open_timeout=10):
        pass
    with connect(
        created["watch"]["websocket"],
        subprotocols=[Subprotocol("kinestream.v1"), Subprotocol(f"bearer.{token}")],
    ) as ws:
        assert ws.subprotocol == "kinestream.v1"
    assert refusal(api.ws_url(f"/analyses/{other}/stream?token={token}"))[0] == 404
    ingest = created["ingest"]["websocket"]
    assert refusal(f"{ingest}?token={token}")[0] == 401
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert refusal(created["watch"]["websocket"] + f"?token={tampered}")[0] == 401
    with api.client(token) as client:
        assert client.get(api.url(f"/analyses/{created['analysis_id']}")).status_code == 401
    # Revoking the key revokes its watch tokens.
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        revoke_key(conn, key.split("_")[1])
    assert refusal(created["watch"]["websocket"] + f"?token={token}")[0] == 401


def test_a_stopped_analysis_takes_no_more_input(api: Api) -> None:
    key = api.new_key()
    created = api.create_analysis(key)
    with api.client(key) as client:
        client.post(api.url(f"/analyses/{created['analysis_id']}/stop"))
    status, body, _ = refusal(created["ingest"]["websocket"] + f"?token={key}")
    assert (status, body) == (409, {"detail": "the analysis is stopped: it takes no more input"})
    # Watching it still works.
    with connect(created["watch"]["websocket"] + f"?token={key}", open_timeout=10):
        pass
