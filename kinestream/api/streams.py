"""The WebSockets of an analysis: ``/analyses/{id}/stream`` (watch) and ``/ingest``.

Credentials, in the order looked at: the subprotocol ``bearer.<token>`` (browsers cannot
set headers; offer ``kinestream.v1`` with it, the server selects that one),
``Authorization: Bearer``, ``X-API-Key``, ``?token=``. The token is an API key; the watch
socket also takes the analysis's watch token (:mod:`kinestream.api.watch_tokens`). A socket
refused before it opens gets an HTTP response with a JSON ``detail``, as the REST routes
do: 401 (with ``WWW-Authenticate``), 404 (another key's analysis), 409 (ingest into an
ended or stopped analysis), 422 (bad ``after``), 429 (rate limit, ``Retry-After``), 503.
Each connection counts as one request of its key. Protocols: :mod:`kinestream.api.watch`
and :mod:`kinestream.api.ingest`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Final

import psycopg
from fastapi import APIRouter, HTTPException, status
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from kinestream.api import watch_tokens
from kinestream.api.control import request_stop
from kinestream.api.denials import mark_denied
from kinestream.api.dependencies import (
    Services,
    admitted,
    authenticate,
    get_services,
    not_found,
    unauthorized,
)
from kinestream.api.ingest import Ingest
from kinestream.api.producer import KafkaUnavailableError
from kinestream.api.relay import Subscription, SubscriptionOverflowError
from kinestream.api.watch import CLOSE_SLOW, Watch
from kinestream.store import analyses as analysis_store
from kinestream.store import api_keys
from kinestream.store.analyses import AnalysisRecord

router = APIRouter(prefix="/analyses")

SUBPROTOCOL: Final = "kinestream.v1"
BEARER_SUBPROTOCOL: Final = "bearer."
CLOSE_UNAVAILABLE: Final = 1011

_log = logging.getLogger(__name__)


def _offered(websocket: WebSocket) -> list[str]:
    return list(websocket.scope.get("subprotocols") or [])


def offered_token(websocket: WebSocket) -> str | None:
    """The credential the client offered, wherever it put it."""
    for protocol in _offered(websocket):
        if protocol.startswith(BEARER_SUBPROTOCOL):
            return protocol[len(BEARER_SUBPROTOCOL) :]
    scheme, _, value = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return websocket.headers.get("x-api-key") or websocket.query_params.get("token") or None


async def _admit(
    websocket: WebSocket, services: Services, analysis_id: str, *, watch: bool
) -> AnalysisRecord:
    try:
        canonical = str(uuid.UUID(analysis_id))
    except ValueError:
        raise not_found() from None
    token = offered_token(websocket)
    if watch and token is not None and token.startswith(watch_tokens.PREFIX):
        grant = watch_tokens.verify(services.watch_secret, token)
        if grant is None:
            raise unauthorized("invalid or expired watch token")
        if grant.analysis_id != canonical:
            raise not_found()
        key = admitted(await services.database.run(api_keys.count_request, grant.api_key_id))
    else:
        key = await authenticate(services, token)
    record = await services.database.run(analysis_store.get_analysis, key.key_id, canonical)
    if record is None:
        raise not_found()
    return record


def _after(websocket: WebSocket) -> int:
    raw = websocket.query_params.get("after", "-1")
    try:
        after = int(raw)
    except ValueError:
        after = -2
    if not -1 <= after < 2**63:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "after: a position, -1 or more (default -1)"
        )
    return after


async def _hub_ready(services: Services) -> bool:
    """Wait (a little) for the events consumer to be assigned its partitions."""
    deadline = time.monotonic() + services.settings.relay_ready_timeout_s
    while not services.hub.ready.is_set():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def _accept(websocket: WebSocket) -> None:
    """Open the socket, selecting ``kinestream.v1`` when offered (never the bearer one)."""
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in _offered(websocket) else None)


async def _deny(websocket: WebSocket, error: HTTPException) -> None:
    body = {"detail": error.detail}
    await websocket.send_denial_response(JSONResponse(body, error.status_code, error.headers))
    mark_denied()


async def _close(websocket: WebSocket, services: Services, code: int, reason: str) -> None:
    """Close with ``code``; give up after the close timeout if the client does not read."""
    with contextlib.suppress(TimeoutError, RuntimeError, WebSocketDisconnect):
        await asyncio.wait_for(websocket.close(code, reason), services.settings.close_timeout_s)


async def _until_client_leaves(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it disconnects."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def _relay(
    websocket: WebSocket, watch: Watch, subscription: Subscription
) -> tuple[int, str] | None:
    """Relay until the analysis ends, the watcher overflows or leaves (``None``)."""
    relay = asyncio.ensure_future(watch.run())
    overflow = asyncio.ensure_future(subscription.overflowed.wait())
    leaving = asyncio.ensure_future(_until_client_leaves(websocket))
    tasks = (relay, overflow, leaving)
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    slow = (CLOSE_SLOW, f"client too slow; reconnect with after={watch.last}")
    if relay.done() and not relay.cancelled():
        try:
            return relay.result()
        except SubscriptionOverflowError:
            return slow
        except WebSocketDisconnect:
            return None
        except psycopg.OperationalError:
            return CLOSE_UNAVAILABLE, "database unavailable; reconnect"
    return slow if overflow.done() and not overflow.cancelled() else None


@router.websocket("/{analysis_id}/stream", name="watch")
async def watch_stream(websocket: WebSocket, analysis_id: str) -> None:
    """Relay the analysis's events: history after ``?after=``, then live (see ``watch``)."""
    services = get_services(websocket)
    try:
        after = _after(websocket)
        record = await _admit(websocket, services, analysis_id, watch=True)
        if not await _hub_ready(services):
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "live events unavailable")
    except HTTPException as error:
        return await _deny(websocket, error)
    except psycopg.OperationalError:
        return await _deny(websocket, HTTPException(503, "database unavailable"))

    subscription = services.hub.subscribe(record.stream_id)
    try:
        await _accept(websocket)
        watch = Watch(websocket, services, record.stream_id, subscription, after)
        closing = await _relay(websocket, watch, subscription)
        if closing is not None:
            await _close(websocket, services, *closing)
    finally:
        services.hub.unsubscribe(subscription)


@router.websocket("/{analysis_id}/ingest", name="ingest")
async def ingest_stream(websocket: WebSocket, analysis_id: str) -> None:
    """Take pose and frame packets into the analysis (see ``ingest``)."""
    services = get_services(websocket)
    end_on_close = websocket.query_params.get("end_on_close", "0").lower() in ("1", "true")
    try:
        record = await _admit(websocket, services, analysis_id, watch=False)
        if not record.accepts_input:
            state = "stopped" if record.stop_requested_at is not None else record.status
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"the analysis is {state}: it takes no more input"
            )
    except HTTPException as error:
        return await _deny(websocket, error)
    except psycopg.OperationalError:
        return await _deny(websocket, HTTPException(503, "database unavailable"))

    await _accept(websocket)
    ingest = Ingest(websocket, services, record)
    try:
        closing = await ingest.run()
        if closing is None:
            if end_on_close:
                await request_stop(services, record, ingest.last_seq)
            return
    except psycopg.OperationalError:
        closing = (CLOSE_UNAVAILABLE, "database unavailable")
    except KafkaUnavailableError as error:
        _log.warning("end message of %s not published: %s", record.analysis_id, error)
        return
    await _close(websocket, services, *closing)
