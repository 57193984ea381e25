"""``/webhooks``: register, list, read and delete the calling key's webhooks."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, Request, Response, status

from kinestream.api.dependencies import CurrentKey, ServicesDep, error_responses, not_found
from kinestream.api.models import Webhook, WebhookCreate, WebhookCreated, WebhookList
from kinestream.store import analyses as analysis_store
from kinestream.webhooks import registry as webhook_registry

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

_ERRORS = error_responses(401, 422, 429, 503)
_NOT_FOUND = error_responses(404)

WebhookId = Annotated[UUID, Path(description="The webhook's id.")]


def _webhook(hook: webhook_registry.Webhook) -> Webhook:
    return Webhook(
        webhook_id=hook.webhook_id,
        url=hook.url,
        event_types=list(hook.event_types),
        sport=hook.sport,
        analysis_id=hook.analysis_id,
        created_at=hook.created_at,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a webhook",
    responses={**_ERRORS, **_NOT_FOUND, **error_responses(400, 413)},
)
async def create_webhook(
    body: WebhookCreate,
    key: CurrentKey,
    services: ServicesDep,
    request: Request,
    response: Response,
) -> WebhookCreated:
    """Deliver the key's matching events to ``url`` as signed POSTs.

    The signing secret is in this response only; keep it to verify the signatures.
    """
    analysis_id = str(body.analysis_id) if body.analysis_id is not None else None
    if analysis_id is not None:
        owned = await services.database.run(analysis_store.get_analysis, key.key_id, analysis_id)
        if owned is None:
            raise not_found()
    kwargs: dict[str, Any] = {"sport": body.sport, "analysis_id": analysis_id}
    if body.event_types is not None:
        kwargs["event_types"] = body.event_types
    try:
        hook, secret = await services.database.run(
            webhook_registry.create_webhook, api_key_id=key.key_id, url=body.url, **kwargs
        )
    except webhook_registry.WebhookError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    response.headers["Location"] = request.app.url_path_for(
        "read_webhook", webhook_id=hook.webhook_id
    )
    return WebhookCreated(**_webhook(hook).model_dump(), secret=secret)


@router.get("", summary="List webhooks", responses=_ERRORS)
async def list_webhooks(key: CurrentKey, services: ServicesDep) -> WebhookList:
    """The key's webhooks, oldest first (without their secrets)."""
    hooks = await services.database.run(webhook_registry.list_webhooks, key.key_id)
    return WebhookList(webhooks=[_webhook(hook) for hook in hooks])


@router.get("/{webhook_id}", summary="Read a webhook", responses={**_ERRORS, **_NOT_FOUND})
async def read_webhook(webhook_id: WebhookId, key: CurrentKey, services: ServicesDep) -> Webhook:
    """One of the key's webhooks (without its secret)."""
    hook = await services.database.run(webhook_registry.get_webhook, key.key_id, str(webhook_id))
    if hook is None:
        raise not_found("webhook")
    return _webhook(hook)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a webhook",
    responses={**_ERRORS, **_NOT_FOUND},
)
async def delete_webhook(webhook_id: WebhookId, key: CurrentKey, services: ServicesDep) -> None:
    """Delete the webhook and its pending deliveries."""
    deleted = await services.database.run(
        webhook_registry.delete_webhook, key.key_id, str(webhook_id)
    )
    if not deleted:
        raise not_found("webhook")
