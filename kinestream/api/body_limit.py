"""A limit on the size of HTTP request bodies, checked before and while they are read.

:class:`BodySizeLimit` wraps the application (pure ASGI; WebSockets pass untouched). A
request whose ``Content-Length`` is over the limit is answered **413** with a JSON
``detail`` at once, without reading its body, and the connection is closed; a body without
a length (chunked) is counted as it arrives and refused the same way (the route's
``HTTPException`` handling answers) as soon as it passes the limit. Nothing larger than the
limit is ever held in memory.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _detail(max_bytes: int) -> str:
    return f"request body too large: the limit is {max_bytes} bytes"


class BodySizeLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with a 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request, refusing its body when over the limit."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self._max_bytes:
            refusal = JSONResponse(
                {"detail": _detail(self._max_bytes)}, 413, headers={"Connection": "close"}
            )
            await refusal(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._max_bytes:
                    raise HTTPException(413, _detail(self._max_bytes))
            return message

        await self._app(scope, limited_receive, send)
