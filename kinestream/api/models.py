"""Request and response bodies of the HTTP API (its OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from kinestream.events import EVENT_SCHEMA_VERSION, AnalysisEvent, EventType
from kinestream.operators.analyzer import StreamConfig
from kinestream.sports import Sport
from kinestream.store.analyses import AnalysisRecord, RepRecord, StoredEvent
from kinestream.wire import WireError, check_text

_EXAMPLE_ID = "5b1f0c2e-8d5a-4c4e-9a51-0f3b2d7c6e19"


def _storable(text: str) -> str:
    """Refuse what the wire refuses (:func:`kinestream.wire.check_text`): control
    characters, NUL among them, and unpaired surrogates."""
    try:
        return check_text(text, "text")
    except WireError as exc:
        raise ValueError(str(exc).removeprefix("text ")) from exc


Text = Annotated[str, AfterValidator(_storable)]
"""A string the database can store."""


class _Model(BaseModel):
    """A request body: unknown fields refused, and (by ``strict=True`` on each number and
    bool field) a bool is no number and a number no bool."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ErrorBody(BaseModel):
    """Every error: a readable reason."""

    detail: str = Field(examples=["analysis not found"])


# --- analyses ------------------------------------------------------------------------------


class AnalysisOptions(_Model):
    """How the analysis runs (besides who jumps and which movement)."""

    echo_pose: bool = Field(
        default=True,
        strict=True,
        description="Each metric_update on the watch socket also carries its frame's pose"
        " (33 normalized points, null where not visible), to draw the skeleton live (the"
        " live page does). The event history keeps the updates without it. Turn it off to"
        " save bandwidth when no one draws the skeleton.",
    )


class AnalysisCreate(_Model):
    """A new analysis: who jumps, which movement, and optionally a webhook for its results."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"sport": "cmj", "athlete_height_m": 1.8, "athlete_id": "athlete-17"},
                {"sport": "squat_jump", "athlete_height_m": 1.65, "options": {"echo_pose": False}},
                {
                    "sport": "drop_jump",
                    "athlete_height_m": 1.72,
                    "box_height_m": 0.4,
                    "webhook_url": "https://coach.example.com/hooks/kinestream",
                },
            ]
        }
    )

    sport: Sport
    athlete_height_m: float = Field(
        strict=True, gt=0.5, lt=2.6, description="Standing height; sets the video's metric scale."
    )
    box_height_m: float | None = Field(
        default=None,
        strict=True,
        ge=0.05,
        le=1.5,
        description="Height of the box dropped from: required for drop_jump, refused otherwise.",
    )
    belt_speed_m_s: float | None = Field(
        default=None,
        strict=True,
        gt=0.0,
        le=12.0,
        description="Running on a treadmill: its belt speed, which gives the speed and each"
        " step's length (without it they are measured on video); refused for other sports.",
    )
    athlete_id: Text | None = Field(default=None, min_length=1, max_length=200)
    options: AnalysisOptions = Field(default_factory=AnalysisOptions)
    webhook_url: Text | None = Field(
        default=None,
        max_length=2048,
        description="Also create a webhook for this analysis's rep_complete and"
        " session_summary events (its signing secret is returned once).",
    )

    @model_validator(mode="after")
    def _suits_the_analysis(self) -> Self:
        # The dataflow's own rules, so that the API refuses what the analysis would.
        StreamConfig("check", self.sport, self.athlete_height_m, self.box_height_m)
        if self.belt_speed_m_s is not None and self.sport is not Sport.RUNNING:
            raise ValueError("belt_speed_m_s applies to running only")
        return self


class KafkaIngest(BaseModel):
    """Where a producer with Kafka access publishes the analysis's input (see kinestream.wire)."""

    frames_topic: str
    poses_topic: str
    control_topic: str
    key: str = Field(description="The message key of every message: the stream id.")


class IngestLinks(BaseModel):
    """How to send the analysis's frames or poses."""

    kafka: KafkaIngest
    websocket: str = Field(description="The ingest WebSocket (binary KP pose / KF frame packets).")


