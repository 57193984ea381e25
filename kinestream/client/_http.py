"""What the sync and async clients share about HTTP: URLs, credentials, turning a response
into a model or an error, and when a refused GET is tried again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

import httpx
import pydantic

from kinestream import __version__
from kinestream.api.app import API_PREFIX
from kinestream.client.errors import (
    ApiError,
    ConnectionFailedError,
    KinestreamError,
    RateLimitError,
    ServiceUnavailableError,
    api_error,
)

T = TypeVar("T")

USER_AGENT = f"kinestream-client/{__version__}"


def api_root(base_url: str) -> str:
    """``https://host[:port]`` (as the API is served) to the root of its routes."""
    scheme = httpx.URL(base_url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"base_url must be an http:// or https:// URL, got {base_url!r}")
    return base_url.rstrip("/").removesuffix(API_PREFIX) + API_PREFIX


def websocket_root(base_url: str) -> str:
    """The ``ws://`` / ``wss://`` root of the API's WebSockets."""
    scheme, _, rest = api_root(base_url).partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}"


def headers(api_key: str | None) -> dict[str, str]:
    """The headers of every request: the user agent and, given one, the API key."""
    out = {"User-Agent": USER_AGENT}
    if api_key is not None:
        out["Authorization"] = f"Bearer {api_key}"
    return out


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When a GET refused with 429 or 503 is sent again.

    At most ``max_retries`` more times, after the server's ``Retry-After`` or else
    ``backoff_s`` doubling each time; a wait longer than ``max_wait_s`` is not waited for
    (the error is raised at once). ``RetryPolicy(max_retries=0)`` never retries.
    """

    max_retries: int = 2
    backoff_s: float = 0.5
    max_wait_s: float = 30.0

    def delay(self, method: str, attempt: int, error: ApiError) -> float | None:
        """Seconds to wait before sending again after ``error`` (``attempt`` from 0), or
        ``None`` to raise it."""
        if method != "GET" or attempt >= self.max_retries:
            return None
        if not isinstance(error, RateLimitError | ServiceUnavailableError):
            return None
        wait = error.retry_after_s
        if wait is None:
            wait = self.backoff_s * 2.0**attempt
        return wait if wait <= self.max_wait_s else None


DEFAULT_RETRY: Final = RetryPolicy()


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request of a route and how its successful response reads."""

    method: str
    path: str
    parse: Callable[[bytes], T]
    params: dict[str, str | int] = field(default_factory=dict)
    json: dict[str, Any] | None = None

    def result(self, response: httpx.Response) -> T:
        """The parsed response; raises the :class:`ApiError` of an error status."""
        if response.is_error:
            raise api_error(response.status_code, response.content, response.headers)
        try:
            return self.parse(response.content)
        except pydantic.ValidationError as exc:
            raise KinestreamError(
                f"unexpected response to {self.method} {self.path}: {exc}"
            ) from exc


def unreachable(call: Call[Any], exc: httpx.TransportError) -> KinestreamError:
    """The error for a request that got no response."""
    reason = str(exc) or type(exc).__name__
    return ConnectionFailedError(f"{call.method} {call.path}: no response: {reason}")
