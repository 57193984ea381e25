"""Everything the SDK raises: one hierarchy under :class:`KinestreamError`.

::

    KinestreamError
    ├── ApiError                  the API refused: ``status_code``, ``detail``, ``retry_after_s``
    │   ├── AuthError             401: missing, invalid or revoked API key or watch token
    │   ├── NotFoundError         404: no such analysis or webhook for this key
    │   ├── ConflictError         409: the analysis takes no more input (ended or stopped)
    │   ├── ValidationError       422: invalid parameters (``detail`` says which and why)
    │   ├── RateLimitError        429: the key's rate or stream limit (``retry_after_s``)
    │   └── ServiceUnavailableError  503: Kafka or the database did not answer
    ├── ConnectionFailedError     the API could not be reached (or kept being lost)
    ├── StreamClosedError         a WebSocket was closed by the server for good (``code``)
    ├── IngestError               the server refused a packet (``code``, ``seq``)
    └── WebhookSignatureError     a webhook delivery that does not verify
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus


class KinestreamError(Exception):
    """Base of every error the SDK raises; ``detail`` is the readable reason."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ApiError(KinestreamError):
    """The API refused a request: its HTTP status and the server's ``detail``."""

    def __init__(self, status_code: int, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.retry_after_s = retry_after_s
        """The server's ``Retry-After`` in seconds, when it sent one."""

    def __str__(self) -> str:
        return f"{self.status_code} {_reason(self.status_code)}: {self.detail}"


class AuthError(ApiError):
    """401: the API key (or watch token) is missing, invalid, revoked or expired."""


class NotFoundError(ApiError):
    """404: no such analysis or webhook, or another key's."""


class ConflictError(ApiError):
    """409: the analysis no longer takes this request (it ended or was stopped)."""


class ValidationError(ApiError):
    """422: invalid parameters; ``detail`` names each and why."""


class RateLimitError(ApiError):
    """429: the key's request rate or its number of concurrent analyses.

    ``retry_after_s`` says when the rate limit resets (absent for the stream limit: stop
    an analysis or wait for one to end).
    """


class ServiceUnavailableError(ApiError):
    """503: Kafka or the database did not answer; trying again later may work."""


class ConnectionFailedError(KinestreamError):
    """The API could not be reached, or the connection to it was lost (see ``__cause__``)."""


class StreamClosedError(KinestreamError):
    """The server closed a WebSocket in a way that resuming cannot fix."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(
            f"the server closed the socket with code {code}: {reason or '(no reason)'}"
        )
        self.code = code
        self.reason = reason


class IngestError(KinestreamError):
    """The ingest socket refused a packet (``code``: ``bad_packet``, ``too_large``,
    ``not_binary`` or ``kafka_unavailable``); ``seq`` is the packet's when the server knows it.
    """

    def __init__(self, code: str, message: str, seq: int | None) -> None:
        where = f" (seq {seq})" if seq is not None else ""
        super().__init__(f"packet refused{where}: {code}: {message}")
        self.code = code
        self.message = message
        self.seq = seq


class WebhookSignatureError(KinestreamError):
    """A webhook delivery whose signature is missing, wrong or out of date, or whose body
    is not a JSON object."""


_BY_STATUS: dict[int, type[ApiError]] = {
    401: AuthError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def _reason(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"


def _detail(body: bytes, status_code: int) -> str:
    """The ``detail`` of a JSON error body, else the body's text, else the status phrase."""
    try:
        detail = json.loads(body)["detail"]
    except (ValueError, TypeError, KeyError):
        text = body.decode(errors="replace").strip()
        return text[:500] or _reason(status_code)
    return detail if isinstance(detail, str) else json.dumps(detail)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


def api_error(status_code: int, body: bytes, headers: Mapping[str, str]) -> ApiError:
    """The error for an API response: its status, body and (case-insensitive) headers."""
    error_type = _BY_STATUS.get(status_code, ApiError)
    return error_type(status_code, _detail(body, status_code), _retry_after(headers))
