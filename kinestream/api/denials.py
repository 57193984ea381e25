"""Refused WebSocket handshakes without an error in the log.

A socket refused before it opens gets an HTTP answer (``websocket.http.response``, see
:mod:`kinestream.api.streams`). Uvicorn's WebSocket protocols still log ``ERROR: ASGI
callable returned without completing handshake.`` after such an answer (it only counts an
accept or a close as completing it). :func:`mark_denied` records, in the connection's
context, that the refusal was answered; :class:`QuietDenials` drops that one message for
such connections, so a genuine handshake error is still logged.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Final

UNFINISHED_HANDSHAKE: Final = "ASGI callable returned without completing handshake."

_denied: ContextVar[bool] = ContextVar("kinestream_websocket_denied", default=False)


def mark_denied() -> None:
    """Record that this connection's handshake was refused with an HTTP answer."""
    _denied.set(True)


class QuietDenials(logging.Filter):
    """Drop uvicorn's unfinished-handshake error for handshakes refused with an answer."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record but that error of a refused handshake."""
        return not (_denied.get() and record.getMessage() == UNFINISHED_HANDSHAKE)
