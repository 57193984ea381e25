"""What the routers share: the process's services, authentication and rate limiting.

Credentials: an API key ``ks_<key_id>_<secret>`` in ``Authorization: Bearer`` or
``X-API-Key`` (WebSockets also take it as the subprotocol ``bearer.<key>`` or as
``?token=``, see :mod:`kinestream.api.streams`). Authenticating counts the request against
the key's per-minute limit in the same database round trip. A missing, unknown or revoked
key is a 401 with ``WWW-Authenticate``; a key over its limit a 429 with ``Retry-After``;
another key's analysis a 404, as if it did not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, HTTPException, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from kinestream.api.database import Database
from kinestream.api.models import ErrorBody
from kinestream.api.producer import KafkaPublisher
from kinestream.api.relay import EventHub
from kinestream.api.settings import ApiSettings
from kinestream.store import analyses as analysis_store
from kinestream.store import api_keys
from kinestream.store.analyses import AnalysisRecord
from kinestream.store.api_keys import ApiKey, RequestCheck

REALM = 'Bearer realm="kinestream"'

_ERROR_DESCRIPTIONS = {
    400: "The request body is not UTF-8 JSON.",
    401: "Missing, invalid or revoked API key (see WWW-Authenticate).",
    404: "Not found for this API key.",
    409: "The analysis no longer takes this request.",
    413: "The request body is over the limit (64 KiB by default).",
    422: "Invalid parameters; the detail gives the reason.",
    429: "The key's rate limit (see Retry-After).",
    503: "Kafka or the database did not answer; try again.",
}


def error_responses(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error codes (``e429="..."`` overrides a description)."""
    return {
        code: {
            "model": ErrorBody,
            "description": descriptions.get(f"e{code}", _ERROR_DESCRIPTIONS[code]),
        }
        for code in codes
    }


@dataclass(frozen=True, slots=True)
class Services:
    """The clients one API process holds (made at startup, see :mod:`kinestream.api.app`)."""

    settings: ApiSettings
    database: Database
    publisher: KafkaPublisher
    hub: EventHub
    watch_secret: bytes


def get_services(connection: HTTPConnection) -> Services:
    """The process's services (requests and WebSockets alike)."""
    services: Services = connection.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(
    auto_error=False, description="An API key: `Authorization: Bearer ks_<key_id>_<secret>`."
)
_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key, for clients that prefer a header."
)


def unauthorized(detail: str) -> HTTPException:
    """A 401 with the challenge every client expects."""
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, {"WWW-Authenticate": REALM})


def admitted(check: RequestCheck | None) -> ApiKey:
    """The key of a counted request, or the 401 / 429 that refuses it."""
    if check is None:
        raise unauthorized("invalid or revoked API key")
    if not check.allowed:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit reached: {check.key.rate_per_minute} requests per minute for this key",
            {"Retry-After": str(check.retry_after_s)},
        )
    return check.key


async def authenticate(services: Services, token: str | None) -> ApiKey:
    """Authenticate an API key and count the request (401 / 429 when refused)."""
    if not token:
        raise unauthorized("missing API key: send Authorization: Bearer <key>")
    return admitted(await services.database.run(api_keys.check_request, token))


async def current_key(
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_api_key_header)],
) -> ApiKey:
    """The API key of the request, counted against its rate limit."""
    return await authenticate(services, bearer.credentials if bearer is not None else header_key)


CurrentKey = Annotated[ApiKey, Depends(current_key)]


def not_found(what: str = "analysis") -> HTTPException:
    """The 404 for something absent or another key's."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} not found")


async def owned_analysis(
    analysis_id: UUID, key: CurrentKey, services: ServicesDep
) -> AnalysisRecord:
    """The analysis named in the path, if the calling key owns it (else 404)."""
    record = await services.database.run(analysis_store.get_analysis, key.key_id, str(analysis_id))
    if record is None:
        raise not_found()
    return record


OwnedAnalysis = Annotated[AnalysisRecord, Depends(owned_analysis)]