class WatchLinks(BaseModel):
    """How to follow the analysis's results."""

    websocket: str = Field(description="The live events WebSocket.")
    events: str = Field(description="The event history (paged by position).")
    live: str = Field(
        description="The live page for a browser (skeleton, phase, reps); it carries the watch"
        " token in its #fragment, so share it as you would the token."
    )
    token: str = Field(
        description="A read-only watch token for the live WebSocket alone (share it instead of"
        " the API key): pass it as ?token= or as subprotocol bearer.<token>."
    )
    token_expires_at: datetime


class WebhookSecret(BaseModel):
    """The webhook created with the analysis."""

    webhook_id: str
    secret: str = Field(description="The signing secret; shown only in this response.")


class AnalysisCreated(BaseModel):
    """The created analysis and where to send its input and read its results."""

    analysis_id: str = Field(examples=[_EXAMPLE_ID])
    stream_id: str = Field(examples=[_EXAMPLE_ID])
    status: str = Field(examples=["created"])
    sport: Sport
    created_at: datetime
    ingest: IngestLinks
    watch: WatchLinks
    webhook: WebhookSecret | None = None


class Rep(BaseModel):
    """One completed repetition and its metrics (names carry their unit; see GET /sports)."""

    rep: int
    recorded_at: datetime
    takeoff_at: datetime | None
    metrics: dict[str, Any] = Field(examples=[{"flight_time_s": 0.52, "jump_height_m": 0.331}])
    quality: dict[str, Any]

    @classmethod
    def of(cls, rep: RepRecord) -> Rep:
        """The API form of a ``reps`` row."""
        return cls(
            rep=rep.rep,
            recorded_at=rep.recorded_at,
            takeoff_at=rep.takeoff_at,
            metrics=rep.metrics,
            quality=rep.quality,
        )


class Analysis(BaseModel):
    """An analysis: its parameters, status, repetitions and (once ended) summary."""

    analysis_id: str = Field(examples=[_EXAMPLE_ID])
    stream_id: str
    sport: Sport
    status: str = Field(
        description="created (start sent), running (the dataflow has it), ended or idle",
        examples=["running"],
    )
    end_reason: str | None = Field(
        description="Why it ended: end (stopped, or its input ended), idle (no input for the"
        " dataflow's idle timeout), idle_timeout or stopped_without_flow (ended by the API:"
        " nothing happened for the session idle timeout, or the dataflow did not confirm a"
        " stop within the stop grace period); null while open.",
        examples=["end"],
    )
    athlete_id: str | None
    athlete_height_m: float
    box_height_m: float | None
    options: AnalysisOptions
    created_at: datetime
    ended_at: datetime | None
    stop_requested_at: datetime | None
    reps: list[Rep]
    summary: dict[str, Any] | None = Field(description="The session_summary payload, once ended.")

    @classmethod
    def of(cls, record: AnalysisRecord, reps: list[RepRecord]) -> Analysis:
        """The API form of an ``analyses`` row and its ``reps``."""
        return cls(
            analysis_id=record.analysis_id,
            stream_id=record.stream_id,
            sport=record.sport,
            status=record.status,
            end_reason=record.end_reason,
            athlete_id=record.athlete_id,
            athlete_height_m=record.athlete_height_m,
            box_height_m=record.box_height_m,
            options=AnalysisOptions(**record.options),
            created_at=record.created_at,
            ended_at=record.ended_at,
            stop_requested_at=record.stop_requested_at,
            reps=[Rep.of(rep) for rep in reps],
            summary=record.summary,
        )


class StopRequest(_Model):
    """Optional facts for the end message."""

    last_seq: int | None = Field(
        default=None,
        strict=True,
        ge=0,
        lt=2**63,
        description="Sequence number of the last frame sent, so that the analysis waits for"
        " frames still on their way; default: the last one the ingest socket delivered.",
    )


