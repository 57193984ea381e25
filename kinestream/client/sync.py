"""The synchronous client: :class:`Client`."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Self, TypeVar

import httpx

from kinestream.api.models import (
    Analysis,
    AnalysisCreated,
    Event,
    SportsCatalogue,
    StopAccepted,
    Webhook,
    WebhookCreated,
)
from kinestream.client import _routes
from kinestream.client._http import (
    DEFAULT_RETRY,
    Call,
    RetryPolicy,
    api_root,
    headers,
    unreachable,
    websocket_root,
)
from kinestream.client.errors import ApiError
from kinestream.client.ingest import IngestSession, ingest_url
from kinestream.client.watch import DEFAULT_RECONNECT, ReconnectPolicy, Watch
from kinestream.sports import Sport

T = TypeVar("T")

_log = logging.getLogger("kinestream.client")


class Client:
    """A kinestream API client (sync; :class:`~kinestream.client.AsyncClient` is the async one).

    ``base_url`` is where the API is served (``https://api.example.com``); ``api_key`` a key
    from ``kinestream keys create`` (``None`` for a client that only lists the sports or
    watches with a watch token). ``timeout_s`` bounds each request and each socket opening.
    ``retry`` says when a GET refused with 429 or 503 is sent again; ``reconnect`` how a
    watch resumes. Every method raises a :class:`~kinestream.client.errors.KinestreamError`
    when the API refuses or cannot be reached. Close the client (or use it in a ``with``
    block) to release its connections.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout_s: float = 10.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
    ) -> None:
        self._api_key = api_key
        self._websocket_root = websocket_root(base_url)
        self._timeout_s = timeout_s
        self._retry = retry
        self._reconnect = reconnect
        self._http = httpx.Client(
            base_url=api_root(base_url), headers=headers(api_key), timeout=timeout_s
        )

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
        """Close the HTTP connections."""
        self._http.close()

    def _send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    call.method, call.path, params=call.params, json=call.json
                )
            except httpx.TransportError as exc:
                raise unreachable(call, exc) from exc
            try:
                return call.result(response)
            except ApiError as error:
                delay = self._retry.delay(call.method, attempt, error)
                if delay is None:
                    raise
                _log.info("%s %s: %s; retrying in %.2f s", call.method, call.path, error, delay)
            time.sleep(delay)
            attempt += 1

    # --- analyses --------------------------------------------------------------------------

    def create_analysis(
        self,
        sport: Sport | str,
        athlete_height_m: float,
        *,
        box_height_m: float | None = None,
        athlete_id: str | None = None,
        echo_pose: bool | None = None,
        webhook_url: str | None = None,
        belt_speed_m_s: float | None = None,
    ) -> AnalysisCreated:
        """Create an analysis (``box_height_m`` for a drop jump only; ``echo_pose`` to get each
        frame's pose in the live ``metric_update`` events; ``webhook_url`` to also register a
        webhook for its reps and summary, whose secret is in the answer; ``belt_speed_m_s``
        for running on a treadmill)."""
        return self._send(
            _routes.create_analysis(
                sport,
                athlete_height_m,
                box_height_m=box_height_m,
                athlete_id=athlete_id,
                echo_pose=echo_pose,
                webhook_url=webhook_url,
                belt_speed_m_s=belt_speed_m_s,
            )
        )

    def get_analysis(self, analysis_id: str) -> Analysis:
        """An analysis: status, parameters, repetitions so far, summary once ended."""
        return self._send(_routes.get_analysis(analysis_id))

    def events(
        self,
        analysis_id: str,
        *,
        after: int = -1,
        types: Iterable[str] | None = None,
        page_size: int = 100,
    ) -> Iterator[Event]:
        """The analysis's stored events after position ``after``, in position order,
        page by page (only ``types``, if given); for live ones, :meth:`watch`."""
        types = None if types is None else list(types)
        while True:
            page = self._send(_routes.events_page(analysis_id, after, types, page_size))
            for item in page.events:
                yield item.event
            if page.next is None:
                return
            after = page.next

    def stop(self, analysis_id: str, *, last_seq: int | None = None) -> StopAccepted:
        """Ask the analysis to end (after frame ``last_seq``, default the last ingested)."""
        return self._send(_routes.stop(analysis_id, last_seq))

    def sports(self) -> SportsCatalogue:
        """The sports, their metrics and how to film them, and the pose model."""
        return self._send(_routes.sports())

    # --- live ------------------------------------------------------------------------------

    def watch(self, analysis_id: str, *, after: int = -1, token: str | None = None) -> Watch:
        """Iterate the analysis's events live, from position ``after`` on, resuming after
        disconnections, until its ``session_summary`` (see :mod:`kinestream.client.watch`).
        ``token``: a watch token to use instead of the API key."""
        return Watch(
            self._websocket_root,
            analysis_id,
            after=after,
            credential=token or self._api_key,
            policy=self._reconnect,
            open_timeout_s=self._timeout_s,
        )

    def ingest(
        self, analysis_id: str, *, end_on_close: bool = True, window: int = 32
    ) -> IngestSession:
        """A session sending the analysis's poses or frames, at most ``window`` unanswered
        (see :mod:`kinestream.client.ingest`); with ``end_on_close`` closing it ends the
        analysis."""
        url = ingest_url(self._websocket_root, analysis_id, end_on_close=end_on_close)
        return IngestSession(url, self._api_key, window, self._timeout_s)

    # --- webhooks --------------------------------------------------------------------------

    def create_webhook(
        self,
        url: str,
        event_types: Iterable[str] | None = None,
        sport: Sport | str | None = None,
        *,
        analysis_id: str | None = None,
    ) -> WebhookCreated:
        """Register a webhook for the key's events of ``event_types`` (default rep_complete
        and session_summary), of one sport or analysis if given. Keep the returned
        ``secret``: it verifies the deliveries (:func:`~kinestream.client.verify_webhook`)."""
        return self._send(_routes.create_webhook(url, event_types, sport, analysis_id))

    def list_webhooks(self) -> list[Webhook]:
        """The key's webhooks, oldest first."""
        return self._send(_routes.list_webhooks())

    def get_webhook(self, webhook_id: str) -> Webhook:
        """One of the key's webhooks."""
        return self._send(_routes.get_webhook(webhook_id))

    def delete_webhook(self, webhook_id: str) -> None:
        """Delete a webhook and its pending deliveries."""
        self._send(_routes.delete_webhook(webhook_id))
