"""One stream's analysis: pose samples in, analysis events out.

:class:`StreamAnalyzer` is a plain, picklable object. It orders the stream (duplicates and
late frames dropped, gaps counted), measures the body in each frame, keeps to one athlete
when the pose tracker jumps to someone else (:mod:`kinestream.operators.athlete_lock`;
another person's frames count as frames without the athlete), calibrates on quiet
standing, smooths the CoM (:mod:`kinestream.operators.smoothing`, which adds a fixed lag of
about 40 ms), runs the sport's phase machine and turns its outputs into
:class:`~kinestream.events.AnalysisEvent` values. Its state is bounded (a few seconds of
history) whatever the stream's length.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

from kinestream.events import AnalysisEvent, EventType
from kinestream.operators.anthropometry import BodyMeasurement, measure
from kinestream.operators.athlete_lock import AthleteLock
from kinestream.operators.calibration import Calibration, QuietStandingDetector
from kinestream.operators.phases.base import (
    Frame,
    JumpMachine,
    MachineWarning,
    Output,
    PhaseChange,
    RepResult,
    rounded,
)
from kinestream.operators.phases.cmj import CountermovementJump
from kinestream.operators.phases.drop_jump import DropJump
from kinestream.operators.phases.squat_jump import SquatJump
from kinestream.operators.pose import PoseSample, drawable_pose
from kinestream.operators.quality import QualityTracker
from kinestream.operators.smoothing import LocalQuadraticSmoother, half_window
from kinestream.sports import Sport

LOST_AFTER_S: Final = 0.5
MAX_LEG_CHANGE: Final = 0.35
MAX_JUMP_PER_S: Final = 4.0
MAX_STANDING_DRIFT_M: Final = 0.30
CALIBRATING: Final = "calibrating"


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """What a stream's analysis needs to know from the start."""

    stream_id: str
    sport: Sport
    athlete_height_m: float
    box_height_m: float | None = None
    echo_pose: bool = False
    """Put each frame's pose (:func:`~kinestream.operators.pose.drawable_pose`) in its
    ``metric_update``, for a live skeleton."""

    def __post_init__(self) -> None:
        if not self.stream_id:
            raise ValueError("stream id must not be empty")
        if not 0.5 < self.athlete_height_m < 2.6:
            raise ValueError("athlete height must be between 0.5 m and 2.6 m")
        if self.sport is Sport.DROP_JUMP:
            if self.box_height_m is None or not 0.05 <= self.box_height_m <= 1.5:
                raise ValueError("a drop jump needs a box height between 0.05 m and 1.5 m")
        elif self.box_height_m is not None:
            raise ValueError("box height applies to drop jumps only")


def _machine(config: StreamConfig, calibration: Calibration) -> JumpMachine:
    if config.sport is Sport.CMJ:
        return CountermovementJump(calibration)
    if config.sport is Sport.SQUAT_JUMP:
        return SquatJump(calibration)
    assert config.box_height_m is not None
    return DropJump(calibration, config.box_height_m)


