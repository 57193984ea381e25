"""The watch socket's protocol: an analysis's events in position order, no gap, no repeat.

:class:`Watch` serves one connected watcher. Its subscription to the process's
:class:`~kinestream.api.relay.EventHub` is registered before anything is read, so live
events buffer while the history is caught up from the ``events`` table (positions after
``after``). Then it sends live events, skipping positions already sent; a live event beyond
the next position means events in between were missed (published before the subscription,
or not yet in the database when the history was read), so those are read from the database
first, retrying briefly while the database sink catches up. Quiet periods get a heartbeat,
and the database is re-read then, in case the last events were missed. After the
analysis's ``session_summary`` the socket is closed with code 1000; a live summary is
first recorded in the database (the analysis is ``ended`` before the watcher sees it).

Messages (JSON text): ``{"type": "event", "position": n, "event": {...}}`` and
``{"type": "heartbeat", "position": n}`` (the last position sent, -1 for none).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from starlette.websockets import WebSocket

from kinestream.api.dependencies import Services
from kinestream.api.models import Event
from kinestream.api.relay import Subscription
from kinestream.events import AnalysisEvent
from kinestream.store import analyses as analysis_store
from kinestream.store import session_end
from kinestream.store.analyses import StoredEvent

CLOSE_ENDED = 1000
CLOSE_GAP = 1011
CLOSE_SLOW = 1013

_PAGE = 500
_GAP_RETRIES = (0.05, 0.1, 0.2, 0.4, 0.8, 1.5)
_FIRST_RECHECK_S = 1.0


class Watch:
    """Relays one analysis's events to one watcher (see the module docstring)."""

    def __init__(
        self,
        websocket: WebSocket,
        services: Services,
        stream_id: str,
        subscription: Subscription,
        after: int,
    ) -> None:
        self._websocket = websocket
        self._services = services
        self._stream_id = stream_id
        self._subscription = subscription
        self.last = after
        """The last position sent."""
        self._ended = False

    async def run(self) -> tuple[int, str]:
        """Relay until the analysis ends; return the close code and reason.

        Raises :class:`~kinestream.api.relay.SubscriptionOverflowError` when the watcher falls
        too far behind.
        """
        await self._catch_up()
        wait_s = min(_FIRST_RECHECK_S, self._services.settings.heartbeat_s)
        while not self._ended:
            batch = await self._subscription.next_batch(wait_s)
            if not batch:
                await self._catch_up()
                if not self._ended:
                    await self._send({"type": "heartbeat", "position": self.last})
                wait_s = self._services.settings.heartbeat_s
                continue
            for event in batch:
                if event.position is None or event.position <= self.last:
                    continue
                if event.position > self.last + 1 and not await self._fill_gap(event.position - 1):
                    return CLOSE_GAP, f"events missing; reconnect with after={self.last}"
                await self._send_event(event)
                if self._ended:
                    break
        return CLOSE_ENDED, "analysis ended"

    async def _read(self, until: int | None = None) -> Sequence[StoredEvent]:
        limit = _PAGE if until is None else min(_PAGE, until - self.last)
        return await self._services.database.run(
            analysis_store.events_after, self._stream_id, self.last, limit, None, until
        )

    async def _send_stored(self, rows: Sequence[StoredEvent]) -> bool:
        """Send the rows that continue the sequence; ``False`` at the first gap."""
        for row in rows:
            if row.position <= self.last:
                continue
            if row.position != self.last + 1:
                return False
            await self._send_event(row)
            if self._ended:
                return False
        return True

    async def _catch_up(self) -> None:
        """Send what the database holds after the last position sent."""
        while not self._ended:
            rows = await self._read()
            if not await self._send_stored(rows) or len(rows) < _PAGE:
                return

    async def _fill_gap(self, until: int) -> bool:
        """Send positions up to ``until`` from the database; ``False`` if they never came."""
        for pause_s in (0.0, *_GAP_RETRIES):
            await asyncio.sleep(pause_s)
            while self.last < until:
                rows = await self._read(until)
                if not rows or not await self._send_stored(rows):
                    break
            if self.last >= until:
                return True
        return False

    async def _send_event(self, event: AnalysisEvent | StoredEvent) -> None:
        if event.event_type == "session_summary" and isinstance(event, AnalysisEvent):
            # The database sink may not have stored the end yet: whoever reads the
            # analysis once the watcher has the summary finds it ended.
            await self._services.database.run(session_end.end_with_summary, event)
        body = Event.of(event)
        await self._websocket.send_text(
            f'{{"type":"event","position":{body.position},"event":{body.model_dump_json()}}}'
        )
        # Only now: a send cancelled while waiting for the socket sent nothing.
        self.last = body.position
        self._ended = body.event_type == "session_summary"

    async def _send(self, message: dict[str, object]) -> None:
        await self._websocket.send_text(json.dumps(message, separators=(",", ":")))
