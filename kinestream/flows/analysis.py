"""The analysis dataflow: Kafka in, one stateful analyzer per stream, three outputs.

    poses / control / frames topics ──decode and measure (per batch)──► (stream id, item)
        ──stateful "analyze"──►
        ├─► events topic    (every event, key = stream id; frames' values a few at a time)
        ├─► webhooks topic  (every event but the per-frame ones, of sessions owned by an
        │                    API key)
        └─► database        (analyses, reps, frame_metrics, events; idempotent; a row it
                             refuses becomes an error event and a dead letter)

A message that cannot be decoded becomes an ``error`` event of its stream (key), so the
flow never stops on bad input; one without a usable key becomes an error of the stream
``_unkeyed``, which no session has. See :mod:`kinestream.flows.stream_logic` for the session
lifecycle and :mod:`kinestream.wire` for every format.

With a recovery directory, each worker records the item it is analysing
(:mod:`kinestream.flows.inflight`); a message that made workers die twice is quarantined
when the flow starts again: it goes to the ``deadletter`` topic (with its topic, partition
and offset) and becomes an ``error`` event (``quarantined``) of its stream, instead of
killing the flow on every restart.

Run it with ``kinestream flow`` (see ``kinestream flow --help``), or directly::

    KINESTREAM_KAFKA=127.0.0.1:9092 python -m bytewax.run kinestream.flows.analysis:flow

where ``flow`` is built from the environment (:meth:`FlowSettings.from_env`) on first
access.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

import bytewax.operators as op
from bytewax.connectors.kafka import (
    KafkaError,
    KafkaSink,
    KafkaSinkMessage,
    KafkaSource,
    KafkaSourceMessage,
)
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source
from bytewax.operators import KeyedStream
from bytewax.outputs import Sink
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, TIMESTAMP_NOT_AVAILABLE

from kinestream import wire
from kinestream.connectors.database import DatabaseSink, RefusalOutlet
from kinestream.connectors.jpeg import decode_jpeg
from kinestream.events import AnalysisEvent
from kinestream.flows.budget import PoseBackend
from kinestream.flows.inflight import (
    DEFAULT_QUARANTINE_AFTER,
    Identity,
    InflightLog,
    crash_hook_from_env,
    identity_of,
)
from kinestream.flows.pose_stage import PoseStageSettings, batched_poses
from kinestream.flows.stream_logic import (
    Analyzer,
    AnalyzerFactory,
    BadMessage,
    EstimatorFactory,
    KeyedInput,
    StreamSettings,
    stream_logic_builder,
)
from kinestream.operators.anthropometry import measure_samples
from kinestream.operators.blazepose.batcher import BatchPolicy
from kinestream.operators.pose import FloatArray, PoseEstimator, PoseSample
from kinestream.session import SessionEvent

RawMessage = KafkaSourceMessage[bytes | None, bytes | None]
OutMessage = KafkaSinkMessage[bytes | None, bytes | None]
Decoded = tuple[Literal["ok"], KeyedInput] | tuple[Literal["error"], SessionEvent]

UNKEYED_STREAM = "_unkeyed"
"""Stream id given to errors of messages without a usable key (never a session's)."""

_log = logging.getLogger(__name__)

GC_THRESHOLDS: Final = (50_000, 20, 10)
"""The flow process's garbage-collection thresholds (:func:`collect_rarely`)."""


@dataclass(frozen=True, slots=True)
class FlowSettings:
    """Everything the analysis dataflow needs to know about its surroundings."""

    brokers: tuple[str, ...] = ("127.0.0.1:9092",)
    topics: wire.Topics = field(default_factory=wire.Topics)
    database_url: str | None = None
    frames: bool = True
    """Also consume the frames topic and estimate poses in the flow."""
    pose: PoseBackend = "onnx"
    """Frames mode's poses: ``onnx``, frames of many streams batched through BlazePose on
    ONNX Runtime (:mod:`kinestream.flows.pose_stage`); ``mediapipe``, a graph per stream."""
    pose_stage: PoseStageSettings = field(default_factory=PoseStageSettings)
    from_end: bool = False
    """Without recovery state, start at the topics' end instead of their beginning."""
    tail: bool = True
    """Wait for new messages at the topics' end (``False``: stop there; tests, backfills)."""
    stream: StreamSettings = field(default_factory=StreamSettings)
    kafka_batch_size: int | None = None
    """Messages the source hands on at most per batch; outputs leave at the end of a batch.
    ``None``: 1000 for poses only, 32 with frames (pose estimation takes milliseconds a
    frame, and a long batch would hold the events of its first frames back)."""
    kafka_config: Mapping[str, str] = field(default_factory=dict)
    database_batch_rows: int = 5000
    flow_id: str = "kinestream_analysis"
    inflight_dir: Path | None = None
    """Where each worker records the item it is analysing (``RECOVERY_DIR/inflight``);
    ``None``: no crash-loop guard (:mod:`kinestream.flows.inflight`)."""
    process_id: int = 0
    quarantine_after: int = DEFAULT_QUARANTINE_AFTER
    """Deaths on one message before a start skips it."""

    @property
    def source_batch_size(self) -> int:
        """The Kafka source's batch size (see ``kafka_batch_size``)."""
        if self.kafka_batch_size is not None:
            return self.kafka_batch_size
        return 32 if self.frames else 1000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FlowSettings:
        """Read ``KINESTREAM_KAFKA`` (comma-separated brokers), ``KINESTREAM_DATABASE_URL``,
        ``KINESTREAM_TOPIC_*``, ``KINESTREAM_FRAMES`` (``0`` to skip frames),
        ``KINESTREAM_IDLE_TIMEOUT_S``, ``KINESTREAM_MAX_FRAME_STREAMS``,
        ``KINESTREAM_POSE`` (``onnx`` or ``mediapipe``), ``KINESTREAM_DEVICE`` (``cpu`` or
        ``cuda``; default: CUDA when available), ``KINESTREAM_POSE_BUCKETS``,
        ``KINESTREAM_MAX_FRAME_LAG_S`` (the pose stage's bound on how far behind live a
        frame may be, ``0``: never drop one) and ``KINESTREAM_FROM_END`` (``1``)."""
        env = os.environ if environ is None else environ
        brokers = tuple(
            b.strip() for b in env.get("KINESTREAM_KAFKA", "127.0.0.1:9092").split(",") if b
        )
        stream = StreamSettings(
            idle_timeout_s=float(env.get("KINESTREAM_IDLE_TIMEOUT_S", "30")),
            end_grace_s=float(env.get("KINESTREAM_END_GRACE_S", "5")),
            max_frame_streams=(
                int(env["KINESTREAM_MAX_FRAME_STREAMS"])
                if env.get("KINESTREAM_MAX_FRAME_STREAMS")
                else None
            ),
        )
        pose, device = env.get("KINESTREAM_POSE", "onnx"), env.get("KINESTREAM_DEVICE", "")
        if pose not in ("onnx", "mediapipe") or device not in ("", "cpu", "cuda"):
            raise ValueError(
                f"KINESTREAM_POSE must be onnx or mediapipe and KINESTREAM_DEVICE cpu or cuda, "
                f"got {pose!r} and {device!r}"
            )
        lag = env.get("KINESTREAM_MAX_FRAME_LAG_S")
        pose_stage = PoseStageSettings(
            device="cuda" if device == "cuda" else "cpu" if device == "cpu" else None,
            policy=BatchPolicy(max_frame_lag_s=float(lag)) if lag else BatchPolicy(),
            buckets=int(env.get("KINESTREAM_POSE_BUCKETS", "1")),
        )
        return cls(
            brokers=brokers,
            topics=wire.Topics.from_env(env),
            database_url=env.get("KINESTREAM_DATABASE_URL") or None,
            frames=env.get("KINESTREAM_FRAMES", "1") != "0",
            pose="mediapipe" if pose == "mediapipe" else "onnx",
            pose_stage=pose_stage,
            from_end=env.get("KINESTREAM_FROM_END", "0") == "1",
            stream=stream,
        )


@dataclass(frozen=True)
class FlowIO:
    """Where the flow reads and writes; ``None`` means the real Kafka / database edge."""

    source: Source[Any] | None = None
    """Yields :class:`KafkaSourceMessage` values (a test passes a ``TestingSource``)."""
    events: Sink[OutMessage] | None = None
    webhooks: Sink[OutMessage] | None = None
    database: Sink[SessionEvent] | None = None
    deadletter: Sink[OutMessage] | None = None
    analyzer_factory: AnalyzerFactory | None = None
    estimator_factory: EstimatorFactory | None = None
    """A per-stream pose estimator for frames mode, instead of the settings' ``pose``."""


# --- steps -------------------------------------------------------------------------------


def decode_message(
    topics: wire.Topics, msg: RawMessage, quarantined: Mapping[Identity, int] | None = None
) -> Decoded:
    """Decode one consumed message by its topic.

    A message of a known stream that cannot be decoded goes to that stream's step as a
    :class:`BadMessage`; one without a usable key becomes an ``error`` event at once. So
    does a message among ``quarantined`` (items workers died on, with how many times): its
    :class:`BadMessage` carries the dead letter.
    """
    try:
        stream_id = wire.decode_key(msg.key)
    except wire.WireError as exc:
        return "error", _unkeyed_error(msg, exc)
    try:
        item: wire.StartMessage | wire.EndMessage | wire.Frame | Any
        if msg.topic == topics.poses:
            item = wire.decode_pose(msg.key, msg.value, msg.headers)
        elif msg.topic == topics.control:
            item = wire.decode_control(msg.key, msg.value)
        elif msg.topic == topics.frames:
            frame = wire.decode_frame(msg.key, msg.value, msg.headers)
            item = replace(frame, produced_s=kafka_time_s(msg.timestamp))
        else:
            raise wire.WireError(f"message from unexpected topic {msg.topic!r}")
    except wire.WireError as exc:
        return "ok", (stream_id, _bad_message(msg, exc))
    except Exception as exc:  # a decoder bug must not stop the flow either
        _log.exception("decoding a message of stream %r failed", stream_id)
        return "ok", (stream_id, _bad_message(msg, exc))
    if quarantined:
        deaths = quarantined.get(identity_of(stream_id, item))
        if deaths is not None:
            return "ok", (stream_id, _quarantine(topics, msg, deaths))
    return "ok", (stream_id, item)


def kafka_time_s(timestamp: tuple[int, int] | None) -> float | None:
    """A consumed message's Kafka timestamp in Unix seconds (its producer's create time, or
    the broker's log-append time on a topic set so); ``None`` when it has none."""
    if timestamp is None:
        return None
    kind, ms = timestamp
    return ms / 1000 if kind != TIMESTAMP_NOT_AVAILABLE and ms >= 0 else None


def _quarantine(topics: wire.Topics, msg: RawMessage, deaths: int) -> BadMessage:
    why = (
        f"the dataflow's worker died {deaths} times while processing this message (a crash, "
        "or killed, or out of memory); it was skipped when the flow started again"
    )
    letter = wire.QuarantinedMessage(
        "worker_died",
        why,
        msg.key,
        msg.value,
        tuple((name, value or b"") for name, value in msg.headers or ()),
        msg.topic,
        msg.partition,
        msg.offset,
    )
    bad = _bad_message(msg, wire.WireError(f"{why}; it is on the topic {topics.deadletter}"))
    return BadMessage(bad.seq, bad.index, bad.message, "quarantined", letter)


def _dead_letter_message(item: KeyedInput | tuple[str, KeyedInput]) -> OutMessage | None:
    if type(item[1]) is tuple:  # keyed for the per-stream step
        item = item[1]
    letter = item[1].dead_letter if isinstance(item[1], BadMessage) else None
    if letter is None:
        return None
    key, value, headers = wire.encode_quarantined(letter)
    return KafkaSinkMessage(key, value, headers=headers)


def _bad_message(msg: RawMessage, exc: Exception) -> BadMessage:
    # Deterministic event id: the frame's seq when readable (else -1), and the message's
    # place in Kafka as the index, so two bad messages never share an id.
    seq = wire.header_seq(msg.headers)
    where = f"topic {msg.topic}, partition {msg.partition}, offset {msg.offset}"
    index = zlib.crc32(where.encode()) & 0x7FFFFFFF
    code = exc.code if isinstance(exc, wire.WireError) else wire.BAD_MESSAGE
    return BadMessage(seq if seq is not None else -1, index, f"{exc} ({where})", code)


def _unkeyed_error(msg: RawMessage, exc: Exception) -> SessionEvent:
    bad = _bad_message(msg, exc)
    payload = {"code": "bad_message", "message": bad.message}
    event = AnalysisEvent("error", UNKEYED_STREAM, bad.seq, 0.0, payload, index=bad.index)
    return SessionEvent(UNKEYED_STREAM, None, event)


def event_message(out: SessionEvent) -> OutMessage | None:
    """The events-topic message of one output (``None`` for a session announcement)."""
    if out.event is None:
        return None
    try:
        key, value, headers = wire.encode_event(out.event)
    except wire.WireError as exc:
        key, value, headers = wire.encode_event(_unencodable(out.event, exc))
    return KafkaSinkMessage(key, value, headers=headers)


def _unencodable(event: AnalysisEvent, exc: Exception) -> AnalysisEvent:
    """The ``error`` event that stands in, at the same position, for an event that JSON
    cannot carry (a non-finite number from an analysis gone wrong)."""
    _log.error("stream %r: %s event not encodable: %s", event.stream_id, event.event_type, exc)
    capture = event.capture_time_s if math.isfinite(event.capture_time_s) else 0.0
    message = f"a {event.event_type} event could not be encoded ({exc}); this error replaces it"
    payload = {"code": "unencodable_event", "message": message}
    index = 1_000_000 + event.index  # apart from the analysis's own errors at this seq
    return AnalysisEvent(
        "error", event.stream_id, event.seq, capture, payload, index, event.position
    )


def webhook_message(out: SessionEvent) -> OutMessage | None:
    """The webhooks-topic message of one output: events webhooks may subscribe to, of
    sessions owned by an API key (the dispatcher matches them to the registrations)."""
    session, event = out.session, out.event
    if (
        event is None
        or session is None
        or not session.api_key_id
        or event.event_type not in wire.WEBHOOK_EVENT_TYPES
    ):
        return None
    item = wire.WebhookEvent(
        event=event,
        analysis_id=session.effective_analysis_id,
        api_key_id=session.api_key_id,
        sport=session.sport,
        athlete_id=session.athlete_id,
    )
    try:
        key, value = wire.encode_webhook(item)
    except wire.WireError as exc:
        key, value = wire.encode_webhook(replace(item, event=_unencodable(event, exc)))
    return KafkaSinkMessage(key, value)


def default_analyzer_factory(start: wire.StartMessage) -> Analyzer:
    """Build the analyzer of a started session, a jump's or running's
    (:func:`~kinestream.operators.analyzers.analyzer_for`; ``ValueError`` if the start's
    parameters do not suit its sport), its ``metric_update``s sent a few frames to an event
    (:class:`~kinestream.operators.metric_batches.MetricBatcher`)."""
    from kinestream.operators.analyzers import analyzer_for
    from kinestream.operators.metric_batches import MetricBatcher

    analysis = analyzer_for(
        start.stream_id,
        start.sport,
        start.athlete_height_m,
        start.box_height_m,
        start.belt_speed_m_s,
        start.echo_pose,
    )
    analyzer: Analyzer = MetricBatcher(analysis)
    return analyzer


def default_estimator_factory() -> PoseEstimator:
    """Build a MediaPipe pose estimator (``pose="mediapipe"``: one per stream, rebuilt after
    a resume)."""
    from kinestream.operators.mediapipe_pose import MediaPipePoseEstimator

    estimator: PoseEstimator = MediaPipePoseEstimator()
    return estimator


# --- the flow ----------------------------------------------------------------------------


PREFETCH_MESSAGES: Final = 10_000
"""Messages each of the source's consumers (one a partition) fetches ahead at most."""


def kafka_source(settings: FlowSettings) -> KafkaSource:
    """The Kafka source of the flow's input topics.

    Each partition's consumer fetches at most :data:`PREFETCH_MESSAGES` ahead (librdkafka's
    ``queued.min.messages``; its default, 100,000 a partition, held over 10 s of a
    1,000-stream backlog in the flow's memory): with 1,000 streams falling behind, 95 KiB
    a stream in all instead of 160, at the same frames/s (``bench_flow``)."""
    topics = [settings.topics.poses, settings.topics.control]
    if settings.frames:
        topics.append(settings.topics.frames)
    return KafkaSource(
        list(settings.brokers),
        topics,
        tail=settings.tail,
        starting_offset=OFFSET_END if settings.from_end else OFFSET_BEGINNING,
        add_config={"queued.min.messages": str(PREFETCH_MESSAGES), **settings.kafka_config},
        batch_size=settings.source_batch_size,
        raise_on_errors=False,
    )


def build_flow(settings: FlowSettings, io: FlowIO | None = None) -> Dataflow:
    """Build the analysis dataflow; ``io`` replaces its edges (tests)."""
    io = io or FlowIO()
    flow = Dataflow(settings.flow_id)
    raw = op.input("input", flow, io.source or kafka_source(settings))
    inflight = None
    if settings.inflight_dir is not None:
        inflight = InflightLog(
            settings.inflight_dir, settings.process_id, settings.quarantine_after
        )
    quarantined = inflight.quarantined if inflight is not None else None
    frames = settings.frames and (settings.pose == "mediapipe" or io.estimator_factory is not None)
    pose_stage = settings.frames and not frames  # frames become poses in the batched stage
    decoder = BatchDecoder(settings.topics, quarantined, measure=not pose_stage)
    decoded = op.flat_map_batch("decode", raw, decoder)
    branches = op.branch("decoded_ok", decoded, _is_item)
    bad: Stream[SessionEvent] = branches.falses
    if quarantined:
        _log.warning("quarantining what workers died on: %s", sorted(quarantined))
        letters = op.filter_map("quarantined", branches.trues, _dead_letter_message)
        deadletter = io.deadletter or _kafka_sink(settings, settings.topics.deadletter)
        op.output("deadletter_out", letters, deadletter)
    keyed: KeyedStream[KeyedInput]
    if pose_stage:
        items: Stream[KeyedInput] = branches.trues
        items = batched_poses("pose_stage", items, settings.pose_stage, settings.stream, inflight)
        measured = op.flat_map_batch("measure", items, measure_poses)
        keyed = op.key_on("key_by_stream", measured, lambda item: item[0])
    else:  # decoded, measured and keyed in one step
        keyed = branches.trues
    builder = stream_logic_builder(
        io.analyzer_factory or default_analyzer_factory,
        settings.stream,
        (io.estimator_factory or default_estimator_factory) if frames else None,
        decode_jpeg if frames else None,
        inflight,
        crash_hook_from_env(),
    )
    analysed = op.key_rm("unkey", op.stateful("analyze", keyed, builder))
    outputs = op.merge("outputs", analysed, bad)

    events = op.filter_map("to_events", outputs, event_message)
    op.output("events_out", events, io.events or _kafka_sink(settings, settings.topics.events))
    hooks = op.filter_map("to_webhooks", outputs, webhook_message)
    op.output("webhooks_out", hooks, io.webhooks or _kafka_sink(settings, settings.topics.webhooks))
    database = io.database
    if database is None and settings.database_url:
        # Refused rows are reported where the events go, when that is Kafka.
        outlet = None
        if io.events is None:
            outlet = RefusalOutlet(settings.brokers, settings.topics, settings.kafka_config)
        database = DatabaseSink(
            settings.database_url, batch_rows=settings.database_batch_rows, outlet=outlet
        )
    if database is not None:
        op.output("database_out", outputs, database)
    return flow


def measure_poses(batch: list[KeyedInput], landmarks: FloatArray | None = None) -> list[KeyedInput]:
    """The batch with every pose sample measured, all streams' at once
    (:func:`~kinestream.operators.anthropometry.measure_samples`): the per-frame maths costs
    a few microseconds a frame this way, tens one frame at a time. ``landmarks``: those of
    the batch's samples that have them, stacked, as :func:`~kinestream.wire.decode_poses`
    gives them."""
    at = [i for i, (_, item) in enumerate(batch) if isinstance(item, PoseSample)]
    if not at:
        return batch
    try:
        samples = measure_samples([batch[i][1] for i in at], landmarks)  # type: ignore[misc]
    except Exception:  # each stream's analyzer measures its own, and fails on its own
        _log.exception("measuring a batch of %d poses failed; passed on unmeasured", len(at))
        return batch
    out = list(batch)
    for i, sample in zip(at, samples, strict=True):
        out[i] = (batch[i][0], sample)
    return out


class BatchDecoder:
    """The flow's first step on a batch of consumed messages, in their order: each
    message decoded (:func:`decode_message`; the pose messages all at once,
    :func:`~kinestream.wire.decode_poses`, with the same results), the poses measured
    together (:func:`measure_poses`, with ``measure``) and each item keyed by its stream
    for the per-stream step, ``(stream id, (stream id, item))`` (without ``measure``: the
    frames mode's pose stage comes first, so items stay ``(stream id, item)``). Errors of
    unkeyed messages come out as :class:`SessionEvent`; consumer errors are logged."""

    def __init__(
        self,
        topics: wire.Topics,
        quarantined: Mapping[Identity, int] | None,
        *,
        measure: bool,
    ) -> None:
        self.topics = topics
        self.quarantined = quarantined
        self.measure = measure

    def __call__(self, batch: list[Any]) -> list[Any]:
        """Decode (and measure, and key) one batch."""
        out: list[Any] = []
        poses: list[tuple[int, str, RawMessage]] = []  # (place in out, stream id, message)
        together = self.measure and not self.quarantined
        topic = self.topics.poses
        for msg in batch:
            if isinstance(msg, KafkaSourceMessage):
                if together and msg.topic == topic:
                    try:
                        stream_id = wire.decode_key(msg.key)
                    except wire.WireError as exc:
                        out.append(_unkeyed_error(msg, exc))
                        continue
                    poses.append((len(out), stream_id, msg))
                    out.append(None)
                    continue
                out.append(decode_message(self.topics, msg, self.quarantined)[1])
            elif isinstance(msg, KafkaError):
                _log_consumer_error("consumer_errors", msg)
        if not self.measure:
            return out
        landmarks = self._decode_poses(poses, out) if poses else None
        items = measure_poses([d for d in out if type(d) is tuple], landmarks)
        keyed = iter(items)
        return [(d[0], next(keyed)) if type(d) is tuple else d for d in out]

    def _decode_poses(
        self, poses: list[tuple[int, str, RawMessage]], out: list[Any]
    ) -> FloatArray | None:
        """Put the pose messages' items in their places in ``out``; the landmarks of their
        samples, stacked (``None``: decoded one by one)."""
        try:
            decoded, landmarks = wire.decode_poses(
                [(m.key, m.value, m.headers) for _, _, m in poses]
            )
        except Exception:  # a decoder bug: each message on its own, as decode_message does
            _log.exception("decoding a batch of %d poses failed; one by one", len(poses))
            for at, _, msg in poses:
                out[at] = decode_message(self.topics, msg)[1]
            return None
        for (at, stream_id, msg), item in zip(poses, decoded, strict=True):
            if isinstance(item, wire.WireError):
                out[at] = (stream_id, _bad_message(msg, item))
            else:
                out[at] = (stream_id, item)
        return landmarks


def _is_item(decoded: KeyedInput | tuple[str, KeyedInput] | SessionEvent) -> bool:
    return type(decoded) is tuple


def collect_rarely() -> None:
    """Set the flow's process up for long-lived state: what it holds once built (modules,
    the dataflow) is frozen out of garbage collection, and the youngest generation is
    collected every 50,000 allocations instead of 700 (:data:`GC_THRESHOLDS`).

    A worker holds every stream's state, about a thousand small objects a stream that live
    as long as it does, and makes a dozen short-lived ones a frame (freed by reference
    counting; collections find little). With the defaults, draining a backlog of 1,000
    streams spent a quarter of its time in the collector (2 s of 8, 15 full collections,
    pauses of up to 200 ms); with these, 0.1 to 0.3 s."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _kafka_sink(settings: FlowSettings, topic: str) -> KafkaSink:
    config = {"linger.ms": "5", "compression.type": "lz4", **settings.kafka_config}
    return KafkaSink(list(settings.brokers), topic, add_config=config)


def _log_consumer_error(step_id: str, error: KafkaError[Any, Any]) -> None:
    _log.warning("%s: Kafka consumer error %s", step_id, error.err)


def __getattr__(name: str) -> Dataflow:
    """``flow``: the dataflow built from the environment, for ``python -m bytewax.run``."""
    if name == "flow":
        return build_flow(FlowSettings.from_env())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