class StopAccepted(BaseModel):
    """The stop was requested (the end message is published once per analysis)."""

    analysis_id: str = Field(examples=[_EXAMPLE_ID])
    status: str = Field(examples=["running"])
    stop_requested_at: datetime | None


# --- events --------------------------------------------------------------------------------


class Event(BaseModel):
    """An analysis event (see kinestream.events for each type's payload)."""

    schema_version: int = EVENT_SCHEMA_VERSION
    event_id: str
    event_type: EventType
    stream_id: str
    seq: int
    index: int = 0
    """Tells apart events of one type about one frame (part of the deterministic id)."""
    position: int
    capture_time_s: float
    payload: dict[str, Any]

    @classmethod
    def of(cls, event: AnalysisEvent | StoredEvent) -> Event:
        """The API form of an events-topic event or an ``events`` row (same fields)."""
        if isinstance(event, AnalysisEvent):
            assert event.position is not None
            return cls(
                schema_version=event.schema_version,
                event_id=event.event_id,
                event_type=event.event_type,
                stream_id=event.stream_id,
                seq=event.seq,
                index=event.index,
                position=event.position,
                capture_time_s=event.capture_time_s,
                payload=event.payload,
            )
        return cls(
            event_id=event.event_id,
            event_type=event.event_type,  # type: ignore[arg-type]
            stream_id=event.stream_id,
            seq=event.seq,
            index=event.index,
            position=event.position,
            capture_time_s=event.capture_time_s,
            payload=event.payload,
        )


class PositionedEvent(BaseModel):
    """One event at its position in the analysis's stream (0, 1, 2, … without gaps)."""

    position: int
    event: Event


class EventPage(BaseModel):
    """A page of an analysis's events, in position order."""

    analysis_id: str = Field(examples=[_EXAMPLE_ID])
    events: list[PositionedEvent]
    next: int | None = Field(
        description="Pass as ?after= for the next page; null when this page was the last so"
        " far (a running analysis may still add events: poll with the last position)."
    )


# --- sports --------------------------------------------------------------------------------


class Metric(BaseModel):
    """A metric a sport reports."""

    name: str = Field(examples=["jump_height_m"])
    unit: str = Field(examples=["m"])
    description: str


class SportInfo(BaseModel):
    """One movement kinestream analyses and how to film it."""

    sport: Sport
    metrics: list[Metric]
    box_height_required: bool
    view: list[str] = Field(description="How the video must be recorded.")
    recommended_fps: float


class PoseModel(BaseModel):
    """The pose estimator the analysis runs on frames (clients sending poses should match)."""

    name: str = Field(examples=["MediaPipe Pose"])
    version: str = Field(examples=["0.10.21"])
    model_complexity: int = Field(examples=[1])
    landmarks: int = Field(examples=[33])


class SportsCatalogue(BaseModel):
    """Every sport, its metrics and recording requirements, and the pose model."""

    pose_model: PoseModel
    sports: list[SportInfo]


# --- webhooks ------------------------------------------------------------------------------


class WebhookCreate(_Model):
    """A webhook: an HTTPS URL that receives signed POSTs of matching events."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://coach.example.com/hooks/kinestream",
                    "event_types": ["rep_complete", "session_summary"],
                    "sport": "drop_jump",
                }
            ]
        }
    )

    url: Text = Field(max_length=2048)
    event_types: list[str] | None = Field(
        default=None,
        max_length=16,
        description="Event types to deliver (any but metric_update); default rep_complete and"
        " session_summary.",
    )
    sport: Sport | None = Field(default=None, description="Only analyses of this sport.")
    analysis_id: UUID | None = Field(default=None, description="Only this analysis.")


class Webhook(BaseModel):
    """A registered webhook."""

    webhook_id: str
    url: str
    event_types: list[str]
    sport: Sport | None
    analysis_id: str | None
    created_at: datetime


class WebhookCreated(Webhook):
    """A new webhook, with its signing secret (shown only once)."""

    secret: str


class WebhookList(BaseModel):
    """The webhooks of the calling key."""

    webhooks: list[Webhook]
