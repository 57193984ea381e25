"""``/analyses``: create an analysis, read it and its events, stop it."""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Body, HTTPException, Query, Request, Response, status

from kinestream import wire
from kinestream.api import watch_tokens
from kinestream.api.control import publish_control, request_stop
from kinestream.api.dependencies import (
    CurrentKey,
    OwnedAnalysis,
    Services,
    ServicesDep,
    error_responses,
)
from kinestream.api.models import (
    Analysis,
    AnalysisCreate,
    AnalysisCreated,
    Event,
    EventPage,
    IngestLinks,
    KafkaIngest,
    PositionedEvent,
    StopAccepted,
    StopRequest,
    WatchLinks,
    WebhookSecret,
)
from kinestream.events import EVENT_TYPES
from kinestream.store import analyses as analysis_store
from kinestream.store.analyses import NewAnalysis, StreamLimitError
from kinestream.webhooks import registry as webhook_registry

router = APIRouter(prefix="/analyses", tags=["analyses"])

_READ_ERRORS = error_responses(401, 404, 422, 429, 503)


def _link(
    request: Request, services: Services, route: str, analysis_id: str, *, websocket: bool = False
) -> str:
    """The absolute URL of an analysis's route, as clients reach this API."""
    base = (services.settings.public_base_url or str(request.base_url)).rstrip("/")
    if websocket:
        scheme, _, rest = base.partition("://")
        base = f"{'wss' if scheme == 'https' else 'ws'}://{rest}"
    return base + str(request.app.url_path_for(route, analysis_id=analysis_id))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create an analysis",
    response_description="The analysis, where to send its input and where to read its results.",
    responses=error_responses(
        400,
        401,
        413,
        422,
        429,
        503,
        e429="The key's rate limit, or its concurrent-stream limit: stop an analysis or wait"
        " for one to end (see Retry-After).",
    ),
)
async def create_analysis(
    body: AnalysisCreate,
    key: CurrentKey,
    services: ServicesDep,
    request: Request,
    response: Response,
) -> AnalysisCreated:
    """Register the analysis and publish its start message (keyed by its stream id).

    Nothing is half-written: when Kafka does not take the start message, the analysis is
    not created (503).
    """
    settings = services.settings
    new = NewAnalysis(
        analysis_id=str(uuid.uuid4()),
        api_key_id=key.key_id,
        sport=body.sport,
        athlete_height_m=body.athlete_height_m,
        box_height_m=body.box_height_m,
        athlete_id=body.athlete_id,
        options=body.options.model_dump(),
        started_at_s=time.time(),
    )
    try:
        start = wire.StartMessage(
            stream_id=new.stream_id,
            sport=new.sport,
            athlete_height_m=new.athlete_height_m,
            box_height_m=new.box_height_m,
            athlete_id=new.athlete_id,
            analysis_id=new.analysis_id,
            api_key_id=new.api_key_id,
            started_at_s=new.started_at_s,
            echo_pose=body.options.echo_pose,
            belt_speed_m_s=body.belt_speed_m_s,
        )
    except wire.WireError as exc:  # what the wire refuses (control characters in an id, ...)
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    webhook: list[tuple[webhook_registry.Webhook, str]] = []
    webhook_url = body.webhook_url

    def create_webhook(conn: psycopg.Connection[Any]) -> None:
        if webhook_url is not None:
            webhook.append(
                webhook_registry.create_webhook(
                    conn, api_key_id=key.key_id, url=webhook_url, analysis_id=new.analysis_id
                )
            )

    try:
        record = await services.database.run(
            analysis_store.create_analysis,
            new,
            max_streams=key.max_streams,
            publish=lambda: publish_control(services, start),
            also=create_webhook,
            timeouts=settings.session_timeouts,
        )
    except StreamLimitError as exc:
        # A stopped analysis ends within the stop grace period at the latest.
        retry_after = str(math.ceil(settings.stop_grace_s))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, str(exc), {"Retry-After": retry_after}
        ) from exc
    except webhook_registry.WebhookError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"webhook_url: {exc}") from exc

    analysis_id = record.analysis_id
    token, grant = watch_tokens.issue(
        services.watch_secret, record.analysis_id, key.key_id, settings.watch_token_ttl_s
    )
    response.headers["Location"] = _link(request, services, "read_analysis", analysis_id)
    return AnalysisCreated(
        analysis_id=record.analysis_id,
        stream_id=record.stream_id,
        status=record.status,
        sport=record.sport,
        created_at=record.created_at,
        ingest=IngestLinks(
            kafka=KafkaIngest(
                frames_topic=settings.topics.frames,
                poses_topic=settings.topics.poses,
                control_topic=settings.topics.control,
                key=record.stream_id,
            ),
            websocket=_link(request, services, "ingest", analysis_id, websocket=True),
        ),
        watch=WatchLinks(
            websocket=_link(request, services, "watch", analysis_id, websocket=True),
            events=_link(request, services, "read_events", analysis_id),
            live=f"{_link(request, services, 'live_page', analysis_id)}#token={token}",
            token=token,
            token_expires_at=datetime.fromtimestamp(grant.expires_at_s, UTC),
        ),
        webhook=(
            WebhookSecret(webhook_id=webhook[0][0].webhook_id, secret=webhook[0][1])
            if webhook
            else None
        ),
    )