class StreamAnalyzer:
    """The per-stream analysis: feed samples in capture order, collect events."""

    def __init__(self, config: StreamConfig) -> None:
        self.config = config
        self.last_seq: int | None = None
        self.last_time_s: float | None = None
        self.first_time_s: float | None = None
        self.frames = 0
        self.dropped_frames = 0
        self.late_frames = 0
        self.reps = 0
        self.best: dict[str, float] = {}
        self._detector = QuietStandingDetector(config.athlete_height_m)
        self._calibration: Calibration | None = None
        self._machine: JumpMachine | None = None
        self._smoother: LocalQuadraticSmoother | None = None
        self._pending: deque[tuple[int, float, float, float, dict[str, Any] | None]] = deque()
        self._last_body: tuple[float, BodyMeasurement] | None = None
        self._missing_since: float | None = None
        self._lock = AthleteLock()
        self._ignoring_other = False
        self._quality = QualityTracker()
        self._events: list[AnalysisEvent] = []
        self._index: dict[tuple[str, int], int] = {}

    @property
    def phase(self) -> str:
        """The current phase of the movement, or ``calibrating``."""
        return self._machine.phase if self._machine is not None else CALIBRATING

    def process(self, sample: PoseSample) -> list[AnalysisEvent]:
        """Analyse one sample and return the events it produced (possibly none)."""
        self._events, self._index = [], {}
        if self.last_seq is not None and sample.seq <= self.last_seq:
            if sample.seq < self.last_seq:
                self.late_frames += 1
            return []
        if self.last_time_s is not None and sample.timestamp_s <= self.last_time_s:
            self._emit(
                "error",
                sample.seq,
                sample.timestamp_s,
                {
                    "code": "timestamp_not_increasing",
                    "message": "frame dropped: its capture "
                    "timestamp is not after the previous frame's",
                },
            )
            return self._events
        if self.last_seq is not None and sample.seq > self.last_seq + 1:
            gap = sample.seq - self.last_seq - 1
            self.dropped_frames += gap
            self._quality.dropped(gap)
        self.last_seq = sample.seq
        self.last_time_s = sample.timestamp_s
        if self.first_time_s is None:
            self.first_time_s = sample.timestamp_s
        self.frames += 1
        body = self._accept(sample)
        if body is None:
            self._on_missing(sample)
        else:
            self._missing_since = None
            self._on_body(sample, body)
        return self._events

    def finish(self, reason: str) -> list[AnalysisEvent]:
        """Flush the frames still in the smoother and emit the session summary."""
        self._events, self._index = [], {}
        if self._smoother is not None:
            for tag, time_s, value, slope in self._smoother.flush():
                self._on_frame(tag, time_s, value, slope)
        seq = self.last_seq if self.last_seq is not None else 0
        time_s = self.last_time_s if self.last_time_s is not None else 0.0
        duration = time_s - self.first_time_s if self.first_time_s is not None else 0.0
        self._emit(
            "session_summary",
            seq,
            time_s,
            {
                "sport": self.config.sport.value,
                "reps": self.reps,
                "frames": self.frames,
                "dropped_frames": self.dropped_frames,
                "late_frames": self.late_frames,
                "duration_s": round(duration, 4),
                "best": rounded(self.best),
                "reason": reason,
            },
        )
        return self._events

    # -- internals -------------------------------------------------------------------------

    def _emit(self, kind: EventType, seq: int, time_s: float, payload: dict[str, Any]) -> None:
        key = (kind, seq)
        index = self._index.get(key, 0)
        self._index[key] = index + 1
        self._events.append(
            AnalysisEvent(kind, self.config.stream_id, seq, time_s, payload, index=index)
        )

    def _warn(self, seq: int, time_s: float, code: str, message: str) -> None:
        self._emit("quality_warning", seq, time_s, {"code": code, "message": message})

    def _accept(self, sample: PoseSample) -> BodyMeasurement | None:
        """Measure the body, rejecting frames where the tracker jumped to someone else."""
        body = measure(sample)
        if body is not None and not self._lock.accept(sample.timestamp_s, body):
            if not self._ignoring_other:
                self._ignoring_other = True
                self._warn(
                    sample.seq,
                    sample.timestamp_s,
                    "other_person",
                    "the pose tracker found someone out of the athlete's reach; "
                    "ignoring them until the athlete is back in view",
                )
            return None
        if body is not None:
            self._ignoring_other = False
        if body is None or self._calibration is None:
            if body is not None:
                self._last_body = (sample.timestamp_s, body)
            return body
        cal = self._calibration
        if abs(body.leg_length_px / cal.leg_length_px - 1.0) > MAX_LEG_CHANGE:
            return None
        if self._last_body is not None:
            last_t, last = self._last_body
            dt = max(sample.timestamp_s - last_t, 1e-3)
            jump_px = math.hypot(body.com_x_px - last.com_x_px, body.com_y_px - last.com_y_px)
            if jump_px * cal.m_per_px > MAX_JUMP_PER_S * dt + 0.1:
                return None
        self._last_body = (sample.timestamp_s, body)
        return body

    def _on_missing(self, sample: PoseSample) -> None:
        self._emit("metric_update", sample.seq, sample.timestamp_s, self._idle_payload(None))
        if self._missing_since is None:
            self._missing_since = sample.timestamp_s
        if (
            self._calibration is not None
            and sample.timestamp_s - self._missing_since > LOST_AFTER_S
        ):
            self._reset(sample, "athlete_lost", "athlete not in view; calibrating again")

    def _reset(self, sample: PoseSample, code: str, message: str) -> None:
        if self.phase == "flight" or (self._machine is not None and self._machine.flight):
            message += " (a repetition in progress was lost)"
        self._warn(sample.seq, sample.timestamp_s, code, message)
        if self._machine is not None:
            self._phase_event(
                sample.seq,
                sample.timestamp_s,
                PhaseChange(self.phase, CALIBRATING, sample.timestamp_s),
            )
        self._calibration = None
        self._machine = None
        self._smoother = None
        self._pending.clear()
        self._detector.reset()
        self._last_body = None

    def _on_body(self, sample: PoseSample, body: BodyMeasurement) -> None:
        cal = self._calibration
        pose = drawable_pose(sample) if self.config.echo_pose else None
        if cal is None:
            self._emit("metric_update", sample.seq, sample.timestamp_s, self._idle_payload(pose))
            cal = self._detector.push(sample.timestamp_s, body)
            if cal is not None:
                self._calibrated(sample, cal)
            return
        machine = self._machine
        assert machine is not None
        assert self._smoother is not None
        drift = abs(body.com_x_px - cal.com_x_px) * cal.m_per_px
        if machine.phase in ("standing", "stable", "on_box") and drift > MAX_STANDING_DRIFT_M:
            self._emit("metric_update", sample.seq, sample.timestamp_s, self._idle_payload(pose))
            self._reset(sample, "athlete_moved", "athlete moved away; calibrating again")
            return
        self._quality.visibility(body.visibility)
        foot = cal.above_floor_m(body.foot_y_px)
        contact = cal.above_floor_m(body.contact_y_px)
        com = cal.height_m(body.com_y_px)
        self._pending.append((sample.seq, foot, contact, com, pose))
        for ready in self._smoother.push(sample.timestamp_s, com, sample.seq):
            self._on_frame(*ready)

    def _calibrated(self, sample: PoseSample, cal: Calibration) -> None:
        self._calibration = cal
        self._smoother = LocalQuadraticSmoother(half_window(cal.fps))
        self._machine = _machine(self.config, cal)
        self._quality.calibrated(cal.fps)
        self._phase_event(
            sample.seq,
            sample.timestamp_s,
            PhaseChange(CALIBRATING, self._machine.phase, sample.timestamp_s),
        )
        low_fps = self._quality.low_fps_message()
        if low_fps is not None:
            self._warn(sample.seq, sample.timestamp_s, "low_fps", low_fps)

    def _on_frame(self, seq: int, time_s: float, com: float, velocity: float) -> None:
        while self._pending and self._pending[0][0] < seq:
            self._pending.popleft()
        if not self._pending or self._machine is None:
            return
        _, foot, contact, com_raw, pose = self._pending.popleft()
        frame = Frame(seq, time_s, com, velocity, com_raw, foot, contact)
        outputs = self._machine.update(frame)
        payload: dict[str, Any] = {
            "phase": self._machine.phase,
            "com_height_m": round(com, 4),
            "com_velocity_m_s": round(velocity, 4),
        }
        if self.config.echo_pose:
            payload["pose"] = pose
        self._emit("metric_update", seq, time_s, payload)
        for output in outputs:
            self._output(seq, time_s, output)

    def _output(self, seq: int, time_s: float, output: Output) -> None:
        if isinstance(output, PhaseChange):
            self._phase_event(seq, time_s, output)
        elif isinstance(output, MachineWarning):
            self._warn(seq, time_s, output.code, output.message)
        elif isinstance(output, RepResult):
            self.reps += 1
            for name, value in output.metrics.items():
                if isinstance(value, float) and name in ("jump_height_m", "rsi", "flight_time_s"):
                    self.best[name] = max(self.best.get(name, value), value)
            quality = self._quality.rep_quality(output.warnings, output.confidence)
            self._emit(
                "rep_complete",
                seq,
                time_s,
                {
                    "rep": self.reps,
                    "sport": self.config.sport.value,
                    "metrics": rounded(output.metrics, 5),
                    "quality": quality,
                },
            )

    def _phase_event(self, seq: int, time_s: float, change: PhaseChange) -> None:
        in_rep = change.to_phase not in ("standing", "stable", "on_box", CALIBRATING)
        self._emit(
            "phase_change",
            seq,
            time_s,
            {
                "from_phase": change.from_phase,
                "to_phase": change.to_phase,
                "phase_time_s": round(change.time_s, 5),
                "rep": self.reps + 1 if in_rep else self.reps,
            },
        )

    def _idle_payload(self, pose: dict[str, Any] | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "phase": self.phase,
            "com_height_m": None,
            "com_velocity_m_s": None,
        }
        if self.config.echo_pose:
            payload["pose"] = pose
        return payload
