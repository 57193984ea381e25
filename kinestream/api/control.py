"""Publishing an analysis's control messages (start, end) on the control topic."""

from __future__ import annotations

from kinestream import wire
from kinestream.api.dependencies import Services
from kinestream.store import analyses as analysis_store
from kinestream.store.analyses import AnalysisRecord


def publish_control(services: Services, message: wire.ControlMessage) -> None:
    """Publish a control message keyed by its stream id and wait for Kafka (in a thread).

    Raises :class:`~kinestream.api.producer.KafkaUnavailableError` when Kafka does not take it.
    """
    key, value = wire.encode_control(message)
    services.publisher.send_blocking(services.settings.topics.control, key, value)


async def request_stop(
    services: Services, analysis: AnalysisRecord, last_seq: int | None
) -> AnalysisRecord:
    """Publish the analysis's end message unless it was stopped or has ended already.

    ``last_seq`` defaults to the last frame an ingest socket delivered.
    """

    def publish(seq: int | None) -> None:
        publish_control(services, wire.EndMessage(analysis.stream_id, seq))

    record = await services.database.run(
        analysis_store.request_stop, analysis.api_key_id, analysis.analysis_id, publish, last_seq
    )
    return record if record is not None else analysis