@router.get(
    "/{analysis_id}",
    summary="Read an analysis",
    responses=_READ_ERRORS,
)
async def read_analysis(analysis: OwnedAnalysis, services: ServicesDep) -> Analysis:
    """Status, parameters, the repetitions so far with their metrics, and the summary."""
    reps = await services.database.run(analysis_store.get_reps, analysis.stream_id)
    return Analysis.of(analysis, reps)


def _event_types(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    types = [t.strip() for value in values for t in value.split(",") if t.strip()]
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"types: unknown event types {', '.join(unknown)} (known: {', '.join(EVENT_TYPES)})",
        )
    return types or None


@router.get(
    "/{analysis_id}/events",
    summary="Read an analysis's events",
    responses=_READ_ERRORS,
)
async def read_events(
    analysis: OwnedAnalysis,
    services: ServicesDep,
    after: Annotated[
        int, Query(ge=-1, lt=2**63, description="Only events after this position.")
    ] = -1,
    limit: Annotated[int, Query(ge=1, le=1000, description="Events per page.")] = 100,
    types: Annotated[
        list[str] | None,
        Query(
            description="Only these event types (repeat the parameter or separate by commas).",
            examples=["rep_complete,session_summary"],
        ),
    ] = None,
) -> EventPage:
    """The analysis's events in position order, as stored by the dataflow."""
    rows = await services.database.run(
        analysis_store.events_after, analysis.stream_id, after, limit, _event_types(types)
    )
    return EventPage(
        analysis_id=analysis.analysis_id,
        events=[PositionedEvent(position=row.position, event=Event.of(row)) for row in rows],
        next=rows[-1].position if len(rows) == limit else None,
    )


@router.post(
    "/{analysis_id}/stop",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Stop an analysis",
    responses=error_responses(400, 401, 404, 413, 422, 429, 503),
)
async def stop_analysis(
    analysis: OwnedAnalysis,
    services: ServicesDep,
    body: Annotated[StopRequest | None, Body()] = None,
) -> StopAccepted:
    """Publish the end message, once: a repeated stop, or one after the end, changes nothing.

    The dataflow then finishes the analysis (its session_summary follows). If it has not
    within the stop grace period (30 s by default: the dataflow lost the stream, or is
    down), the API ends the analysis itself (reason ``stopped_without_flow``) and its
    watchers get a final session_summary.
    """
    record = await request_stop(services, analysis, body.last_seq if body is not None else None)
    return StopAccepted(
        analysis_id=record.analysis_id,
        status=record.status,
        stop_requested_at=record.stop_requested_at,
    )
