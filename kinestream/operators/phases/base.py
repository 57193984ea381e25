"""What every movement's phase machine shares: its input frame, its outputs, and flight.

A phase machine sees one :class:`Frame` at a time (calibrated, smoothed, in time order)
and answers with :class:`PhaseChange`, :class:`RepResult` and :class:`MachineWarning`
outputs. Jumps share :class:`JumpMachine`, which detects takeoff and touchdown from the
feet, refines both instants between frames (:mod:`kinestream.operators.ballistics`) and
checks the flight against gravity before it counts a repetition. A cyclic movement
implements :class:`PhaseMachine` the same way and emits one result per cycle.

Hysteresis: a takeoff or touchdown holds for two frames before the machine enters it; a
flight is announced only once it has lasted ``MIN_FLIGHT_S`` (feet down before that were a
false takeoff, and the machine resumes its phase without a word); after a flight that did
not count, another can start only ``REARM_S`` later, with the feet down. So feet that
flicker about the threshold (a wrong floor, a sliding foot landmark, a moving camera)
cannot make the phase flicker with them. Every other
change needs the CoM to cross two different levels or to stay still for a while. With
these, a machine makes at most ``MAX_PHASE_CHANGES_PER_S`` phase changes in any second.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
import statistics
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from kinestream.operators.ballistics import (
    GRAVITY_M_S2,
    ParabolaFit,
    ballistic_crossing,
    fit_parabola,
    flight_height_m,
)
from kinestream.operators.calibration import Calibration
from kinestream.operators.smoothing import slope_noise

HISTORY_S: Final = 3.0
MAX_FLIGHT_S: Final = 1.3
MIN_FLIGHT_S: Final = 0.08
FIT_WINDOW_S: Final = 0.06
QUIET_SPEED_M_S: Final = 0.15
ONSET_SPEED_M_S: Final = 0.05
REARM_S: Final = 0.2
STANCE_S: Final = 0.3
CONTACT_SEARCH_S: Final = 0.1
CONTACT_STEP_S: Final = 0.025
PLANTED_SPEED_M_S: Final = 0.2
FOOT_SPEED_WINDOW_S: Final = 0.05
LEGS_SEARCH_S: Final = 0.2
"""How far before a touchdown seen in the feet's height the legs may have begun to shorten
(:meth:`JumpMachine.compression_onset`): a foot landmark that sinks on after the toes land
does so for up to a few frames at 30 fps."""
PUSH_OFF_SLACK_S: Final = 0.05
"""How long after a takeoff the CoM's smoothed rise may still quicken: the smoothing's
half window (40 ms) spreads the velocity's peak at the end of the push-off around it."""
FELL_SPEED_M_S: Final = 1.0
STOPPED_SPEED_M_S: Final = 0.4
SUPPORTED_S: Final = 0.1
"""A CoM that falls no faster from frame to frame for this long is held up (free fall would
add 1 m/s to its speed): the feet are down, whatever their landmarks read."""
MAX_PHASE_CHANGES_PER_S: Final = 12
TAKEOFF_COM_DROP_M: Final = 0.10
"""The feet leave the surface with the legs extended, the CoM at standing height or above
(on the toes); lower by more than this (calibration, landmark noise), the body is still
in a squat or a countermovement, and feet seen above the surface are landmark noise."""
TAKEOFF_SPEED_M_S: Final = GRAVITY_M_S2 * MIN_FLIGHT_S / 2.0
"""Feet leave the surface at least as fast as the body takes off for the shortest flight
(0.39 m/s); feet that drift above it slower are a floor moving in the image (a camera
tilting) or a sliding landmark."""
FEET_COM_LEVEL_M: Final = 0.08
"""Between a takeoff and a landing the CoM is on one parabola, and at both instants the
legs are extended: the CoM at the feet's touchdown lies within about the rise of standing
on the toes (8 cm for a 1.80 m athlete) of where it was at their takeoff, plus the height
the surface rose by between them. Farther, the feet's instants and the CoM's flight
disagree: a foot landmark read high or late at one end, or the athlete landed in a
crouch; the data cannot tell which."""
_LEVEL: Final = operator.itemgetter(1)


@dataclass(frozen=True, slots=True)
class Frame:
    """One analysed frame: CoM height and velocity (smoothed) and raw foot height.

    Heights are metres: ``com_m`` above the standing CoM; ``foot_m`` (lowest foot point)
    and ``contact_m`` (where a flat foot meets the ground, see
    :attr:`~kinestream.operators.anthropometry.BodyMeasurement.contact_y_px`) above the
    calibrated floor, ``NaN`` when no foot was visible.
    """

    seq: int
    time_s: float
    com_m: float
    velocity_m_s: float
    com_raw_m: float
    foot_m: float
    contact_m: float


@dataclass(frozen=True, slots=True)
class PhaseChange:
    """The machine entered ``to_phase`` at ``time_s`` (sub-frame where interpolated)."""

    from_phase: str
    to_phase: str
    time_s: float


@dataclass(frozen=True, slots=True)
class RepResult:
    """A completed repetition: its metrics and what the machine knows about their quality."""

    metrics: dict[str, float | bool | None]
    start_s: float
    end_s: float
    warnings: tuple[str, ...]
    confidence: float


@dataclass(frozen=True, slots=True)
class MachineWarning:
    """Something the coach should know that is not a repetition."""

    code: str
    message: str


Output = PhaseChange | RepResult | MachineWarning


class PhaseMachine(Protocol):
    """A movement's phase machine: frames in, phase changes and repetitions out."""

    @property
    def phase(self) -> str:
        """The current phase."""
        ...

    def update(self, frame: Frame) -> list[Output]:
        """Advance by one frame."""
        ...


