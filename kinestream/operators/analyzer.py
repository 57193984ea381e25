"""One stream's analysis: pose samples in, analysis events out.

:class:`StreamAnalyzer` is a plain, picklable object. It orders the stream (duplicates and
late frames dropped, gaps counted), measures the body in each frame, keeps to one athlete
when the pose tracker jumps to someone else (:mod:`kinestream.operators.athlete_lock`;
another person's frames count as frames without the athlete), calibrates on quiet
standing, smooths the CoM (:mod:`kinestream.operators.smoothing`, which adds a fixed lag of
about 40 ms), runs the sport's phase machine and turns its outputs into
:class:`~kinestream.events.AnalysisEvent` values.

No lead-in is needed: until it is calibrated the analyzer keeps a look-back of the last
``LOOKBACK_S`` of measurements (at most ``LOOKBACK_FRAMES``). When quiet standing comes, the
look-back since the athlete arrived at that spot is analysed first, so a jump made before
the athlete stood still is found then and its repetition emitted late (its quality block
says ``calibrated_after_movement``). Without any quiet standing, a flight in the look-back
gives the calibration instead (its parabola the scale), tried every
``WITHOUT_STANDING_EVERY_S`` once the look-back is nearly full and at the end of the stream.
A warning code fires once per episode (again only after ``WARNING_EPISODE_S`` without it);
phase times never go backwards; a session without repetitions says why in its summary
(``no_reps_reason``). Its state is bounded (a few seconds of history) whatever the stream's
length.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Final

from kinestream.events import AnalysisEvent, EventType
from kinestream.operators.anthropometry import BodyMeasurement, measure
from kinestream.operators.athlete_lock import AthleteLock
from kinestream.operators.calibration import (
    Calibration,
    QuietStandingDetector,
    calibration_without_standing,
)
from kinestream.operators.frame_order import FrameOrder
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
from kinestream.operators.view import TOE_STAND_LIFT, UNRELIABLE, ViewTracker
from kinestream.sports import Sport

LOST_AFTER_S: Final = 0.5
MAX_LEG_CHANGE: Final = 0.35
MAX_LEG_CHANGE_NOT_SIDE: Final = 0.6
"""Seen from the front or obliquely, a bent leg that points at the camera looks shorter."""
CAMERA_MOVED_M: Final = 0.05
"""The surface under the planted feet moved this far in the image: the camera moved."""
MAX_JUMP_PER_S: Final = 4.0
MAX_STANDING_DRIFT_M: Final = 0.30
MOVED_AFTER_S: Final = 0.5
"""How long the athlete must stay away from the calibrated spot before it counts as moved
(a drop jump's step off the box, seen through the smoothing lag, takes less)."""
LEGS_FADE_PER_S: Final = 0.1
"""How fast the legs' length last seen extended is forgotten, as a share per second."""
LEGS_SMOOTHING_S: Final = 0.15
"""Time constant of the low-pass on the legs' length, against landmark jitter."""
LEG_SHARE: Final = 0.49
"""Thigh plus shank, hip to ankle, as a share of standing height (Winter 2009). A size in
body heights that must match the image (a toe stand's level) takes the larger of the
athlete's height and the extended legs' length over this share, both at the calibrated
scale: a scale taken from a stance that foreshortened the legs (a crouch filmed from the
front) makes the first too small, legs not yet seen extended the second."""
LOOKBACK_S: Final = 6.0
LOOKBACK_FRAMES: Final = 1500
LOOKBACK_REACH_M: Final = 0.5
"""Look-back frames farther than this from where the athlete stood still (1.0 m from the
landing spot of a drop jump) belong to walking in, not to the movement."""
WARNING_EPISODE_S: Final = 2.0
WITHOUT_STANDING_EVERY_S: Final = 0.5
"""Without quiet standing, once the look-back is this close to full, a calibration from a
flight in it is tried this often, before the flight leaves the look-back (a flight lasts
at most 1.3 s, so every one is whole in some try)."""
CALIBRATING: Final = "calibrating"
RESTING: Final = frozenset({"standing", "stable", "on_box"})
NO_REPS: Final = {
    "no_person": "no person was seen in the stream",
    "no_quiet_standing": "the athlete never stood still and upright in full view for 0.3 s, "
    "which the analysis needs for the floor level and the scale",
    "no_jump_seen": "the feet never left the ground in a way that could be a jump",
    "flight_rejected": "the feet left the ground, but no flight followed gravity or lasted "
    "a plausible time (see the quality warnings)",
    "ended_in_flight": "the stream ended with the athlete in the air, the feet not seen back "
    "on the surface; keep recording until at least 0.1 s after the landing",
}
"""Why a session ended without repetitions: reason code and message of its summary."""


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


class StreamAnalyzer(FrameOrder):
    """The per-stream analysis: feed samples in capture order, collect events."""

    def __init__(self, config: StreamConfig) -> None:
        super().__init__()
        self.config = config
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
        self._lookback: deque[tuple[int, float, BodyMeasurement]] = deque()
        self._late_until_seq = -1
        self._away_since: float | None = None
        self._warned: dict[str, float] = {}
        self._phase_time_s = -math.inf
        self._seen_person = False
        self._flights = 0
        self._view = ViewTracker()
        self._legs_px = 0.0
        """The legs' length in the image as they were last seen extended (hip to ankle, its
        recent maximum, fading by ``LEGS_FADE_PER_S``)."""
        self._legs_seen_s = -math.inf
        self._legs_smooth_px = 0.0
        self._without_standing = False
        self._tried_without_standing_s = -math.inf

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Resume a snapshot, also one taken before an attribute existed (its default)."""
        self.__dict__.update({**StreamAnalyzer(state["config"]).__dict__, **state})

    @property
    def phase(self) -> str:
        """The current phase of the movement, or ``calibrating``."""
        return self._machine.phase if self._machine is not None else CALIBRATING

    def process(self, sample: PoseSample) -> list[AnalysisEvent]:
        """Analyse one sample and return the events it produced (possibly none)."""
        self._events = []
        gap = self._admit(sample)
        if gap is None:
            return self._events
        if gap:
            self._quality.dropped(gap)
        body = self._accept(sample)
        if body is None:
            self._on_missing(sample)
        else:
            self._missing_since = None
            self._on_body(sample, body)
        return self._events

    def finish(self, reason: str) -> list[AnalysisEvent]:
        """Flush the frames still in the smoother and emit the session summary.

        A stream that never had quiet standing is analysed now, from its look-back, with a
        calibration without standing (:meth:`_calibrate_without_standing`).
        """
        self._events = []
        if self._calibration is None and self.last_seq is not None:
            assert self.last_time_s is not None
            self._calibrate_without_standing(self.last_seq, self.last_time_s)
        if self._smoother is not None:
            for tag, time_s, value, slope in self._smoother.flush():
                self._on_frame(tag, time_s, value, slope)
        seq = self.last_seq if self.last_seq is not None else 0
        time_s = self.last_time_s if self.last_time_s is not None else 0.0
        if self._machine is not None:
            for output in self._machine.end_of_input():
                self._output(seq, time_s, output)
        in_flight = self._machine is not None and self._machine.flight is not None
        if in_flight:
            self._warn(seq, time_s, "ended_in_flight", NO_REPS["ended_in_flight"])
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
                **self._no_reps_reason(in_flight),
            },
        )
        return self._events

    def _no_reps_reason(self, in_flight: bool) -> dict[str, str]:
        """``no_reps_reason`` and ``no_reps_message`` of a session without repetitions
        (``in_flight``: it ended with a flight not yet landed)."""
        if self.reps:
            return {}
        if not self._seen_person:
            code = "no_person"
        elif in_flight:
            code = "ended_in_flight"
        elif (self._machine is None or self._without_standing) and self._flights == 0:
            code = "no_quiet_standing"
        elif self._flights == 0:
            code = "no_jump_seen"
        else:
            code = "flight_rejected"
        return {"no_reps_reason": code, "no_reps_message": NO_REPS[code]}

    # -- internals -------------------------------------------------------------------------

    def _emit(self, kind: EventType, seq: int, time_s: float, payload: dict[str, Any]) -> None:
        index = 0
        if kind != "metric_update":  # one per frame; the others may repeat at a seq
            key = (kind, seq)
            index = self._index.get(key, 0)
            self._index[key] = index + 1
            if len(self._index) > 256:  # keep the seqs that may still get events
                oldest = (self.last_seq or 0) - 2 * LOOKBACK_FRAMES
                self._index = {k: v for k, v in self._index.items() if k[1] >= oldest}
        self._events.append(
            AnalysisEvent(kind, self.config.stream_id, seq, time_s, payload, index=index)
        )

    def _warn(self, seq: int, time_s: float, code: str, message: str) -> None:
        """Emit a warning, unless the same code is still in its episode."""
        last = self._warned.get(code)
        self._warned[code] = time_s if last is None else max(last, time_s)
        if last is not None and time_s - last < WARNING_EPISODE_S:
            return
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
            self._seen_person = True
        if body is None or self._calibration is None:
            if body is not None:
                self._last_body = (sample.timestamp_s, body)
            return body
        return body if self._plausible(sample.timestamp_s, body) else None

    def _plausible(self, time_s: float, body: BodyMeasurement) -> bool:
        """The calibrated athlete's leg length, not too far from the last frame."""
        cal = self._calibration
        assert cal is not None
        change = abs(body.leg_length_px / cal.leg_length_px - 1.0)
        if change > MAX_LEG_CHANGE and (
            change > MAX_LEG_CHANGE_NOT_SIDE or self._view.view == "side"
        ):
            return False
        if self._last_body is not None:
            last_t, last = self._last_body
            dt = max(time_s - last_t, 1e-3)
            jump_px = math.hypot(body.com_x_px - last.com_x_px, body.com_y_px - last.com_y_px)
            if jump_px * cal.m_per_px > MAX_JUMP_PER_S * dt + 0.1:
                return False
        self._last_body = (time_s, body)
        return True

    def _on_missing(self, sample: PoseSample) -> None:
        self._emit("metric_update", sample.seq, sample.timestamp_s, self._idle_payload(None))
        if self._missing_since is None:
            self._missing_since = sample.timestamp_s
        if sample.timestamp_s - self._missing_since > LOST_AFTER_S:
            if self._calibration is not None:
                self._reset(sample, "athlete_lost", "athlete not in view; calibrating again")
            else:  # the look-back keeps what came before, a visit of its own
                self._detector.reset()

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
        self._lookback.clear()
        self._last_body = None
        self._away_since = None

    def _on_body(self, sample: PoseSample, body: BodyMeasurement) -> None:
        cal = self._calibration
        pose = drawable_pose(sample) if self.config.echo_pose else None
        self._view.push(sample)
        if cal is None:
            self._emit("metric_update", sample.seq, sample.timestamp_s, self._idle_payload(pose))
            lookback = self._lookback
            lookback.append((sample.seq, sample.timestamp_s, body))
            while len(lookback) > LOOKBACK_FRAMES or (
                sample.timestamp_s - lookback[0][1] > LOOKBACK_S
            ):
                lookback.popleft()
            cal = self._detector.push(sample.timestamp_s, body)
            if cal is not None:
                self._calibrated(sample.seq, sample.timestamp_s, cal, self._belonging(cal))
            elif (
                sample.timestamp_s - lookback[0][1] >= LOOKBACK_S - WITHOUT_STANDING_EVERY_S
                and sample.timestamp_s - self._tried_without_standing_s >= WITHOUT_STANDING_EVERY_S
            ):
                self._tried_without_standing_s = sample.timestamp_s
                self._calibrate_without_standing(sample.seq, sample.timestamp_s)
            return
        machine = self._machine
        assert machine is not None
        drift = abs(body.com_x_px - cal.com_x_px) * cal.m_per_px
        if machine.phase in RESTING and drift > MAX_STANDING_DRIFT_M:
            if self._away_since is None:
                self._away_since = sample.timestamp_s
            if sample.timestamp_s - self._away_since > MOVED_AFTER_S:
                self._emit(
                    "metric_update", sample.seq, sample.timestamp_s, self._idle_payload(pose)
                )
                self._reset(sample, "athlete_moved", "athlete moved away; calibrating again")
                return
        else:
            self._away_since = None
        self._analyse(sample.seq, sample.timestamp_s, body, pose)

    def _analyse(
        self, seq: int, time_s: float, body: BodyMeasurement, pose: dict[str, Any] | None
    ) -> None:
        """Feed one calibrated measurement to the smoother and the phase machine."""
        cal = self._calibration
        assert cal is not None
        assert self._smoother is not None
        self._quality.visibility(body.visibility)
        legs, smooth = body.leg_length_px, self._legs_smooth_px
        dt = max(time_s - self._legs_seen_s, 0.0)
        self._legs_seen_s = time_s
        if dt < LEGS_SMOOTHING_S and smooth:  # a first-order low-pass, then a fading maximum
            legs = smooth + (legs - smooth) * dt / LEGS_SMOOTHING_S
        self._legs_smooth_px = legs
        faded = self._legs_px * (1.0 - LEGS_FADE_PER_S * dt) if dt < 1.0 / LEGS_FADE_PER_S else 0.0
        self._legs_px = legs if legs > faded else faded
        foot = cal.above_floor_m(body.foot_y_px)
        contact = cal.above_floor_m(body.contact_y_px)
        com = cal.height_m(body.com_y_px)
        self._pending.append((seq, foot, contact, com, pose))
        for ready in self._smoother.push(time_s, com, seq):
            self._on_frame(*ready)

    def _calibrated(
        self,
        seq: int,
        time_s: float,
        cal: Calibration,
        frames: list[tuple[int, float, BodyMeasurement]],
    ) -> None:
        """Start the analysis at frame ``seq``, from the look-back ``frames`` on."""
        self._lookback.clear()
        if self.config.sport is Sport.DROP_JUMP:
            cal = self._box_top(cal, frames)
        cal = replace(cal, time_s=frames[0][1])
        self._calibration = cal
        self._smoother = LocalQuadraticSmoother(half_window(cal.fps))
        self._machine = _machine(self.config, cal)
        self._quality.calibrated(cal.fps)
        self._late_until_seq = seq
        self._phase_event(
            frames[0][0], cal.time_s, PhaseChange(CALIBRATING, self._machine.phase, cal.time_s)
        )
        low_fps = self._quality.low_fps_message()
        if low_fps is not None:
            self._warn(seq, time_s, "low_fps", low_fps)
        self._last_body = None
        for frame_seq, frame_time_s, body in frames:
            if self._plausible(frame_time_s, body):
                self._analyse(frame_seq, frame_time_s, body, None)

    def _calibrate_without_standing(self, seq: int, time_s: float) -> bool:
        """Calibrate on the look-back without quiet standing (its reps say so,
        ``calibrated_without_standing``, confidence x0.7): on the longest run of frames
        without the athlete lost in between that holds a flight to scale by (see
        :func:`calibration_without_standing`). Whether it did."""
        visits: list[list[tuple[int, float, BodyMeasurement]]] = [[]]
        for frame in self._lookback:
            if visits[-1] and frame[1] - visits[-1][-1][1] > LOST_AFTER_S:
                visits.append([])
            visits[-1].append(frame)
        for frames in sorted(visits, key=lambda v: v[-1][1] - v[0][1] if v else 0.0, reverse=True):
            if not frames:
                continue
            cal = calibration_without_standing(
                [(t, b) for _, t, b in frames], self.config.athlete_height_m
            )
            if cal is not None:
                self._without_standing = True
                self._calibrated(seq, time_s, cal, frames)
                return True
        return False

    def _belonging(self, cal: Calibration) -> list[tuple[int, float, BodyMeasurement]]:
        """The latest run of look-back frames near the calibrated spot (never empty)."""
        reach = LOOKBACK_REACH_M * (2.0 if self.config.sport is Sport.DROP_JUMP else 1.0)
        frames = list(self._lookback)
        start = len(frames) - 1
        while start > 0:
            _, time_s, body = frames[start - 1]
            if abs(body.com_x_px - cal.com_x_px) * cal.m_per_px > reach:
                break
            if frames[start][1] - time_s > LOST_AFTER_S:
                break
            start -= 1
        return frames[start:]

    def _box_top(
        self, cal: Calibration, frames: list[tuple[int, float, BodyMeasurement]]
    ) -> Calibration:
        """A drop jump's calibration on the box, also when the athlete stood still only
        after landing: then the feet in the first frames stood a box height above the
        floor found, and the box top is that floor raised by the box height."""
        assert self.config.box_height_m is not None
        box_px = self.config.box_height_m / cal.m_per_px
        first = [b.contact_y_px for _, _, b in frames[:5] if not math.isnan(b.contact_y_px)]
        if not first or cal.floor_y_px - float(sorted(first)[len(first) // 2]) < 0.5 * box_px:
            return cal
        return replace(cal, floor_y_px=cal.floor_y_px - box_px, com_y_px=cal.com_y_px - box_px)

    def _on_frame(self, seq: int, time_s: float, com: float, velocity: float) -> None:
        while self._pending and self._pending[0][0] < seq:
            self._pending.popleft()
        if not self._pending or self._machine is None:
            return
        _, foot, contact, com_raw, pose = self._pending.popleft()
        frame = Frame(seq, time_s, com, velocity, com_raw, foot, contact)
        if self._machine.flight is not None:
            lift = TOE_STAND_LIFT[self._view.view_at(time_s)]
            legs_m = self._legs_px * self._machine.calibration.m_per_px / LEG_SHARE
            self._machine.toe_stand_m = lift * max(self.config.athlete_height_m, legs_m)
        outputs = self._machine.update(frame)
        if seq > self._late_until_seq:  # the look-back's frames had theirs, idle
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
        if self._machine.track_ground and abs(self._machine.ground_m) > CAMERA_MOVED_M:
            self._warn(
                seq,
                time_s,
                "camera_moved",
                f"the floor under the feet moved {100 * self._machine.ground_m:+.0f} cm in the "
                "image since calibration (a handheld camera tilting?): takeoff and landing "
                "follow the feet, but heights and depths may be off",
            )

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
            warnings, confidence = output.warnings, output.confidence
            if self._without_standing:
                warnings += ("calibrated_without_standing",)
                confidence *= 0.7
            quality = self._quality.rep_quality(
                warnings, confidence, late=seq <= self._late_until_seq
            )
            view = self._view.view_at(time_s)
            quality["view"] = view
            quality["unreliable_metrics"] = list(UNRELIABLE[view])
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
        in_rep = change.to_phase not in RESTING and change.to_phase != CALIBRATING
        if change.to_phase == "flight":
            self._flights += 1
        # A phase never begins before the previous one did (sub-frame refinement could
        # otherwise put it a fraction of a frame earlier).
        self._phase_time_s = max(self._phase_time_s, change.time_s)
        self._emit(
            "phase_change",
            seq,
            time_s,
            {
                "from_phase": change.from_phase,
                "to_phase": change.to_phase,
                "phase_time_s": round(self._phase_time_s, 5),
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
