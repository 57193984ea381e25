"""Live events of an analysis over the watch WebSocket, resumed across disconnections.

:class:`Watch` (sync) and :class:`AsyncWatch` iterate an analysis's events as
:class:`~kinestream.events.AnalysisEvent`, in position order, each position once. The
server closes a socket whose reader is too slow (1013), that could not read the events
(1011) or that it restarts with (1012); a connection may also just drop. Each time the
watch reconnects with ``after=<last position yielded>`` after a short, growing pause
(:class:`ReconnectPolicy`), so nothing is lost or repeated. It gives up with
:class:`~kinestream.client.errors.ConnectionFailedError` after ``max_failures`` failed
attempts in a row (an attempt that receives anything resets the count) and raises at once
when the API refuses the credential (401) or the analysis (404). Heartbeats are skipped.
Iteration ends after the ``session_summary`` (the server then closes with 1000).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass
from functools import cached_property
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import quote

from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from kinestream.api.streams import CLOSE_UNAVAILABLE
from kinestream.api.watch import CLOSE_ENDED, CLOSE_GAP, CLOSE_SLOW
from kinestream.client import _sockets
from kinestream.client.errors import (
    ApiError,
    ConnectionFailedError,
    KinestreamError,
    StreamClosedError,
)
from kinestream.events import AnalysisEvent

_log = logging.getLogger("kinestream.client")

_RESUMABLE: Final = frozenset(
    {CLOSE_GAP, CLOSE_SLOW, CLOSE_UNAVAILABLE, 1001, _sockets.CLOSE_LOST, 1012}
)
"""Closes worth reconnecting after: going away (1001), lost (1006), events unavailable
(1011), restarting (1012), too slow (1013)."""


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """How a watch reconnects: after ``initial_delay_s``, doubling up to ``max_delay_s``
    (randomized by up to half, so that many watchers do not come back at once; a 429's
    ``Retry-After`` is waited for in full); it gives up at the ``max_failures``-th failure
    in a row (a socket that would not open, or closed before anything new came)."""

    max_failures: int = 8
    initial_delay_s: float = 0.2
    max_delay_s: float = 5.0

    def delay(self, failures: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait before the attempt after the ``failures``-th failure in a row."""
        backoff = min(self.max_delay_s, self.initial_delay_s * 2.0 ** (failures - 1))
        backoff *= random.uniform(0.5, 1.0)
        return max(backoff, retry_after_s or 0.0)


DEFAULT_RECONNECT: Final = ReconnectPolicy()


