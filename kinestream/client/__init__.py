"""The kinestream Python SDK: create analyses, send their poses or frames, follow their
events live or read them back, and register and verify webhooks.

:class:`Client` is synchronous, :class:`AsyncClient` the same for asyncio. Both return the
API's own models (:mod:`kinestream.api.models`: :class:`AnalysisCreated`,
:class:`Analysis`, :class:`Event`, …), live events as
:class:`~kinestream.events.AnalysisEvent`, and raise :class:`KinestreamError` subclasses
(:mod:`kinestream.client.errors`) carrying the server's ``detail``::

    from kinestream.client import Client

    with Client("http://127.0.0.1:8000", api_key) as client:
        created = client.create_analysis("cmj", athlete_height_m=1.80)
        with client.ingest(created.analysis_id) as session:  # closing it ends the analysis
            for sample in poses:  # kinestream.operators.pose.PoseSample values
                session.send_pose(sample, fps=60.0)
        for event in client.watch(created.analysis_id):  # resumes after disconnections
            if event.event_type == "rep_complete":
                print(event.payload["rep"], event.payload["metrics"]["jump_height_m"])
        # the loop ends after the session_summary

With asyncio, the same calls are awaited, and a watch token (``created.watch.token``) lets
someone without the API key follow the analysis::

    async with AsyncClient("http://127.0.0.1:8000", None) as viewer:
        async for event in viewer.watch(analysis_id, token=watch_token):
            ...

A webhook receiver checks each delivery (raw body, ``Kinestream-Signature`` header) and
gets its JSON::

    delivery = verify_webhook(secret, body, headers.get("Kinestream-Signature"))
"""

from kinestream.api.models import (
    Analysis,
    AnalysisCreated,
    Event,
    SportsCatalogue,
    StopAccepted,
    Webhook,
    WebhookCreated,
)
from kinestream.client._http import RetryPolicy
from kinestream.client.aio import AsyncClient
from kinestream.client.errors import (
    ApiError,
    AuthError,
    ConflictError,
    ConnectionFailedError,
    IngestError,
    KinestreamError,
    NotFoundError,
    RateLimitError,
    ServiceUnavailableError,
    StreamClosedError,
    ValidationError,
    WebhookSignatureError,
)
from kinestream.client.ingest import AsyncIngestSession, IngestSession
from kinestream.client.sync import Client
from kinestream.client.watch import AsyncWatch, ReconnectPolicy, Watch
from kinestream.client.webhooks import verify_webhook
from kinestream.events import AnalysisEvent

__all__ = [
    "Analysis",
    "AnalysisCreated",
    "AnalysisEvent",
    "ApiError",
    "AsyncClient",
    "AsyncIngestSession",
    "AsyncWatch",
    "AuthError",
    "Client",
    "ConflictError",
    "ConnectionFailedError",
    "Event",
    "IngestError",
    "IngestSession",
    "KinestreamError",
    "NotFoundError",
    "RateLimitError",
    "ReconnectPolicy",
    "RetryPolicy",
    "ServiceUnavailableError",
    "SportsCatalogue",
    "StopAccepted",
    "StreamClosedError",
    "ValidationError",
    "Watch",
    "Webhook",
    "WebhookCreated",
    "WebhookSignatureError",
    "verify_webhook",
]
