"""Ending dead analyses: every API instance looks for them now and then.

An analysis the dataflow no longer finishes (see :mod:`kinestream.store.session_end`) is
ended here: every ``reaper_interval_s``, each dead analysis is ended in the database and its
final ``session_summary`` is published on the events topic (its watchers get it and the
watch socket closes) and on the webhooks topic (its webhooks get it), before the end is
committed. Instances may all run this at once: the database lets one end each analysis.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg

from kinestream import wire
from kinestream.api.dependencies import Services
from kinestream.api.producer import KafkaUnavailableError
from kinestream.store import session_end
from kinestream.store.session_end import EndedAnalysis

_log = logging.getLogger(__name__)


def _publish_final_event(services: Services, ended: EndedAnalysis) -> None:
    """Publish the final event on the events and webhooks topics; wait for Kafka (thread)."""
    topics = services.settings.topics
    key, value, headers = wire.encode_event(ended.event)
    services.publisher.send_blocking(topics.events, key, value, headers)
    if ended.api_key_id:
        item = wire.WebhookEvent(
            ended.event, ended.analysis_id, ended.api_key_id, ended.sport, ended.athlete_id
        )
        key, value = wire.encode_webhook(item)
        services.publisher.send_blocking(topics.webhooks, key, value)


async def end_dead_analyses(services: Services) -> list[EndedAnalysis]:
    """End every analysis that is dead now (one pass); return those this instance ended."""
    timeouts = services.settings.session_timeouts
    ended: list[EndedAnalysis] = []
    for analysis_id in await services.database.run(session_end.dead_analyses, timeouts):
        done = await services.database.run(
            session_end.end_dead_analysis,
            analysis_id,
            timeouts,
            lambda item: _publish_final_event(services, item),
        )
        if done is not None:
            _log.info("analysis %s ended: %s", analysis_id, done.event.payload["reason"])
            ended.append(done)
    return ended


async def end_dead_analyses_forever(services: Services) -> None:
    """Run :func:`end_dead_analyses` every ``reaper_interval_s`` until cancelled."""
    while True:
        try:
            await end_dead_analyses(services)
        except (psycopg.Error, KafkaUnavailableError) as error:
            _log.warning("could not end dead analyses (tried again later): %s", error)
        await asyncio.sleep(services.settings.reaper_interval_s)
