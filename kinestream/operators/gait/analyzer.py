"""One running stream's analysis: pose samples in, steps and gait figures out.

:class:`RunningAnalyzer` has the per-stream interface of the jumps' analyzer
(:meth:`process`, :meth:`finish`) and is a plain, picklable object of bounded size. Per
frame it takes each foot's lowest point and position (left and right labels exchanged back
when the pose model swaps the legs for a few frames), the floor (a high percentile of the
feet's last ``FLOOR_VALUES`` lowest points, where the planted feet are) and the scale
(thigh plus shank, 0.491 of the athlete's height, Drillis & Contini: no standing still is
needed). Each foot's contacts come from
:class:`~kinestream.operators.gait.contacts.FootTracker`, timed between frames.

A contact is a running step when the flight before it is positive (the other foot left the
ground before this one struck), and its contact and step times are those of running. The
first such step starts a **bout** (the contact before it, if it fits, becomes its first
step); the bout ends when the runner walks (contacts with double support), hops (both feet
striking within ``TOGETHER_S``: a jump, however it alternates with a missed contact), stands
(both feet down for ``STANDING_S``), stops stepping, leaves the view, or the stream ends:
then a ``bout_summary``. Events, besides ``metric_update`` per frame:

* ``step``: one per running contact (:class:`~kinestream.operators.gait.bout.Step`);
* ``gait_update``: the last ``WINDOW_STEPS`` (10) steps' figures, after every step from the
  fourth of a bout on;
* ``bout_summary``; ``phase_change`` between ``running``, ``walking``, ``hopping``,
  ``standing`` and ``not_in_view``;
* ``quality_warning``: ``not_running`` (walking, hopping or standing: no steps are
  reported), ``low_fps``.

The far foot (the one with the lower visibility over the run) is often hidden behind the
near leg: its steps are ``low_confidence``, with their foot's visibility. The pose model
also throws the far leg astray for a few frames (knee, ankle, heel and toe together, a
tenth of the body's height or more, at any visibility): frames from such a rigid jump to
the jump back are taken as hidden. A step is never
made up: a contact counts only when the foot was seen in the air before and after it; one
whose strike or toe-off could not be fitted (the foot hidden there) is placed between the
frames either side, low confidence (``coarse_timing``), and one hidden longer than that
allows is no step. The bout summary counts the steps it did not report (``unseen_steps``):
the feet alternate, so two steps of one foot in a row have one of the other between them.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np

from kinestream.events import AnalysisEvent, EventType
from kinestream.operators.frame_order import FrameOrder
from kinestream.operators.gait.bout import (
    LEFT,
    RIGHT,
    WINDOW_STEPS,
    BoutStats,
    GaitWindow,
    Step,
)
from kinestream.operators.gait.contacts import (
    Contact,
    FootFrame,
    FootTracker,
    median,
    percentiles,
)
from kinestream.operators.pose import Landmark, PoseSample, drawable_pose

LEG_SHARE: Final = 0.491
"""Thigh plus shank over body height (Drillis & Contini)."""
FLOOR_VALUES: Final = 600
"""Feet's lowest points the floor is taken from (2.5 s at 120 fps, 5 s at 60)."""
FLOOR_PERCENTILE: Final = 80.0
REFERENCE_EVERY: Final = 16
"""Frames between two updates of the floor, the noise and the scale."""
FPS_FRAMES: Final = 8
WARMUP_S: Final = 0.25
"""The first frames of a stream are held this long (and eight frames at least) before the
feet are tracked from the first of them: the frame rate and the floor (where the planted
feet are) are known by then, as they are not on the first few frames."""
LOST_AFTER_S: Final = 0.5
STANDING_S: Final = 1.0
STOPPED_S: Final = 2.0
"""A bout ends when no foot has left the ground for this long."""
MIN_STEP_S: Final = 0.2
MAX_STEP_S: Final = 0.75
MAX_RUNNING_CONTACT_S: Final = 0.45
TOGETHER_S: Final = MIN_STEP_S / 2
"""Feet that strike within this of each other land together: a hop or a jump, not a
stride (a runner's strikes are a step time, ``MIN_STEP_S`` at least, apart)."""
RECOMMENDED_FPS: Final = 60.0
FAR_VISIBILITY_GAP: Final = 0.1
LOW_VISIBILITY: Final = 0.5
WARNING_EPISODE_S: Final = 2.0
_FIRST_ROW: Final = Landmark.LEFT_HIP
"""The analysis reads hips, knees, ankles, heels and toes: rows ``_FIRST_ROW`` to the right
toe; the row numbers below are counted from it."""
_FEET: Final = {
    LEFT: tuple(i - _FIRST_ROW for i in (29, 31, 27)),  # heel, toe, ankle
    RIGHT: tuple(i - _FIRST_ROW for i in (30, 32, 28)),
}
_LEGS: Final = {
    LEFT: tuple(i - _FIRST_ROW for i in (23, 25, 27)),  # hip, knee, ankle
    RIGHT: tuple(i - _FIRST_ROW for i in (24, 26, 28)),
}
_LEG_PAIRS: Final = tuple((i - _FIRST_ROW, i + 1 - _FIRST_ROW) for i in (25, 27, 29, 31))
_LOWER_LEGS: Final = {
    LEFT: tuple(i - _FIRST_ROW for i in (25, 27, 29, 31)),  # knee, ankle, heel, toe
    RIGHT: tuple(i - _FIRST_ROW for i in (26, 28, 30, 32)),
}
STRAY_JUMP: Final = (0.15, 9.0)
"""A lower leg whose knee, ankle, heel and toe all jump together (by one vector, within
``STRAY_SPREAD`` of it), relative to the hips, from one frame to the next, by more than this
share of the leg's length and more than this speed (m/s) allows, is the pose model's guess
gone astray, not a movement: no lower leg moves rigidly that fast."""
STRAY_SPREAD: Final = 0.25
MAX_STRAY_S: Final = 0.25
"""A stray leg's frames are hidden until it jumps back (against its stray), or this long at
most (the pose model's strays last about 0.1 s)."""
NOT_RUNNING: Final = {
    "walking": "walking: the feet share the ground between steps (no flight phase); "
    "no running steps are reported",
    "standing": "standing: both feet stay on the ground; no running steps are reported",
    "hopping": "hopping: both feet land and leave the ground together (jumps, not strides); "
    "no running steps are reported",
}


