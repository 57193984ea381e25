"""An analysis event together with the session it belongs to.

The per-stream step of the dataflow emits :class:`SessionEvent` values; the outputs (events
topic, webhooks topic, database) read what they need from them. The session is the stream's
:class:`~kinestream.wire.StartMessage`: athlete, sport, analysis id, webhook.
"""

from __future__ import annotations

from dataclasses import dataclass

from kinestream.events import AnalysisEvent
from kinestream.wire import StartMessage


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """One output of one stream.

    ``event is None`` announces that ``session`` was opened (no analysis output yet);
    ``session is None`` marks an event of a stream that never started (an ``error``).
    """

    stream_id: str
    session: StartMessage | None
    event: AnalysisEvent | None