def analysis_event(data: dict[str, Any]) -> AnalysisEvent:
    """The :class:`AnalysisEvent` of an event as the API sends it (its id is checked)."""
    try:
        return AnalysisEvent.from_dict(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise KinestreamError(f"malformed event from the watch socket: {exc!r}") from exc


class _WatchState:
    """The state of one watch across its connections (shared by the sync and async one)."""

    def __init__(
        self,
        websocket_root: str,
        analysis_id: str,
        after: int,
        credential: str | None,
        policy: ReconnectPolicy,
        open_timeout_s: float,
    ) -> None:
        self.analysis_id = analysis_id
        self.last_position = after
        self.reconnects = 0
        self.ended = False
        self.options = _sockets.options(credential, open_timeout_s)
        self._base = f"{websocket_root}/analyses/{quote(analysis_id, safe='')}/stream"
        self._policy = policy
        self._failures = 0
        self._opened = False

    @property
    def url(self) -> str:
        """Where to connect now: after the last position yielded."""
        return f"{self._base}?after={self.last_position}"

    def opened(self) -> None:
        """A socket opened."""
        self.reconnects += self._opened
        self._opened = True

    def accept(self, raw: str | bytes) -> AnalysisEvent | None:
        """The event a message brings, or ``None`` (heartbeat, position already yielded)."""
        try:
            message = json.loads(raw)
            kind = message["type"]
            position = int(message["position"])
        except (ValueError, TypeError, KeyError) as exc:
            raise KinestreamError(f"malformed message from the watch socket: {exc!r}") from exc
        self._failures = 0
        if kind != "event" or position <= self.last_position:
            return None
        event = analysis_event(message["event"])
        self.last_position = position
        self.ended = event.event_type == "session_summary"
        return event

    def closed(self, exc: ConnectionClosed) -> float | None:
        """Seconds to wait before reconnecting after a close, or ``None`` when it ended."""
        code, reason = _sockets.close_of(exc)
        if code == CLOSE_ENDED:
            self.ended = True
            return None
        if code not in _RESUMABLE:
            raise StreamClosedError(code, reason) from exc
        return self._failed(f"closed with {code} ({reason or 'no reason'})", exc)

    def refused(self, exc: Exception) -> float:
        """Seconds to wait before trying again after a socket did not open (or raise)."""
        error = _sockets.handshake_error(self.url, exc)
        if not _sockets.is_transient(error):
            raise error from exc
        retry_after_s = error.retry_after_s if isinstance(error, ApiError) else None
        return self._failed(str(error), exc, retry_after_s)

    def _failed(self, cause: str, exc: BaseException, retry_after_s: float | None = None) -> float:
        self._failures += 1
        if self._failures >= self._policy.max_failures:
            raise ConnectionFailedError(
                f"watching analysis {self.analysis_id}: gave up after {self._failures} failures"
                f" in a row; last: {cause}"
            ) from exc
        delay = self._policy.delay(self._failures, retry_after_s)
        _log.info(
            "watch %s: %s; reconnecting with after=%d in %.2f s",
            self.analysis_id,
            cause,
            self.last_position,
            delay,
        )
        return delay


class _BaseWatch:
    """What the sync and async watch share: their state and what they report."""

    def __init__(
        self,
        websocket_root: str,
        analysis_id: str,
        *,
        after: int,
        credential: str | None,
        policy: ReconnectPolicy,
        open_timeout_s: float,
    ) -> None:
        self._state = _WatchState(
            websocket_root, analysis_id, after, credential, policy, open_timeout_s
        )

    @property
    def last_position(self) -> int:
        """The position of the last event yielded (``after`` until the first)."""
        return self._state.last_position

    @property
    def reconnects(self) -> int:
        """How many times the watch connected again after losing its socket."""
        return self._state.reconnects


class Watch(_BaseWatch):
    """A sync iterator of an analysis's live events (see the module docstring).

    Made by :meth:`kinestream.client.Client.watch`. Use it in a ``with`` block, or call
    :meth:`close`, to close the socket when leaving the loop early.
    """

    @cached_property
    def _events(self) -> Generator[AnalysisEvent]:
        return self._run()

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> AnalysisEvent:
        return next(self._events)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop watching (closes the socket)."""
        self._events.close()

    def _run(self) -> Generator[AnalysisEvent]:
        state = self._state
        while not state.ended:
            delay: float | None
            with contextlib.ExitStack() as stack:
                try:
                    socket = stack.enter_context(connect(state.url, **state.options))
                except _sockets.HANDSHAKE_FAILURES as exc:
                    delay = state.refused(exc)
                else:
                    delay = yield from self._relay(socket)
            if delay is not None:
                time.sleep(delay)

    def _relay(self, socket: ClientConnection) -> Generator[AnalysisEvent, None, float | None]:
        """Yield the socket's events; at its close, the pause before reconnecting."""
        state = self._state
        state.opened()
        while not state.ended:
            try:
                raw = socket.recv()
            except ConnectionClosed as exc:
                return state.closed(exc)
            event = state.accept(raw)
            if event is not None:
                yield event
        return None


class AsyncWatch(_BaseWatch):
    """An async iterator of an analysis's live events (see the module docstring).

    Made by :meth:`kinestream.client.AsyncClient.watch`. Use it in an ``async with`` block,
    or call :meth:`aclose`, to close the socket when leaving the loop early.
    """

    @cached_property
    def _events(self) -> AsyncGenerator[AnalysisEvent]:
        return self._run()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> AnalysisEvent:
        return await anext(self._events)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop watching (closes the socket)."""
        await self._events.aclose()

    async def _run(self) -> AsyncGenerator[AnalysisEvent]:
        state = self._state
        while not state.ended:
            try:
                socket = await async_connect(state.url, **state.options)
            except _sockets.HANDSHAKE_FAILURES as exc:
                await asyncio.sleep(state.refused(exc))
                continue
            state.opened()
            delay = None
            async with socket:
                while not state.ended:
                    try:
                        raw = await socket.recv()
                    except ConnectionClosed as exc:
                        delay = state.closed(exc)
                        break
                    event = state.accept(raw)
                    if event is not None:
                        yield event
            if delay is not None:
                await asyncio.sleep(delay)
