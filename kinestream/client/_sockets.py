"""What the watch and ingest WebSockets share: how a client offers its credential, and
what a refused handshake or a closed socket means."""

from __future__ import annotations

from typing import Any, Final

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from kinestream.api.streams import BEARER_SUBPROTOCOL, SUBPROTOCOL
from kinestream.client._http import USER_AGENT
from kinestream.client.errors import (
    ApiError,
    ConnectionFailedError,
    KinestreamError,
    StreamClosedError,
    api_error,
)

CLOSE_LOST: Final = 1006
"""The code of a connection that ended without a close frame."""

_TRANSIENT_STATUS: Final = frozenset({429, 502, 503, 504})


def options(credential: str | None, open_timeout_s: float) -> dict[str, Any]:
    """Keyword arguments of ``websockets`` ``connect`` for the API's sockets.

    The credential (an API key or a watch token) travels as the subprotocol
    ``bearer.<credential>`` next to ``kinestream.v1``, as browsers send it.
    """
    protocols = [Subprotocol(SUBPROTOCOL)]
    if credential is not None:
        protocols.append(Subprotocol(BEARER_SUBPROTOCOL + credential))
    return {
        "subprotocols": protocols,
        "open_timeout": open_timeout_s,
        "user_agent_header": USER_AGENT,
        "max_size": 16 * 2**20,
    }


def handshake_error(url: str, exc: Exception) -> KinestreamError:
    """The error for a socket that did not open: the API's refusal or a network failure."""
    if isinstance(exc, InvalidStatus):
        response = exc.response
        return api_error(response.status_code, bytes(response.body or b""), response.headers)
    where = url.partition("?")[0]
    return ConnectionFailedError(f"cannot open {where}: {str(exc) or type(exc).__name__}")


HANDSHAKE_FAILURES: Final = (OSError, TimeoutError, InvalidHandshake)
"""What ``connect`` raises when the API refuses the socket or cannot be reached."""


def is_transient(error: KinestreamError) -> bool:
    """Whether trying again later may open the socket (network, 429, 502-504)."""
    if isinstance(error, ApiError):
        return error.status_code in _TRANSIENT_STATUS
    return isinstance(error, ConnectionFailedError)


def close_of(exc: ConnectionClosed) -> tuple[int, str]:
    """The code and reason the server closed with (1006 when no close frame came)."""
    if exc.rcvd is None:
        return CLOSE_LOST, "connection lost"
    return exc.rcvd.code, exc.rcvd.reason


def closed_error(exc: ConnectionClosed) -> StreamClosedError:
    """The error for a socket the server closed (or that was lost)."""
    return StreamClosedError(*close_of(exc))
