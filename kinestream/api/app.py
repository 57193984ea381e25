"""The FastAPI application: :func:`create_app` builds it from :class:`ApiSettings`.

Startup opens what the routers share (:class:`~kinestream.api.dependencies.Services`): the
database pool, the Kafka producer and the events consumer of the watch sockets, and starts
ending dead analyses (:mod:`kinestream.api.session_reaper`); shutdown closes them. The
service never analyses anything itself: it writes analyses and control messages, reads what
the dataflow wrote, and relays the events topic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from kinestream import __version__
from kinestream.api import analyses, live, sports, streams, watch_tokens, webhooks
from kinestream.api.body_limit import BodySizeLimit
from kinestream.api.database import Database
from kinestream.api.dependencies import Services
from kinestream.api.producer import KafkaPublisher, KafkaUnavailableError
from kinestream.api.relay import EventHub
from kinestream.api.session_reaper import end_dead_analyses_forever
from kinestream.api.settings import ApiSettings
from kinestream.store import api_keys
from kinestream.store.migrations import schema_problem

API_PREFIX = "/api/v1"

_log = logging.getLogger(__name__)

DESCRIPTION = """
Real-time analysis of athletes' jumps. Create an analysis, send its video frames or poses
(Kafka or the ingest WebSocket), and follow its events live (the watch WebSocket), as
history (`GET /analyses/{id}/events`) or by webhook.

**Authentication.** Every route but `GET /sports` takes an API key
(`kinestream keys create`): `Authorization: Bearer ks_<key_id>_<secret>` or `X-API-Key`.
Missing, invalid or revoked: 401. Another key's analysis or webhook: 404.

**Limits.** Each key has a request rate (per fixed minute, shared by every API instance):
over it, 429 with `Retry-After`. And a number of concurrent analyses (status `created` or
`running`): `POST /analyses` beyond it is a 429, with `Retry-After` too. A request body
over 64 KiB is refused with 413 before it is read.

**Watch WebSocket** `/api/v1/analyses/{id}/stream?after=<position>`. Credentials: the
subprotocols `kinestream.v1, bearer.<key or watch token>` (browsers), or the headers above,
or `?token=`. Sends JSON text: `{"type":"event","position":n,"event":{...}}` for every event
after `after` (default -1: all), history first, then live, in position order with no gap
and no repeat; `{"type":"heartbeat","position":n}` when quiet. Closes with 1000 after the
`session_summary`, 1013 when the client reads too slowly (reconnect with `after` = the last
position received), 1011 when events cannot be read (reconnect likewise).

**Ingest WebSocket** `/api/v1/analyses/{id}/ingest[?end_on_close=1]`. Binary messages,
each a `KP` pose packet or a `KF` frame packet (layouts in `kinestream.wire`). Answers
`{"type":"ack","seq":n,"kind":...}` once Kafka has it, `{"type":"error",...}` for a refused
packet (closed with 1007 after too many in a row), `{"type":"backpressure",...}` when it
stops reading until Kafka catches up. Closed with 1000 once the analysis is stopped.

**Live page** `/api/v1/analyses/{id}/live#token=<watch token>` (the `watch.live` link of a
new analysis): the skeleton, phase, CoM and reps of the analysis in a browser, no API key
needed.

Refused WebSocket handshakes get the same status codes and JSON `detail` as the routes.
"""

TAGS: list[dict[str, Any]] = [
    {"name": "analyses", "description": "Create analyses, read their results, stop them."},
    {"name": "sports", "description": "What kinestream measures and how to film it."},
    {"name": "webhooks", "description": "Signed HTTP deliveries of an API key's events."},
]


def _reason(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


async def _invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(exc.errors())
    detail = "; ".join(_reason(error) for error in errors) or "invalid request"
    return JSONResponse({"detail": detail}, status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _kafka_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": f"Kafka unavailable: {exc}"}, status.HTTP_503_SERVICE_UNAVAILABLE
    )


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    _log.warning("database unavailable: %s", exc)
    return JSONResponse({"detail": "database unavailable"}, status.HTTP_503_SERVICE_UNAVAILABLE)


def create_app(settings: ApiSettings) -> FastAPI:
    """Build the API for ``settings`` (services start with the app's lifespan)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        problem = await asyncio.to_thread(schema_problem, settings.database_url)
        if problem is not None:
            raise RuntimeError(problem)
        database = Database(settings.database_url, settings.database_pool_size)
        secret = await database.run(api_keys.shared_secret, watch_tokens.SECRET_NAME)
        publisher = KafkaPublisher(
            settings.brokers,
            delivery_timeout_s=settings.kafka_timeout_s,
            max_message_bytes=settings.max_frame_bytes,
            config=settings.kafka_config,
        )
        hub = EventHub(
            settings.brokers,
            settings.topics.events,
            capacity=settings.relay_queue_size,
            config=settings.kafka_config,
        )
        hub.start()
        services = Services(settings, database, publisher, hub, secret)
        app.state.services = services
        reaper = asyncio.create_task(end_dead_analyses_forever(services))
        try:
            yield
        finally:
            reaper.cancel()
            await asyncio.gather(reaper, return_exceptions=True)
            hub.close()
            publisher.close()
            database.close()

    app = FastAPI(
        title="kinestream",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(KafkaUnavailableError, _kafka_unavailable)
    app.add_exception_handler(psycopg.OperationalError, _database_unavailable)
    for module in (analyses, sports, webhooks, streams, live):
        app.include_router(module.router, prefix=API_PREFIX)
    return app
