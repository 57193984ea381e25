"""The REST routes the clients call: what each request carries and which API model answers.

Each function returns a :class:`~kinestream.client._http.Call`; :class:`~kinestream.client.Client`
and :class:`~kinestream.client.AsyncClient` send it, so both speak the same requests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from kinestream.api.models import (
    Analysis,
    AnalysisCreated,
    EventPage,
    SportsCatalogue,
    StopAccepted,
    Webhook,
    WebhookCreated,
    WebhookList,
)
from kinestream.client._http import Call
from kinestream.sports import Sport


def _id(value: str) -> str:
    return quote(str(value), safe="")


def _webhooks(raw: bytes) -> list[Webhook]:
    return WebhookList.model_validate_json(raw).webhooks


def _nothing(_raw: bytes) -> None:
    return None


def create_analysis(
    sport: Sport | str,
    athlete_height_m: float,
    *,
    box_height_m: float | None,
    athlete_id: str | None,
    echo_pose: bool | None,
    webhook_url: str | None,
    belt_speed_m_s: float | None = None,
) -> Call[AnalysisCreated]:
    """``POST /analyses`` (unset options are left to the server's defaults)."""
    body: dict[str, Any] = {"sport": str(sport), "athlete_height_m": athlete_height_m}
    if box_height_m is not None:
        body["box_height_m"] = box_height_m
    if belt_speed_m_s is not None:
        body["belt_speed_m_s"] = belt_speed_m_s
    if athlete_id is not None:
        body["athlete_id"] = athlete_id
    if echo_pose is not None:
        body["options"] = {"echo_pose": echo_pose}
    if webhook_url is not None:
        body["webhook_url"] = webhook_url
    return Call("POST", "/analyses", AnalysisCreated.model_validate_json, json=body)


def get_analysis(analysis_id: str) -> Call[Analysis]:
    """``GET /analyses/{id}``."""
    return Call("GET", f"/analyses/{_id(analysis_id)}", Analysis.model_validate_json)


def events_page(
    analysis_id: str, after: int, types: Iterable[str] | None, limit: int
) -> Call[EventPage]:
    """``GET /analyses/{id}/events``: one page of the history after ``after``."""
    params: dict[str, str | int] = {"after": after, "limit": limit}
    if types is not None:
        params["types"] = ",".join(types)
    return Call(
        "GET", f"/analyses/{_id(analysis_id)}/events", EventPage.model_validate_json, params
    )


def stop(analysis_id: str, last_seq: int | None) -> Call[StopAccepted]:
    """``POST /analyses/{id}/stop``."""
    body = {"last_seq": last_seq} if last_seq is not None else None
    return Call(
        "POST", f"/analyses/{_id(analysis_id)}/stop", StopAccepted.model_validate_json, json=body
    )


def sports() -> Call[SportsCatalogue]:
    """``GET /sports``."""
    return Call("GET", "/sports", SportsCatalogue.model_validate_json)


def create_webhook(
    url: str,
    event_types: Iterable[str] | None,
    sport: Sport | str | None,
    analysis_id: str | None,
) -> Call[WebhookCreated]:
    """``POST /webhooks``."""
    body: dict[str, Any] = {"url": url}
    if event_types is not None:
        body["event_types"] = list(event_types)
    if sport is not None:
        body["sport"] = str(sport)
    if analysis_id is not None:
        body["analysis_id"] = analysis_id
    return Call("POST", "/webhooks", WebhookCreated.model_validate_json, json=body)


def list_webhooks() -> Call[list[Webhook]]:
    """``GET /webhooks``."""
    return Call("GET", "/webhooks", _webhooks)


def get_webhook(webhook_id: str) -> Call[Webhook]:
    """``GET /webhooks/{id}``."""
    return Call("GET", f"/webhooks/{_id(webhook_id)}", Webhook.model_validate_json)


def delete_webhook(webhook_id: str) -> Call[None]:
    """``DELETE /webhooks/{id}``."""
    return Call("DELETE", f"/webhooks/{_id(webhook_id)}", _nothing)