@dataclass
class FlightRecord:
    """Takeoff, the surface it left and the CoM samples seen in the air (bounded by
    ``MAX_FLIGHT_S``)."""

    takeoff_s: float
    times: list[float] = field(default_factory=list)
    com: list[float] = field(default_factory=list)
    ground_m: float = 0.0
    down_s: float | None = None
    """The first of the frames that showed the feet back on the surface."""

    def keep_until(self, time_s: float) -> None:
        """Forget the CoM samples after ``time_s`` (the body was supported by then)."""
        kept = bisect.bisect_right(self.times, time_s)
        del self.times[kept:], self.com[kept:]


@dataclass
class Landing:
    """A completed flight: its instants, flight metrics, warnings and confidence."""

    takeoff_s: float
    landing_s: float
    metrics: dict[str, float | bool | None]
    warnings: list[str]
    confidence: float

    def result(self, start_s: float) -> RepResult:
        """The repetition that started at ``start_s`` and ended with this landing."""
        return RepResult(
            self.metrics, start_s, self.landing_s, tuple(self.warnings), self.confidence
        )


class JumpMachine(ABC):
    """Shared takeoff, flight and touchdown logic of the jump machines.

    ``ground_m`` is the height of the surface the athlete jumps from, relative to the
    calibrated floor. Machines that ``track_ground`` follow it: it is the median contact
    height of the feet over the last ``STANCE_S`` in which they were planted (still, and
    near the surface), so that a foot landmark that slides slowly (MediaPipe's does, by a
    centimetre or two) is not taken for a foot in the air. A touchdown is also found where
    falling feet stop near the surface they left, a little above it (such a slide): the
    surface is then measured where they stopped.
    """

    initial_phase = "standing"
    armed = True
    """Whether a flight may start (see :meth:`airborne`); class defaults, so that machines
    snapshotted before they existed resume."""
    disarmed_s = -math.inf
    tentative: PhaseChange | None = None
    """A flight entered but not yet announced (see :meth:`land`)."""
    resume_since_s = 0.0
    track_ground = True
    stance: deque[tuple[float, float]] | None = None
    stance_levels: list[float] | None = None
    """The stance's contact heights in order (its median is the surface's level)."""
    ending = False
    """The input has ended (:meth:`end_of_input` is deciding on its last frame)."""
    toe_stand_m = 0.0
    """How high the lowest foot landmark reads above the surface while the feet stand on
    their toes, in the camera's view (:data:`~kinestream.operators.view.TOE_STAND_LIFT`);
    the analyzer sets it."""

    def __init__(self, calibration: Calibration) -> None:
        self.calibration = calibration
        self._phase = self.initial_phase
        self.phase_since_s = calibration.time_s
        self.history: deque[Frame] = deque(maxlen=max(16, int(HISTORY_S * calibration.fps)))
        self.ground_m = 0.0
        noise = calibration.foot_noise_m
        self.air_threshold_m = max(0.02, 5.0 * noise)
        self.fit_threshold_m = max(0.006, 3.0 * noise)
        self.onset_velocity_m_s = max(
            ONSET_SPEED_M_S, 3.0 * slope_noise(calibration.com_noise_m, calibration.fps)
        )
        self.flight: FlightRecord | None = None
        self.quiet_since_s: float | None = None

    @property
    def phase(self) -> str:
        """The current phase as announced (a flight only once it has held, see :meth:`land`)."""
        return self.tentative.from_phase if self.tentative is not None else self._phase

    def enter(self, phase: str, time_s: float, out: list[Output]) -> None:
        """Change phase, recording the change in ``out`` (a flight: once it holds)."""
        change = PhaseChange(self.phase, phase, time_s)
        if phase == "flight":
            self.tentative = change
            self.resume_since_s = self.phase_since_s
        else:
            self.tentative = None
            out.append(change)
        self._phase = phase
        self.phase_since_s = time_s

    def observe(self, frame: Frame) -> None:
        """Add a frame to the history and, on the ground, follow the surface's level."""
        self.history.append(frame)
        if not self.track_ground or self.flight is not None or math.isnan(frame.contact_m):
            return
        if self.stance is None:
            self.stance = deque()
        stance = self.stance
        if self.stance_levels is None:
            self.stance_levels = sorted(map(_LEVEL, stance))
        levels = self.stance_levels
        planted = abs(self.foot_speed()) < PLANTED_SPEED_M_S
        if planted and abs(frame.contact_m - self.ground_m) < 3.0 * self.air_threshold_m:
            stance.append((frame.time_s, frame.contact_m))
            bisect.insort(levels, frame.contact_m)
        while stance and frame.time_s - stance[0][0] > STANCE_S:
            del levels[bisect.bisect_left(levels, stance.popleft()[1])]
        if len(stance) >= 3:
            self.ground_m = levels[len(levels) // 2]

    def foot_speed(self, window_s: float = FOOT_SPEED_WINDOW_S, ago_s: float = 0.0) -> float:
        """Vertical foot speed: least-squares slope over ``window_s`` (at least two frames)
        ending ``ago_s`` before the last frame, so that landmark noise does not pass for a
        stop at high fps; NaN without two visible feet."""
        end = self.history[-1].time_s - ago_s
        until = end + 1e-9
        width = window_s + 1e-9
        recent: list[Frame] = []  # newest first; the history is in capture order
        last_two: list[Frame] = []
        wanted = 2
        for f in reversed(self.history):
            t = f.time_s
            age = end - t
            if wanted and t <= until:
                last_two.append(f)
                wanted -= 1
            if age > width:
                if not wanted:
                    break
            elif age >= 0:
                recent.append(f)
        if len(recent) < 2:
            recent = last_two
        seen = [f for f in recent if f.foot_m == f.foot_m]  # not NaN
        if len(seen) < 2:
            return math.nan
        times = [f.time_s for f in seen]
        heights = [f.foot_m for f in seen]
        mean_t = sum(times) / len(seen)
        mean_h = sum(heights) / len(seen)
        spread = 0.0
        moment = 0.0
        for t, h in zip(times, heights, strict=True):
            dt = t - mean_t
            spread += dt**2
            moment += dt * (h - mean_h)
        return moment / spread

    def stopped_near(self) -> bool:
        """Falling feet (``FELL_SPEED_M_S`` or faster a moment ago) that have stopped within
        three air thresholds of the surface: a touchdown on a surface that reads higher."""
        if len(self.history) < 3 or not self.clearance(self.history[-1]) < 3 * self.air_threshold_m:
            return False
        fell = self.foot_speed(ago_s=FOOT_SPEED_WINDOW_S) < -FELL_SPEED_M_S
        return fell and abs(self.foot_speed()) < STOPPED_SPEED_M_S

    def free_falling(self) -> bool:
        """The CoM's velocity fell by more than half of ``g`` over the last frame step:
        nothing holds the body up (feet that seem to stop then are a landmark's noise)."""
        prev, last = self.history[-2], self.history[-1]
        dt = last.time_s - prev.time_s
        return last.velocity_m_s - prev.velocity_m_s < -0.5 * GRAVITY_M_S2 * dt

    def supported_since(self, frames: list[Frame]) -> int | None:
        """Where the body stopped falling in a flight whose feet read no surface: after a
        fall faster than ``FELL_SPEED_M_S`` / 2, the CoM fell no faster from frame to frame
        for ``SUPPORTED_S`` (free fall would have added 1 m/s). Nothing slows a fall in the
        air, so the feet are down on a surface that reads higher (the athlete landed
        farther from the camera, or the camera tilted). The index of the fastest fall
        before that (about the touchdown); ``None`` while the body may still be in the air.
        """
        assert self.flight is not None
        now = frames[-1].time_s
        k = len(frames) - 1
        while k > 0 and now - frames[k - 1].time_s <= SUPPORTED_S + 1e-9:
            if frames[k].velocity_m_s < frames[k - 1].velocity_m_s:
                return None
            k -= 1
        if now - frames[k].time_s < SUPPORTED_S - 0.5 / self.calibration.fps:
            return None
        airborne = [i for i in range(k + 1) if frames[i].time_s > self.flight.takeoff_s]
        if not airborne:
            return None
        fastest = min(airborne, key=lambda i: frames[i].velocity_m_s)
        if frames[fastest].velocity_m_s > -0.5 * FELL_SPEED_M_S:
            return None
        return fastest

    def landed_supported(self, frames: list[Frame]) -> bool:
        """Land a flight where the CoM shows support (:meth:`supported_since`): the surface
        is the feet's median level over ``SUPPORTED_S`` from the fastest fall on, the
        touchdown is sought from the frame after it, and the CoM samples after it leave the
        flight's parabola. Whether it did."""
        assert self.flight is not None
        supported = self.supported_since(frames)
        if supported is None:
            return False
        settled_s = frames[supported].time_s + SUPPORTED_S + 1e-9
        feet = [
            f.foot_m
            for f in frames[supported:]
            if f.foot_m == f.foot_m and f.time_s <= settled_s  # not NaN
        ]
        if not feet:
            return False
        self.ground_m = statistics.median(feet)
        self.flight.keep_until(frames[supported].time_s)
        self.flight.down_s = frames[supported + 1].time_s
        return True

    def clearance(self, frame: Frame) -> float:
        """Lowest foot point above the take-off surface."""
        return frame.foot_m - self.ground_m

    def airborne(self) -> bool:
        """Both of the last two frames show the feet clearly off the surface.

        After a flight that did not count, a new one can start only ``REARM_S`` later and
        once the feet are back on the surface: a stream whose feet never come back to it (a
        wrong floor, a camera tilted away) cannot flicker in and out of flight.
        """
        if not self.armed:
            now = self.history[-1].time_s
            self.armed = now - self.disarmed_s >= REARM_S and self.grounded()
            return False
        if len(self.history) < 2:
            return False
        last, prev = self.history[-1], self.history[-2]
        if not (
            self.clearance(last) > self.air_threshold_m
            and self.clearance(prev) > self.air_threshold_m
            and self.rose_fast()
            and last.com_m - self.ground_m > -TAKEOFF_COM_DROP_M
        ):
            return False
        # A takeoff leaves the surface: feet seen in the air from the first frames on (a
        # person coming into view, the tracker still settling) took off from nowhere.
        for i in range(len(self.history) - 3, -1, -1):
            if self.clearance(self.history[i]) < self.air_threshold_m:
                return True
        return False

    def rose_fast(self) -> bool:
        """The feet rose at ``TAKEOFF_SPEED_M_S`` or faster in some window of the last
        three (a threshold crossed late in a low hop's rise comes when they slow down)."""
        return any(
            self.foot_speed(ago_s=k * FOOT_SPEED_WINDOW_S) > TAKEOFF_SPEED_M_S for k in range(3)
        )

    def grounded(self) -> bool:
        """Both of the last two frames show a foot on the surface (the last one, once the
        input has ended: :meth:`end_of_input`)."""
        if self.ending and self.history:
            return self.clearance(self.history[-1]) < self.air_threshold_m
        if len(self.history) < 2:
            return False
        return all(self.clearance(f) < self.air_threshold_m for f in list(self.history)[-2:])

    def quiet_for(self, frame: Frame, seconds: float, near_m: float | None = 0.06) -> bool:
        """The CoM has been still (and near standing height, if given) for ``seconds``."""
        still = abs(frame.velocity_m_s) < QUIET_SPEED_M_S and (
            near_m is None or abs(frame.com_m) < near_m
        )
        if not still:
            self.quiet_since_s = None
            return False
        if self.quiet_since_s is None:
            self.quiet_since_s = frame.time_s
        return frame.time_s - self.quiet_since_s >= seconds

    def refine_takeoff(self, provisional_s: float | None = None) -> float:
        """Sub-frame takeoff instant from the frames around the last ground contact.

        At detection only a few airborne frames exist; at touchdown the estimate is redone
        around ``provisional_s`` with the full fit window. The feet are on the surface up
        to the last frame within the fit threshold of it, or hovering there (:meth:`hovering`).
        """
        frames = list(self.history)
        if provisional_s is None:
            i = len(frames) - 1
            while i > 0 and not (
                self.clearance(frames[i - 1]) <= self.fit_threshold_m
                or self.hovering(frames, i - 1)
            ):
                i -= 1
        else:
            i = next((k for k, f in enumerate(frames) if f.time_s > provisional_s), 0)
            while i + 1 < len(frames) and (
                not self.clearance(frames[i]) > self.fit_threshold_m or self.hovering(frames, i)
            ):
                i += 1
        ground = frames[i - 1] if i > 0 else frames[0]
        air = [f for f in frames[i:] if f.time_s - frames[i].time_s <= FIT_WINDOW_S]
        crossing = ballistic_crossing(
            [f.time_s for f in air],
            [self.clearance(f) for f in air],
            ground.time_s,
            self.clearance(ground),
            rising=True,
            slack_s=self.crossing_slack(ground),
        )
        if not self.rolls_show():
            return crossing
        start = max(i - 1, 0)
        return self.roll_checked(frames, start, start + self.contact_steps(), crossing, True)

    def hovering(self, frames: list[Frame], k: int) -> bool:
        """``frames[k]`` shows the feet within the air threshold of the surface and rising
        slower than ``TAKEOFF_SPEED_M_S`` over the next ``CONTACT_STEP_S``: a planted foot's
        landmark sliding or jittering above the surface (MediaPipe's do, by a centimetre or
        two for frames on end), not a foot leaving it, which rises at least that fast."""
        here = frames[k]
        if not self.clearance(here) < self.air_threshold_m:
            return False
        later = next((f for f in frames[k + 1 :] if f.time_s - here.time_s >= CONTACT_STEP_S), None)
        if later is None:
            return False
        return later.foot_m - here.foot_m < TAKEOFF_SPEED_M_S * (later.time_s - here.time_s)

    def crossing_slack(self, ground: Frame) -> float:
        """How far beyond the frame taken for the ground, ``ground``, a takeoff or touchdown
        may lie: the time the feet take at the CoM's speed there (at least
        ``TAKEOFF_SPEED_M_S``) to cover the height they were seen at plus the fit
        threshold (the landmark noise's reach), none where that is below the surface. A
        foot within the fit threshold counts as on the surface, though it may be that high
        above it, and a touchdown is timed as soon as the feet come within the air
        threshold (at 240 fps 5 cm is 25 ms of a foot falling at 2 m/s, 6 frames); a foot
        seen well below the surface is on it."""
        speed = max(abs(ground.velocity_m_s), TAKEOFF_SPEED_M_S)
        return max(self.clearance(ground) + self.fit_threshold_m, 0.0) / speed

    def refine_touchdown(
        self, provisional_s: float | None = None, left_m: float | None = None
    ) -> float:
        """Sub-frame touchdown instant from the last airborne frames before contact.

        Without ``provisional_s`` the contact is the one just seen; with it, the contact
        around that earlier instant is refined again (for example once the ground level
        is known better). Feet that halted near ``left_m``, the surface they left (the
        current one if not given), touched there (:meth:`halted`).
        """
        frames = list(self.history)
        i = len(frames) - 1
        if provisional_s is not None:
            i = max(0, next((k for k, f in enumerate(frames) if f.time_s > provisional_s), i))
        while i > 0 and self.clearance(frames[i]) <= self.fit_threshold_m:
            i -= 1
        halt = self.halted(frames, i, self.ground_m if left_m is None else left_m)
        if halt is not None:
            i = halt - 1
            while i > 0 and self.clearance(frames[i]) <= self.fit_threshold_m:
                i -= 1
        last_air = frames[i]
        ground = frames[i + 1] if i + 1 < len(frames) else frames[-1]
        air = [f for f in frames[: i + 1] if last_air.time_s - f.time_s <= FIT_WINDOW_S]
        air = [f for f in air if self.clearance(f) > self.fit_threshold_m] or [last_air]
        crossing = ballistic_crossing(
            [f.time_s for f in air],
            [self.clearance(f) for f in air],
            ground.time_s,
            0.0 if halt == i + 1 else self.clearance(ground),
            rising=False,
            slack_s=self.crossing_slack(ground),
        )
        if not self.rolls_show():
            return crossing
        end = min(i + 1, len(frames) - 1)
        touchdown = self.roll_checked(frames, end - self.contact_steps(), end, crossing, False)
        onset = self.compression_onset(frames, end)
        return touchdown if onset is None else min(touchdown, onset)

    def compression_onset(self, frames: list[Frame], end: int) -> float | None:
        """The end of the first frame step, in the ``LEGS_SEARCH_S`` before a touchdown
        found at ``frames[end]``, in which the legs began to shorten while the CoM fell
        faster than ``TAKEOFF_SPEED_M_S``: the CoM came closer to the lowest foot point by
        more than a third of its own fall in that step, and over it and the next by more
        than a third of its fall in both and more than the feet's noise allows. ``None``
        where the legs did not shorten so.

        In the air the legs keep their length or reach for the ground; a foot on the
        surface stops while the CoM falls on, so after a touchdown the legs shorten by
        the CoM's whole fall. At 30 fps a pose model's lowest foot point can read
        centimetres high as the toes land and sink on for several frames (the heel comes
        down, the landmark slides): the legs show the contact that the feet's height
        shows late. The touchdown lies in the first step that shortened them, or before.
        """
        limit = 3.0 * math.sqrt(2.0) * self.calibration.foot_noise_m
        found: float | None = None
        for k in range(min(end, len(frames) - 3), 0, -1):
            a, b, c = frames[k], frames[k + 1], frames[k + 2]
            if frames[end].time_s - a.time_s > LEGS_SEARCH_S + 1e-9:
                break
            shortened = (a.com_raw_m - a.foot_m) - (c.com_raw_m - c.foot_m)
            first = (a.com_raw_m - a.foot_m) - (b.com_raw_m - b.foot_m)
            if (
                shortened > max(limit, (a.com_raw_m - c.com_raw_m) / 3.0)
                and first > (a.com_raw_m - b.com_raw_m) / 3.0
                and b.velocity_m_s < -TAKEOFF_SPEED_M_S
                and self.clearance(b) < self.air_threshold_m + (b.com_raw_m - c.com_raw_m)
            ):
                found = b.time_s
        return found

    def halted(self, frames: list[Frame], last: int, surface_m: float) -> int | None:
        """The earliest frame in the ``CONTACT_SEARCH_S`` up to ``frames[last]`` (the last
        one seen above the surface at a touchdown) where the falling feet halted: while the
        CoM fell faster than ``TAKEOFF_SPEED_M_S``, the lowest foot point, within the air
        threshold plus the CoM's fall of ``surface_m``, fell less than half as far as the CoM
        (by more than the fit threshold) or rose, having come down to it no faster than
        twice the CoM (plus the air threshold: a foot seen at the surface for one frame is
        a landmark's stray); ``None`` if there is none.

        In the last frame period before a touchdown the legs reach down with the body, so
        feet that halt there have touched: a surface that reads higher, or a landmark that
        moved up the foot as it landed (a pose model's toe landmark rises with the heel as
        the forefoot lands, centimetres above the toes on the ground).
        """
        found = None
        for k in range(last, 1, -1):
            if frames[last].time_s - frames[k].time_s > CONTACT_SEARCH_S + 1e-9:
                break
            cur, prev, before = frames[k], frames[k - 1], frames[k - 2]
            fall_m = -cur.velocity_m_s * (cur.time_s - prev.time_s)
            fell_m = -prev.velocity_m_s * (prev.time_s - before.time_s)
            if (
                cur.foot_m - prev.foot_m > self.fit_threshold_m - 0.5 * fall_m
                and prev.foot_m - surface_m < self.air_threshold_m + fall_m
                and before.foot_m - prev.foot_m < 2.0 * fell_m + self.air_threshold_m
                and cur.velocity_m_s < -TAKEOFF_SPEED_M_S
            ):
                found = k
        return found

    def roll_checked(
        self, frames: list[Frame], first: int, last: int, crossing: float, rising: bool
    ) -> float:
        """A takeoff (``rising``) or touchdown ``crossing`` kept to the step of
        ``frames[first:last + 1]`` in which the feet moved fastest (:meth:`fastest_step`)
        or the step next to it on the ground's side.

        Before a takeoff a foot may roll on the surface (the heel rising, a landmark on the
        toes lifting with it), and after a landing on the toes the heel comes down: slower
        motion that a ballistic fit through the first (last) airborne points extends to
        the floor a frame or two too early (late). The contact lies in the fastest step or
        next to it (the ground's side of a step moves slower, partly on the surface).
        """
        found = self.fastest_step(frames[max(first, 0) : last + 1], 1.0 if rising else -1.0)
        if found is None:
            return crossing
        before, after = found
        step = after.time_s - before.time_s
        if rising:
            return min(max(crossing, before.time_s - step), after.time_s)
        return min(max(crossing, before.time_s), after.time_s + step)

    def rolls_show(self) -> bool:
        """Whether takeoff and touchdown are kept to the feet's fastest step (see
        :meth:`fastest_step`): when a frame period spans ``CONTACT_STEP_S`` or more (40 fps
        and below). There a foot's roll before takeoff or after touchdown is a frame or two
        of a slow rise or fall that a ballistic fit through two airborne points extends to
        the floor too early (too late); faster, the fit has more airborne frames, and
        steps that span several frames pick up a sliding foot landmark's drift instead."""
        return self.calibration.fps * CONTACT_STEP_S <= 1.0 + 1e-6

    def contact_steps(self) -> int:
        """Frame steps searched for the feet's fastest motion next to a contact: those of
        ``CONTACT_SEARCH_S``, at least three steps of ``CONTACT_STEP_S``."""
        step = max(1, math.ceil(CONTACT_STEP_S * self.calibration.fps - 1e-6))
        return max(3 * step, round(CONTACT_SEARCH_S * self.calibration.fps))

    def fastest_step(self, frames: list[Frame], sign: float) -> tuple[Frame, Frame] | None:
        """The step between ``frames`` in which the feet moved fastest up (``sign`` 1) or
        down (-1), its ground-side end (the first frame going up, the last coming down)
        within the air threshold plus the CoM's travel in the step of the surface; ``None``
        without such a step. A step spans at least ``CONTACT_STEP_S``, so that landmark
        noise (millimetres) stays far below the feet's motion in it (centimetres). A step
        that ends farther up is in the air, and where it is the fastest a landmark's stray
        (a foot landmark jumping by a decimetre for a frame) made it so."""
        seen = [f for f in frames if not math.isnan(f.foot_m)]
        best: tuple[float, Frame, Frame] | None = None
        j = 0
        for before in seen:
            while j < len(seen) and seen[j].time_s - before.time_s < CONTACT_STEP_S - 1e-9:
                j += 1
            if j == len(seen):
                break
            after = seen[j]
            ground_side = before if sign > 0 else after
            travel = abs(after.com_raw_m - before.com_raw_m)
            if self.clearance(ground_side) > self.air_threshold_m + travel:
                continue
            speed = sign * (after.foot_m - before.foot_m) / (after.time_s - before.time_s)
            if best is None or speed > best[0]:
                best = (speed, before, after)
        return None if best is None else (best[1], best[2])

    def start_flight(self, out: list[Output]) -> None:
        """Enter flight at the refined takeoff instant.

        Not if that instant lies before the current phase began: the feet have not been
        down since (a landing on a surface that reads higher, not yet followed), and the
        flight found would be the last one again. Where the CoM rose slower than
        ``TAKEOFF_SPEED_M_S`` at that instant, or still faster and faster after it
        (:meth:`still_pushing`), the flight begins where the push-off ended
        (:meth:`push_off_end`), or not yet: a body leaves the ground rising at g times half
        the flight time, at least that fast for the shortest flight counted, so feet seen
        above the surface before are landmark noise or a floor level gone stale (feet
        drifting up through a squat jump's push-off, a flight rejected once the CoM left no
        parabola, would have cost the jump that followed it).
        """
        takeoff = self.refine_takeoff()
        if takeoff < self.phase_since_s:
            return
        if self.nearest(takeoff).velocity_m_s < TAKEOFF_SPEED_M_S or self.still_pushing(takeoff):
            push_off_end = self.push_off_end(takeoff)
            if push_off_end is None:
                return
            takeoff = push_off_end
        self.flight = FlightRecord(takeoff, ground_m=self.ground_m)
        for f in self.history:
            if f.time_s > takeoff and self.clearance(f) > self.fit_threshold_m:
                self.flight.times.append(f.time_s)
                self.flight.com.append(f.com_raw_m)
        self.enter("flight", takeoff, out)

    def nearest(self, time_s: float) -> Frame:
        """The frame in the history captured nearest to ``time_s``."""
        return min(self.history, key=lambda f: abs(f.time_s - time_s))

    def rise_peak(self, since_s: float) -> Frame | None:
        """The frame from ``since_s`` on where the CoM rose fastest; ``None`` with fewer
        than two frames since."""
        after = [f for f in self.history if f.time_s >= since_s]
        return max(after, key=lambda f: f.velocity_m_s) if len(after) >= 2 else None

    def still_pushing(self, takeoff_s: float) -> bool:
        """The CoM rose faster and faster after ``takeoff_s``, up to the last frame or for
        more than ``PUSH_OFF_SLACK_S``: the body was still pushing off the ground (in the
        air it slows at g), and feet seen above the surface then may be a planted foot's
        landmark slid up."""
        peak = self.rise_peak(takeoff_s)
        if peak is None or peak.velocity_m_s <= self.nearest(takeoff_s).velocity_m_s:
            return False  # slower since (frames missing in between hide the peak)
        return peak is self.history[-1] or peak.time_s - takeoff_s > PUSH_OFF_SLACK_S

    def push_off_end(self, since_s: float) -> float | None:
        """Where the CoM's rise peaked after ``since_s``, once it has (the push-off ends
        there and the flight begins), if it rose at ``TAKEOFF_SPEED_M_S`` or faster; else
        ``None``: feet seen leaving before that (a toe landmark rising with the heel, a
        floor level gone stale) were not a takeoff yet."""
        peak = self.rise_peak(since_s)
        if peak is None or peak is self.history[-1] or peak.velocity_m_s < TAKEOFF_SPEED_M_S:
            return None
        return peak.time_s

    def track_flight(self, frame: Frame) -> bool:
        """Record a frame in the air; ``False`` once the flight has lasted impossibly long."""
        assert self.flight is not None
        if frame.time_s - self.flight.takeoff_s > MAX_FLIGHT_S:
            return False
        if self.clearance(frame) > self.fit_threshold_m and (
            not self.flight.times or frame.time_s > self.flight.times[-1]
        ):
            self.flight.times.append(frame.time_s)
            self.flight.com.append(frame.com_raw_m)
        return True

    def finish_flight(self) -> tuple[dict[str, float | bool | None], list[str], float] | None:
        """Touchdown: flight metrics, warnings and confidence; ``None`` if not a real flight.

        Not one where the CoM was rising at the touchdown found: a body lands falling (at g
        times half the flight time), so feet seen coming down onto the surface then were a
        pose model's landmarks settling (the first frames of a track), not a landing.
        """
        assert self.flight is not None
        flight = self.flight
        self.flight = None
        landing_ground = self.ground_m
        self.ground_m = flight.ground_m
        flight.takeoff_s = self.refine_takeoff(flight.takeoff_s)
        self.ground_m = landing_ground
        landing = self.refine_touchdown(
            None if flight.down_s is None else flight.down_s - 1e-6, flight.ground_m
        )
        flight_time = landing - flight.takeoff_s
        warnings: list[str] = []
        confidence = 1.0
        if not MIN_FLIGHT_S <= flight_time <= MAX_FLIGHT_S:
            return None
        if self.nearest(landing).velocity_m_s > 0.0:
            return None
        fit = fit_parabola(flight.times, flight.com)
        if fit is None or fit.c2 >= 0:
            return None  # too few frames in the air to tell, or not falling: not a jump
        gravity_ratio = -fit.acceleration_m_s2 / GRAVITY_M_S2
        if not 0.5 <= gravity_ratio <= 1.7:
            return None
        takeoff_s, landing = self.toe_stand_instants(
            flight.takeoff_s, landing, flight.ground_m, landing_ground
        )
        flight.takeoff_s = takeoff_s
        flight_time = landing - flight.takeoff_s
        ballistic = abs(gravity_ratio - 1.0) <= 0.25
        climbed = landing_ground - flight.ground_m
        if ballistic and abs(fit.value(landing) - fit.value(flight.takeoff_s) - climbed) > (
            FEET_COM_LEVEL_M
        ):
            warnings.append("feet_and_com_disagree")
            confidence *= 0.7
        if ballistic and abs(climbed) < self.air_threshold_m:
            flight.takeoff_s = self.mirrored_takeoff(flight.takeoff_s, landing, fit)
            flight_time = landing - flight.takeoff_s
        height = flight_height_m(flight_time)
        com_rise = max(0.0, fit.apex_m - fit.value(flight.takeoff_s))
        if abs(gravity_ratio - 1.0) > 0.25:
            warnings.append("flight_not_ballistic")
            confidence *= 0.6
        if height > 0.03 and not 0.6 <= com_rise / height <= 1.5:
            warnings.append("com_and_flight_time_disagree")
            confidence *= 0.7
        metrics: dict[str, float | bool | None] = {
            "flight_time_s": flight_time,
            "jump_height_m": height,
            "jump_height_com_m": com_rise,
            "takeoff_velocity_m_s": GRAVITY_M_S2 * flight_time / 2.0,
            "takeoff_time_s": flight.takeoff_s,
            "landing_time_s": landing,
        }
        return metrics, warnings, confidence

    def toe_stand_instants(
        self, takeoff_s: float, landing_s: float, left_m: float, landed_m: float
    ) -> tuple[float, float]:
        """The takeoff and landing, each moved to where the lowest foot point crossed
        ``toe_stand_m`` above the flat feet's level, if that lies inside the flight found
        and leaves at least ``MIN_FLIGHT_S``.

        Where the camera cannot see the foot's pitch (from the front), the lowest foot
        landmark reads that high while the toes are still on the surface at a takeoff, and
        again when they touch it at a landing (a pose model moves the toe landmark with the
        ankle, which the heel's rise lifts): feet seen below it may be on the surface. The
        flat feet's level is the calibrated floor, where the athlete stood still, unless
        the surface the feet left (``left_m``) or landed on (``landed_m``) reads lower (a
        camera that tilted) or higher by more than the toe stand and the air threshold
        together (another surface): between hops the heels seldom come down, and the
        surface followed on the feet reads up to the toe stand's height above the floor.
        A level is never taken higher than the fit threshold (the landmark noise's reach)
        below the feet's highest point in the flight: the feet of a hop too low to rise
        clear of the toe stand are timed nearer where they were seen to leave and land.
        """
        if self.toe_stand_m <= 0.0:
            return takeoff_s, landing_s
        same = self.air_threshold_m + self.toe_stand_m
        left_m = 0.0 if 0.0 < left_m < same else left_m
        landed_m = 0.0 if 0.0 < landed_m < same else landed_m
        frames = [f for f in self.history if f.foot_m == f.foot_m]  # not NaN
        peak = max((f.foot_m for f in frames if takeoff_s < f.time_s < landing_s), default=None)
        if peak is None:
            return takeoff_s, landing_s
        top = peak - self.fit_threshold_m
        rise_level = min(left_m + self.toe_stand_m, top)
        fall_level = min(landed_m + self.toe_stand_m, top)
        up = down = None
        for k, (a, b) in enumerate(itertools.pairwise(frames)):
            if not (a.time_s < landing_s and b.time_s > takeoff_s):
                continue
            if up is None and a.foot_m <= rise_level < b.foot_m:
                air = [f for f in frames[k + 1 :] if f.time_s - b.time_s <= FIT_WINDOW_S]
                up = level_crossing(air, a, rise_level, rising=True)
            if a.foot_m > fall_level >= b.foot_m:
                air = [f for f in frames[: k + 1] if a.time_s - f.time_s <= FIT_WINDOW_S]
                down = level_crossing(air, b, fall_level, rising=False)
        new_takeoff = takeoff_s if up is None else max(takeoff_s, up)
        new_landing = landing_s if down is None else min(landing_s, down)
        if new_landing - new_takeoff < MIN_FLIGHT_S:
            return takeoff_s, landing_s
        return new_takeoff, new_landing

    def mirrored_takeoff(self, takeoff_s: float, landing_s: float, fit: ParabolaFit) -> float:
        """The feet's ``takeoff_s``, or the CoM parabola's mirror of the landing where the
        feet left more than half a frame period earlier (and it leaves ``MIN_FLIGHT_S``).

        Flight is ballistic: between a takeoff and a landing on the same surface the CoM is
        on one parabola, and it lands no higher than it left (the legs extended at both
        instants, usually less so at touchdown), so the takeoff lies no earlier than the
        landing mirrored about the apex. Feet that seem to leave before that are still on
        the surface: a pose model's toe landmark rises with the heel as the ankle extends,
        centimetres before the toes leave (measured on real footage at 30 fps).
        """
        mirrored = 2.0 * fit.apex_time_s - landing_s
        if mirrored - takeoff_s > 0.5 / self.calibration.fps and (
            landing_s - mirrored >= MIN_FLIGHT_S
        ):
            return mirrored
        return takeoff_s

    def end_of_input(self) -> list[Output]:
        """The input ended in a flight: if its last frame showed the feet back within the
        air threshold of the surface, the flight lands there, on that one frame instead
        of two (a clip cut right after the landing). The rep says so
        (``ended_at_landing``, confidence x0.8)."""
        if self.flight is None or len(self.history) < 3:
            return []
        last = self.history.pop()
        self.ending = True
        try:
            return self.update(last)
        finally:
            self.ending = False

    @abstractmethod
    def update(self, frame: Frame) -> list[Output]:
        """Advance by one frame (each movement implements its phases)."""

    def land(self, frame: Frame, out: list[Output]) -> Landing | None:
        """Follow a flight; at a confirmed touchdown return its metrics.

        Impossible flights (too long, or not ballistic) end in a warning and the machine's
        initial phase instead of a repetition. A flight is announced only once it has held
        for ``MIN_FLIGHT_S``: feet back down before that were a false takeoff (landmark
        noise), and the machine resumes the phase it was in, silently.
        """
        assert self.flight is not None
        if self.tentative is not None and frame.time_s - self.flight.takeoff_s < MIN_FLIGHT_S:
            if self.grounded():
                self._phase, self.phase_since_s = self.tentative.from_phase, self.resume_since_s
                self.tentative = None
                self.flight = None
            return None
        if self.tentative is not None:
            out.append(self.tentative)
            self.tentative = None
        if not self.track_flight(frame):
            out.append(MachineWarning("flight_too_long", "feet off the floor for too long"))
            self.flight = None
            self.armed = False
            self.disarmed_s = frame.time_s
            self.enter(self.initial_phase, frame.time_s, out)
            return None
        prev, last = self.history[-2], self.history[-1]
        if not self.grounded():
            # Feet that rose as they halted touched the surface they left (a landmark moved
            # up the foot); feet that stopped short of it met a surface that reads higher.
            frames = list(self.history)
            halt = self.halted(frames, len(frames) - 1, self.flight.ground_m)
            if halt is None or frames[halt].foot_m <= frames[halt - 1].foot_m:
                if self.stopped_near() and not self.free_falling():
                    self.ground_m = 0.5 * (prev.foot_m + last.foot_m)
                elif not self.landed_supported(frames):
                    return None
        else:
            # Still falling: the feet have not met a surface yet, whatever its level reads (a
            # camera that tilted up with the jump shows the floor lower now, and noisy feet
            # count as down some centimetres above it). They meet it where they stop falling.
            if self.flight.down_s is None:
                self.flight.down_s = prev.time_s
            if self.foot_speed() < -FELL_SPEED_M_S:
                if not self.ending:  # no later frame will show where they stop
                    return None
            else:
                stopped = 0.5 * (prev.foot_m + last.foot_m)
                if stopped < self.ground_m - self.fit_threshold_m:
                    if stopped < self.ground_m - self.air_threshold_m:
                        out.append(
                            MachineWarning(
                                "camera_moved",
                                f"the feet landed {100 * (self.ground_m - stopped):.0f} cm below "
                                "the surface they left in the image (a camera tilting with the "
                                "jump?): the touchdown is timed where they stopped",
                            )
                        )
                    self.ground_m = stopped
                    self.flight.down_s = None
        result = self.finish_flight()
        if result is None:
            out.append(MachineWarning("rejected_flight", "feet left the floor, but not in a jump"))
            self.armed = False
            self.disarmed_s = frame.time_s
            self.enter(self.initial_phase, frame.time_s, out)
            return None
        metrics, warnings, confidence = result
        if self.ending:
            warnings.append("ended_at_landing")
            confidence *= 0.8
        takeoff, landing = metrics["takeoff_time_s"], metrics["landing_time_s"]
        assert isinstance(takeoff, float)
        assert isinstance(landing, float)
        self.enter("landing", landing, out)
        return Landing(takeoff, landing, metrics, warnings, confidence)

    def backtrack(self, level: float, rising: bool, from_rest: bool = False) -> float:
        """Time where the CoM velocity last crossed ``level``, looking back from now.

        ``rising`` looks for where it last was at or below ``level`` (it has risen through
        it since), otherwise at or above. The crossing is interpolated between frames.
        ``from_rest`` extrapolates further back, along the velocity's slope at the
        crossing, to where it was zero: the onset of a movement that starts from standing
        still (at most 0.1 s earlier).
        """
        frames = self.history
        for i in range(len(frames) - 1, 0, -1):
            prev, cur = frames[i - 1], frames[i]
            if (prev.velocity_m_s <= level) if rising else (prev.velocity_m_s >= level):
                dv = cur.velocity_m_s - prev.velocity_m_s
                dt = cur.time_s - prev.time_s
                share = (level - prev.velocity_m_s) / dv if abs(dv) > 1e-12 else 0.0
                crossing = prev.time_s + min(max(share, 0.0), 1.0) * dt
                if from_rest and abs(dv) > 1e-12:
                    crossing -= min(max(level / (dv / dt), 0.0), 0.1)
                return crossing
        return frames[0].time_s

    def metric_frames(self, start_s: float, end_s: float) -> list[Frame]:
        """History frames in [start_s, end_s]."""
        return [f for f in self.history if start_s <= f.time_s <= end_s]


def level_crossing(air: list[Frame], ground: Frame, level_m: float, rising: bool) -> float:
    """When the lowest foot point crossed ``level_m`` between the frame ``ground`` below it
    and the frames ``air`` above it, along a ballistic path through those
    (:func:`~kinestream.operators.ballistics.ballistic_crossing`)."""
    return ballistic_crossing(
        [f.time_s for f in air],
        [f.foot_m - level_m for f in air],
        ground.time_s,
        ground.foot_m - level_m,
        rising=rising,
    )


def finite(value: float) -> float | None:
    """``value`` or ``None`` when it is not finite."""
    return value if math.isfinite(value) else None


def rounded(metrics: dict[str, Any], digits: int = 4) -> dict[str, Any]:
    """Round float metrics for display and wire (bools and ``None`` unchanged)."""
    return {
        k: round(v, digits) if isinstance(v, float) and not isinstance(v, bool) else v
        for k, v in metrics.items()
    }