@dataclass(frozen=True, slots=True)
class RunningConfig:
    """What a running stream's analysis needs to know from the start.

    ``belt_speed_m_s`` is the treadmill's belt speed; without it the speed is measured on
    video (overground, or a treadmill whose speed is not given).
    """

    stream_id: str
    athlete_height_m: float
    belt_speed_m_s: float | None = None
    echo_pose: bool = False

    def __post_init__(self) -> None:
        if not self.stream_id:
            raise ValueError("stream id must not be empty")
        if not 0.5 < self.athlete_height_m < 2.6:
            raise ValueError("athlete height must be between 0.5 m and 2.6 m")
        if self.belt_speed_m_s is not None and not 0.0 < self.belt_speed_m_s <= 12.0:
            raise ValueError("belt speed must be above 0 and at most 12 m/s")


class RunningAnalyzer(FrameOrder):
    """The per-stream running analysis: feed samples in capture order, collect events."""

    _together: Contact | None = None
    """The later contact of the last two feet that landed together (a class default, so
    that analyzers snapshotted before it existed resume)."""

    def __init__(self, config: RunningConfig) -> None:
        super().__init__()
        self.config = config
        self.steps = 0
        self.bouts = 0
        self.fps: float | None = None
        self.mode = "not_in_view"
        self._events: list[AnalysisEvent] = []
        self._index: dict[tuple[str, int], int] = {}
        self._warned: dict[str, float] = {}
        self._times: deque[float] = deque(maxlen=FPS_FRAMES + 1)
        self._early: list[tuple[int, float, dict[str, FootFrame]]] = []
        self._trackers: dict[str, FootTracker] = {}
        self._floor_values: deque[float] = deque(maxlen=FLOOR_VALUES)
        self._floor_y_px = math.nan
        self._noise_px = math.nan
        self._legs: deque[float] = deque(maxlen=255)
        self._m_per_px = math.nan
        self._since_update = 0
        self._previous: dict[str, tuple[float, float]] = {}
        self._velocity: dict[str, tuple[float, float]] = {}
        self._lower_legs: dict[str, list[float]] = {}
        """The far lower leg's landmarks, relative to the hips, on the last frame it was
        looked at (its time first)."""
        self._strays: dict[str, tuple[float, float, float]] = {}
        """Legs gone astray: the jump (pixels) and when."""
        self._visibility = {LEFT: math.nan, RIGHT: math.nan}
        self._missing_since: float | None = None
        self._down_since: float | None = None
        self._last_contact: Contact | None = None
        self._last_strike: dict[str, float] = {}
        """Each foot's last strike, for stride times."""
        self._others_since: dict[str, int] = {LEFT: 0, RIGHT: 0}
        """Contacts of the other foot since each foot's last strike: a stride is one when
        there was one at most (two or more: this foot's contact between was not seen)."""
        self._held: Step | None = None
        self._walking_contacts = 0
        self._bout: BoutStats | None = None
        self._window = GaitWindow()
        self._live: dict[str, Any] | None = None
        """The window's figures for each frame's live numbers (updated at each step)."""
        self._seen_person = False
        self._not_running_seen = False

    @property
    def phase(self) -> str:
        """``running``, ``walking``, ``hopping``, ``standing`` or ``not_in_view``."""
        return self.mode

    # -- the interface ---------------------------------------------------------------------

    def process(self, sample: PoseSample) -> list[AnalysisEvent]:
        """Analyse one sample and return the events it produced (possibly none)."""
        self._events = []
        if self._admit(sample) is None:
            return self._events
        self._times.append(sample.timestamp_s)
        feet = self._feet(sample)
        if feet is None:
            self._on_missing(sample)
        else:
            self._missing_since = None
            self._seen_person = True
            self._on_feet(sample.seq, sample.timestamp_s, feet)
        self._frame_update(sample)
        return self._events

    def finish(self, reason: str) -> list[AnalysisEvent]:
        """Time the contacts still open, end the bout and emit the session summary."""
        self._events = []
        seq = self.last_seq if self.last_seq is not None else 0
        time_s = self.last_time_s if self.last_time_s is not None else 0.0
        if self._trackers and not math.isnan(self._m_per_px):
            done = [
                c
                for t in self._trackers.values()
                if (c := t.finish(self._m_per_px, self._noise_m())) is not None
            ]
            for contact in sorted(done, key=lambda c: c.strike_s):
                self._on_contact(seq, time_s, contact)
        self._end_bout(seq, time_s, "end_of_stream")
        duration = time_s - self.first_time_s if self.first_time_s is not None else 0.0
        payload: dict[str, Any] = {
            "sport": "running",
            "reps": self.steps,
            "steps": self.steps,
            "bouts": self.bouts,
            "frames": self.frames,
            "dropped_frames": self.dropped_frames,
            "late_frames": self.late_frames,
            "duration_s": round(duration, 4),
            "best": {},
            "reason": reason,
        }
        if not self.steps:
            code, message = self._no_steps_reason()
            payload["no_reps_reason"], payload["no_reps_message"] = code, message
        self._emit("session_summary", seq, time_s, payload)
        return self._events

    def _no_steps_reason(self) -> tuple[str, str]:
        if not self._seen_person:
            return "no_person", "no person was seen in the stream"
        if self._not_running_seen:
            return "not_running", "the athlete walked, hopped or stood but did not run"
        return "no_steps_seen", "no foot was seen striking the ground and leaving it again"

    # -- per frame -------------------------------------------------------------------------

    def _feet(self, sample: PoseSample) -> dict[str, FootFrame] | None:
        """Each foot seen in the image (left and right as tracked), or ``None``."""
        if sample.landmarks is None:
            return None
        w, h = sample.image_width, sample.image_height
        rows = sample.landmarks[_FIRST_ROW : _FIRST_ROW + 10].tolist()
        pts = [(r[0] * w, r[1] * h, r[3]) for r in rows]
        now = {}
        for side, (heel, toe, _) in _FEET.items():
            (hx, hy, _), (tx, ty, _) = pts[heel], pts[toe]
            now[side] = (0.5 * (hx + tx), ty if ty > hy else hy)  # max(hy, ty), NaN kept
        if self._swapped(now):
            for left, right in _LEG_PAIRS:
                pts[left], pts[right] = pts[right], pts[left]
            now[LEFT], now[RIGHT] = now[RIGHT], now[LEFT]
        hip_x = 0.5 * (pts[0][0] + pts[1][0])
        far_foot = self._far_foot()
        feet: dict[str, FootFrame] = {}
        for side, (heel, toe, ankle) in _FEET.items():
            x, low = now[side]
            if not (0.0 <= x <= w and low <= 1.02 * h) or not math.isfinite(low):
                continue
            vis = (pts[heel][2] + pts[toe][2] + pts[ankle][2]) / 3.0
            if side == far_foot and self._astray(side, pts, sample.timestamp_s):
                vis = 0.0  # the far leg's stray (the near one is seen well)
            feet[side] = FootFrame(
                sample.timestamp_s, low, pts[heel][1], pts[toe][1], x, hip_x, vis
            )
            self._previous[side] = (x, low)
        (a, b, c), (d, e, f) = _LEGS[LEFT], _LEGS[RIGHT]
        if pts[d][2] + pts[e][2] + pts[f][2] > pts[a][2] + pts[b][2] + pts[c][2]:
            a, b, c = d, e, f  # the leg seen better
        hip, knee, ankle_ = pts[a], pts[b], pts[c]
        leg = math.hypot(hip[0] - knee[0], hip[1] - knee[1])
        self._legs.append(leg + math.hypot(knee[0] - ankle_[0], knee[1] - ankle_[1]))
        return feet or None

    def _astray(self, side: str, pts: list[tuple[float, float, float]], time_s: float) -> bool:
        """Whether this frame's lower leg on ``side`` is the pose model's stray guess: from
        a jump of the whole lower leg by one vector until the jump back."""
        hx = 0.5 * (pts[0][0] + pts[1][0])
        hy = 0.5 * (pts[0][1] + pts[1][1])
        knee, ankle, heel, toe = (pts[i] for i in _LOWER_LEGS[side])
        now = [knee[0] - hx, knee[1] - hy, ankle[0] - hx, ankle[1] - hy]
        now += [heel[0] - hx, heel[1] - hy, toe[0] - hx, toe[1] - hy]
        before, self._lower_legs[side] = self._lower_legs.get(side), [time_s, *now]
        if before is None or math.isnan(self._m_per_px) or self.fps is None:
            return False
        if time_s - before[0] > 1.5 / self.fps:  # not the frame before: no jump to see
            self._strays.pop(side, None)
            return False
        dx = [now[0] - before[1], now[2] - before[3], now[4] - before[5], now[6] - before[7]]
        dy = [now[1] - before[2], now[3] - before[4], now[5] - before[6], now[7] - before[8]]
        cx = (dx[0] + dx[1] + dx[2] + dx[3]) / 4.0
        cy = (dy[0] + dy[1] + dy[2] + dy[3]) / 4.0
        size = math.hypot(cx, cy)
        share, speed = STRAY_JUMP
        least = max(share * LEG_SHARE * self.config.athlete_height_m, speed / self.fps)
        jump = size * self._m_per_px > least and all(
            math.hypot(x - cx, y - cy) < STRAY_SPREAD * size for x, y in zip(dx, dy, strict=True)
        )
        stray = self._strays.get(side)
        if stray is None:
            if jump:
                self._strays[side] = (cx, cy, time_s)
            return jump
        ox, oy, since_s = stray
        back = size > 0.5 * math.hypot(ox, oy) and cx * ox + cy * oy < -0.7 * size * math.hypot(
            ox, oy
        )
        if back or time_s - since_s > MAX_STRAY_S:
            del self._strays[side]
            return False
        return True

    def _swapped(self, now: dict[str, tuple[float, float]]) -> bool:
        """The pose model exchanged the legs' labels: each foot (``now``: its position and
        lowest point) is nearer where the other was expected (constant-velocity prediction
        from the frames before)."""
        if len(self._previous) < 2:
            return False
        (lx, ly), (rx, ry) = self._previous[LEFT], self._previous[RIGHT]
        lvx, lvy = self._velocity.get(LEFT, (0.0, 0.0))
        rvx, rvy = self._velocity.get(RIGHT, (0.0, 0.0))
        (nlx, nly), (nrx, nry) = now[LEFT], now[RIGHT]
        plx, ply, prx, pry = lx + lvx, ly + lvy, rx + rvx, ry + rvy
        hypot = math.hypot
        keep = hypot(nlx - plx, nly - ply) + hypot(nrx - prx, nry - pry)
        swapped = hypot(nlx - prx, nly - pry) + hypot(nrx - plx, nry - ply) < 0.5 * keep
        if swapped:
            (nlx, nly), (nrx, nry) = (nrx, nry), (nlx, nly)
        self._velocity[LEFT] = (nlx - lx, nly - ly)
        self._velocity[RIGHT] = (nrx - rx, nry - ry)
        return swapped

    def _on_missing(self, sample: PoseSample) -> None:
        if self._missing_since is None:
            self._missing_since = sample.timestamp_s
        if sample.timestamp_s - self._missing_since > LOST_AFTER_S and self.mode != "not_in_view":
            self._end_bout(sample.seq, sample.timestamp_s, "athlete_lost")
            for tracker in self._trackers.values():
                tracker.lost()
            self._previous.clear()
            self._velocity.clear()
            self._lower_legs.clear()
            self._strays.clear()
            self._last_contact = None
            self._held = None
            self._set_mode(sample.seq, sample.timestamp_s, "not_in_view")

    def _on_feet(self, seq: int, time_s: float, feet: dict[str, FootFrame]) -> None:
        for foot in feet.values():
            self._floor_values.append(foot.low_y_px)
        self._since_update += 1
        if self._since_update >= REFERENCE_EVERY or math.isnan(self._floor_y_px):
            self._update_reference()
        if self.fps is None:
            self._early.append((seq, time_s, feet))
            if len(self._times) <= FPS_FRAMES or time_s - self._early[0][1] < WARMUP_S:
                return
            self._update_reference()
            self._start(seq, time_s)
            return
        self._track(seq, time_s, feet)

    def _start(self, seq: int, time_s: float) -> None:
        """Frame rate known: make the trackers and replay the frames seen so far."""
        self.fps = 1.0 / float(np.median(np.diff(np.array(self._times))))
        self._trackers = {side: FootTracker(side, self.fps) for side in (LEFT, RIGHT)}
        if self.fps < 0.95 * RECOMMENDED_FPS:
            period_ms = 1000.0 / self.fps
            self._warn(
                seq,
                time_s,
                "low_fps",
                f"{self.fps:.0f} fps: strike and toe-off are interpolated between frames "
                f"{period_ms:.0f} ms apart; contact and flight times may be off by about "
                f"{0.3 * period_ms:.0f} ms. Record at {RECOMMENDED_FPS:.0f} fps or more.",
            )
        early, self._early = self._early, []
        for e_seq, e_time, feet in early:
            self._track(e_seq, e_time, feet)

    def _update_reference(self) -> None:
        """Floor, foot noise and scale from the recent frames."""
        self._since_update = 0
        values = np.fromiter(self._floor_values, dtype=np.float64)
        p80, p95 = percentiles(values, (FLOOR_PERCENTILE, 95.0))
        self._floor_y_px = float(p80)
        self._noise_px = float(p95 - p80) / 1.24
        if self._legs:
            leg = median(np.fromiter(self._legs, dtype=np.float64))
            if leg > 0:
                self._m_per_px = LEG_SHARE * self.config.athlete_height_m / leg

    def _noise_m(self) -> float:
        """Spread of the planted feet's lowest points (metres), slow sliding included: what
        the contact threshold must clear."""
        return self._noise_px * self._m_per_px if math.isfinite(self._noise_px) else 0.005

    def _track(self, seq: int, time_s: float, feet: dict[str, FootFrame]) -> None:
        if math.isnan(self._m_per_px):
            return
        noise = self._noise_m()
        threshold = min(max(4.0 * noise, 0.015), 0.08)
        contacts = []
        for side, tracker in self._trackers.items():
            foot = feet.get(side)
            if foot is None:
                tracker.lost()
                continue
            vis = self._visibility[side]
            self._visibility[side] = (
                foot.visibility if math.isnan(vis) else 0.98 * vis + 0.02 * foot.visibility
            )
            contact = tracker.push(foot, self._floor_y_px, self._m_per_px, threshold, noise)
            if contact is not None:
                contacts.append(contact)
        if contacts:
            for contact in sorted(contacts, key=lambda c: c.strike_s):
                self._on_contact(seq, time_s, contact)
        trackers = self._trackers
        both_down = len(feet) == 2 and trackers[LEFT].on_ground and trackers[RIGHT].on_ground
        if not both_down:
            self._down_since = None
        elif self._down_since is None:
            self._down_since = time_s
        elif time_s - self._down_since > STANDING_S and self.mode != "standing":
            self._end_bout(seq, time_s, "stopped")
            self._not_running(seq, time_s, "standing")
        last = self._last_contact
        if self._bout is not None and last is not None and time_s - last.toe_off_s > STOPPED_S:
            self._end_bout(seq, time_s, "stopped")

    # -- steps and bouts -------------------------------------------------------------------

    def _on_contact(self, seq: int, time_s: float, contact: Contact) -> None:
        prev, self._last_contact = self._last_contact, contact
        if (
            prev is not None
            and prev.foot != contact.foot
            and abs(contact.strike_s - prev.strike_s) < TOGETHER_S
        ):
            # Both feet landed together: a hop, whatever came before it.
            self._together = contact
            self._held = None
            self._end_bout(seq, time_s, "hopping")
            self._not_running(seq, time_s, "hopping")
            return
        paired = (
            prev is not None
            and prev is not self._together
            and prev.foot != contact.foot
            and MIN_STEP_S <= contact.strike_s - prev.strike_s <= MAX_STEP_S
        )
        flight = contact.strike_s - prev.toe_off_s if paired and prev is not None else None
        step_time = contact.strike_s - prev.strike_s if paired and prev is not None else None
        running_contact = contact.contact_time_s <= MAX_RUNNING_CONTACT_S
        step = self._step(contact, flight, step_time)
        if flight is not None and flight > 0.0 and running_contact:
            self._walking_contacts = 0
            if self._bout is None:
                self._start_bout(seq, time_s, contact)
            if self._held is not None:
                self._add_step(seq, time_s, self._held)
                self._held = None
            self._add_step(seq, time_s, step)
            return
        if flight is None and running_contact:
            # Its partner was not seen (or landed with a foot of the hop before): a step of
            # a bout in progress, else held until the next contact says whether this is
            # running.
            if self._bout is not None:
                self._add_step(seq, time_s, step)
            else:
                self._held = step
            return
        self._held = None
        if step.low_confidence:  # an odd contact of a far or hidden foot says nothing
            return
        self._walking_contacts += 1
        if self._walking_contacts >= 2:
            self._end_bout(seq, time_s, "walking")
            self._not_running(seq, time_s, "walking")

    def _step(self, contact: Contact, flight: float | None, step_time: float | None) -> Step:
        if self.config.belt_speed_m_s is not None:
            speed: float | None = self.config.belt_speed_m_s
        elif contact.ground_speed_px_s is not None:
            speed = contact.ground_speed_px_s * self._m_per_px
        else:
            speed = None
        far = self._far_foot()
        last = self._last_strike.get(contact.foot)
        self._last_strike[contact.foot] = contact.strike_s
        one_stride = self._others_since[contact.foot] <= 1
        self._others_since[contact.foot] = 0
        self._others_since[RIGHT if contact.foot == LEFT else LEFT] += 1
        stride = None
        if (
            last is not None
            and one_stride
            and 2 * MIN_STEP_S <= contact.strike_s - last <= 2 * MAX_STEP_S
        ):
            stride = contact.strike_s - last
        return Step(
            number=0,
            foot=contact.foot,
            strike_s=contact.strike_s,
            toe_off_s=contact.toe_off_s,
            flight_before_s=flight,
            step_time_s=step_time,
            speed_m_s=speed,
            foot_visibility=contact.visibility,
            low_confidence=(
                contact.foot == far or contact.visibility < LOW_VISIBILITY or contact.coarse
            ),
            coarse=contact.coarse,
            stride_time_s=stride,
        )

    def _far_foot(self) -> str | None:
        left, right = self._visibility[LEFT], self._visibility[RIGHT]
        if math.isnan(left) or math.isnan(right) or abs(left - right) < FAR_VISIBILITY_GAP:
            return None
        return LEFT if left < right else RIGHT

    def _start_bout(self, seq: int, time_s: float, contact: Contact) -> None:
        self.bouts += 1
        self._bout = BoutStats(self.bouts)
        self._window = GaitWindow()
        self._live = None
        self._set_mode(seq, time_s, "running", contact.strike_s)

    def _add_step(self, seq: int, time_s: float, step: Step) -> None:
        assert self._bout is not None
        self.steps += 1
        numbered = self._window.regular(replace(step, number=self.steps))
        self._bout.add(numbered, self._window.step_time_s())
        self._window.add(numbered)
        window = self._window.payload()
        self._live = window if len(self._window.steps) >= 2 else None
        payload = numbered.payload()
        payload["bout"] = self._bout.number
        payload["warnings"] = self._step_warnings(numbered)
        self._emit("step", seq, time_s, payload)
        if len(self._window.steps) >= 4:
            update = dict(window)
            update["bout"] = self._bout.number
            self._emit("gait_update", seq, time_s, update)

    def _step_warnings(self, step: Step) -> list[str]:
        warnings = []
        if self.fps is not None and self.fps < 0.95 * RECOMMENDED_FPS:
            warnings.append("low_fps")
        if step.low_confidence and step.foot == self._far_foot():
            warnings.append("far_foot")
        if step.coarse:
            warnings.append("coarse_timing")
        if step.flight_before_s is None:
            warnings.append("previous_contact_unseen")
        return warnings

    def _end_bout(self, seq: int, time_s: float, reason: str) -> None:
        if self._bout is None:
            return
        bout, self._bout = self._bout, None
        self._emit("bout_summary", seq, time_s, bout.payload(reason))
        self._window = GaitWindow()
        self._live = None

    def _not_running(self, seq: int, time_s: float, mode: str) -> None:
        self._not_running_seen = True
        if self.mode != mode:
            self._set_mode(seq, time_s, mode)
            self._warn(seq, time_s, "not_running", NOT_RUNNING[mode])

    def _set_mode(self, seq: int, time_s: float, mode: str, since_s: float | None = None) -> None:
        if mode == self.mode:
            return
        self._emit(
            "phase_change",
            seq,
            time_s,
            {
                "from_phase": self.mode,
                "to_phase": mode,
                "phase_time_s": round(time_s if since_s is None else since_s, 5),
                "rep": self.bouts,
            },
        )
        self.mode = mode

    # -- events ----------------------------------------------------------------------------

    def _frame_update(self, sample: PoseSample) -> None:
        window = self._live
        trackers = self._trackers
        payload: dict[str, Any] = {
            "phase": self.mode,
            "com_height_m": None,
            "com_velocity_m_s": None,
            "left_on_ground": trackers[LEFT].on_ground if trackers else None,
            "right_on_ground": trackers[RIGHT].on_ground if trackers else None,
            "cadence_spm": window["cadence_spm"] if window else None,
            "contact_time_s": window["contact_time_s"] if window else None,
        }
        if self.config.echo_pose:
            payload["pose"] = drawable_pose(sample)
        self._emit("metric_update", sample.seq, sample.timestamp_s, payload)

    def _emit(self, kind: EventType, seq: int, time_s: float, payload: dict[str, Any]) -> None:
        index = 0
        if kind != "metric_update":
            key = (kind, seq)
            index = self._index.get(key, 0)
            self._index[key] = index + 1
            if len(self._index) > 256:
                oldest = (self.last_seq or 0) - 1000
                self._index = {k: v for k, v in self._index.items() if k[1] >= oldest}
        self._events.append(
            AnalysisEvent(kind, self.config.stream_id, seq, time_s, payload, index=index)
        )

    def _warn(self, seq: int, time_s: float, code: str, message: str) -> None:
        last = self._warned.get(code)
        self._warned[code] = time_s
        if last is not None and time_s - last < WARNING_EPISODE_S:
            return
        self._emit("quality_warning", seq, time_s, {"code": code, "message": message})


__all__ = ["WINDOW_STEPS", "RunningAnalyzer", "RunningConfig"]
