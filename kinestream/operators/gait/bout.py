"""Steps and the gait figures over a window of them or a whole bout.

A **step** is one foot's contact together with what came before it: the flight from the
other foot's toe-off to this strike, and the step time from the other foot's strike to this
one. Figures over steps:

* cadence: steps per minute, 120 over the mean stride time (a foot's strike to its next);
* contact, flight and step time: means;
* duty factor: contact time over stride time (two steps), ``contact / (2 * step)``;
* L/R contact-time asymmetry: ``100 * (left - right) / ((left + right) / 2)`` percent,
  positive when the left contacts last longer;
* speed: the treadmill's belt speed when the session gives it, else the speed at which the
  hip passes over the planted foot, measured on video (scale from the athlete's height);
  step length is speed times step time.

A step whose strike or toe-off is only known to a frame (``coarse``) counts in cadence and
the step count but not in the contact-time figures. Steps the runner made but the analysis
did not report (a far foot hidden at its strike or toe-off) are counted from the feet's
alternation: two reported steps of one foot in a row, or a gap of several step times,
have unseen steps between them (``unseen_steps`` of the bout).

:class:`GaitWindow` keeps the last ``WINDOW_STEPS`` steps; :class:`BoutStats` keeps running
sums, so both stay the same size however long the run. A step whose step time is more than
``REGULAR_SHARE`` from the recent median still counts, but not its step and flight times.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Final

WINDOW_STEPS: Final = 10
"""Steps in a rolling ``gait_update``."""
REGULAR_SHARE: Final = 0.15
LEFT: Final = "left"
RIGHT: Final = "right"


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a running bout."""

    number: int
    foot: str
    strike_s: float
    toe_off_s: float
    flight_before_s: float | None
    step_time_s: float | None
    speed_m_s: float | None
    foot_visibility: float
    low_confidence: bool
    coarse: bool = False
    """Its strike or toe-off is only known to a frame (see ``Contact.coarse``)."""
    stride_time_s: float | None = None
    """This strike from the same foot's strike before (two steps): cadence comes from
    strides, in which a foot's systematic timing error cancels."""
    regular: bool = True
    """Its step time is within ``REGULAR_SHARE`` of the recent steps' median: only then do
    its step and flight times count in the figures (a far-foot contact timed 60 ms off, or
    one the pose model gave the wrong foot, would skew cadence)."""

    @property
    def contact_time_s(self) -> float:
        """Strike to toe-off."""
        return self.toe_off_s - self.strike_s

    @property
    def step_length_m(self) -> float | None:
        """Speed times step time, where both are known."""
        if self.speed_m_s is None or self.step_time_s is None:
            return None
        return self.speed_m_s * self.step_time_s

    def payload(self) -> dict[str, Any]:
        """The ``step`` event's payload."""
        return {
            "step": self.number,
            "foot": self.foot,
            "strike_time_s": round(self.strike_s, 5),
            "toe_off_time_s": round(self.toe_off_s, 5),
            "contact_time_s": round(self.contact_time_s, 5),
            "flight_time_s": _round(self.flight_before_s),
            "step_time_s": _round(self.step_time_s),
            "step_length_m": _round(self.step_length_m, 3),
            "speed_m_s": _round(self.speed_m_s, 3),
            "foot_visibility": round(self.foot_visibility, 3),
            "low_confidence": self.low_confidence,
        }


def _round(value: float | None, digits: int = 5) -> float | None:
    return None if value is None else round(value, digits)


class _Sums:
    """Count and sum of one figure."""

    __slots__ = ("count", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0

    def add(self, value: float | None) -> None:
        if value is not None:
            self.count += 1
            self.total += value

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


def figures(
    cadence_spm: float | None,
    contact: dict[str, _Sums],
    flight: _Sums,
    step_time: _Sums,
    speed: _Sums,
) -> dict[str, Any]:
    """The gait figures from sums of steps (see the module docstring)."""
    both = _Sums()
    for side in (LEFT, RIGHT):
        both.count += contact[side].count
        both.total += contact[side].total
    ct, step = both.mean, step_time.mean
    left, right = contact[LEFT].mean, contact[RIGHT].mean
    asymmetry = None
    if left is not None and right is not None and left + right > 0:
        asymmetry = 100.0 * (left - right) / (0.5 * (left + right))
    duty = ct / (2.0 * step) if ct is not None and step else None
    length = speed.mean * step if speed.mean is not None and step is not None else None
    return {
        "cadence_spm": _round(cadence_spm, 2),
        "contact_time_s": _round(ct, 4),
        "flight_time_s": _round(flight.mean, 4),
        "step_time_s": _round(step, 4),
        "duty_factor": _round(duty, 4),
        "left_contact_time_s": _round(left, 4),
        "right_contact_time_s": _round(right, 4),
        "contact_time_asymmetry_pct": _round(asymmetry, 2),
        "step_length_m": _round(length, 3),
        "speed_m_s": _round(speed.mean, 3),
    }


def _sums_of(steps: list[Step]) -> tuple[dict[str, _Sums], _Sums, _Sums, _Sums, _Sums]:
    contact = {LEFT: _Sums(), RIGHT: _Sums()}
    flight, step_time, speed, stride = _Sums(), _Sums(), _Sums(), _Sums()
    for s in steps:
        if not s.coarse:
            contact[s.foot].add(s.contact_time_s)
        if s.regular:
            flight.add(s.flight_before_s)
            step_time.add(s.step_time_s)
            stride.add(s.stride_time_s)
        speed.add(s.speed_m_s)
    return contact, flight, step_time, speed, stride


def cadence_spm(stride_time: _Sums, step_time: _Sums) -> float | None:
    """Steps per minute from the mean stride time (two steps), else the mean step time."""
    if stride_time.mean:
        return 120.0 / stride_time.mean
    return 60.0 / step_time.mean if step_time.mean else None


def unseen_between(gap_s: float, same_foot: bool, step_time_s: float | None) -> int:
    """Steps the runner must have made between two reported strikes ``gap_s`` apart: the
    feet alternate, so an odd number when both are of one foot, an even one otherwise; how
    many from the step time, when known."""
    extra = gap_s / step_time_s - 1.0 if step_time_s else 0.0
    if same_foot:
        return max(2 * round((extra - 1.0) / 2.0) + 1, 1)
    return max(2 * round(extra / 2.0), 0)


class GaitWindow:
    """The last ``WINDOW_STEPS`` steps of a bout."""

    def __init__(self) -> None:
        self.steps: deque[Step] = deque(maxlen=WINDOW_STEPS)

    def add(self, step: Step) -> None:
        """Add a step."""
        self.steps.append(step)

    def regular(self, step: Step) -> Step:
        """``step`` with ``regular`` set (its step time close to the window's median; always,
        with fewer than three step times to compare with) and its stride kept only when
        close to two of those (from the first step time on: a stride across an unseen pair
        of steps is two)."""
        times = sorted(s.step_time_s for s in self.steps if s.step_time_s is not None)
        if not times:
            return step
        median = times[len(times) // 2]
        stride = step.stride_time_s
        if stride is not None and abs(stride - 2 * median) > 2 * REGULAR_SHARE * median:
            stride = None
        regular = (
            len(times) < 3
            or step.step_time_s is None
            or abs(step.step_time_s - median) <= REGULAR_SHARE * median
        )
        return replace(step, regular=regular, stride_time_s=stride)

    def step_time_s(self) -> float | None:
        """The median step time of the window's steps, if any."""
        times = sorted(s.step_time_s for s in self.steps if s.step_time_s is not None)
        return times[len(times) // 2] if times else None

    def payload(self) -> dict[str, Any]:
        """The ``gait_update`` payload."""
        steps = list(self.steps)
        contact, flight, step_time, speed, stride = _sums_of(steps)
        return {
            "steps": len(steps),
            "window_steps": WINDOW_STEPS,
            **figures(cadence_spm(stride, step_time), contact, flight, step_time, speed),
        }


class BoutStats:
    """Running sums of one bout: its steps' figures in constant memory."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.steps = 0
        self.low_confidence_steps = 0
        self.unseen_steps = 0
        self.first_strike_s = math.nan
        self.last_strike_s = math.nan
        self.last_toe_off_s = math.nan
        self._contact = {LEFT: _Sums(), RIGHT: _Sums()}
        self._flight = _Sums()
        self._step_time = _Sums()
        self._speed = _Sums()
        self._stride = _Sums()
        self._last_foot = ""

    def add(self, step: Step, step_time_s: float | None = None) -> None:
        """Count one step (``step_time_s``: the recent steps' median, for unseen steps)."""
        if self.steps == 0:
            self.first_strike_s = step.strike_s
        else:
            self.unseen_steps += unseen_between(
                step.strike_s - self.last_strike_s, step.foot == self._last_foot, step_time_s
            )
        self.steps += 1
        self.low_confidence_steps += step.low_confidence
        self.last_strike_s = step.strike_s
        self.last_toe_off_s = step.toe_off_s
        self._last_foot = step.foot
        if not step.coarse:
            self._contact[step.foot].add(step.contact_time_s)
        if step.regular:
            self._flight.add(step.flight_before_s)
            self._step_time.add(step.step_time_s)
            self._stride.add(step.stride_time_s)
        self._speed.add(step.speed_m_s)

    def payload(self, reason: str) -> dict[str, Any]:
        """The ``bout_summary`` payload."""
        cadence = cadence_spm(self._stride, self._step_time)
        return {
            "bout": self.number,
            "steps": self.steps,
            "start_time_s": round(self.first_strike_s, 5),
            "end_time_s": round(self.last_toe_off_s, 5),
            "duration_s": round(self.last_toe_off_s - self.first_strike_s, 4),
            "low_confidence_steps": self.low_confidence_steps,
            "unseen_steps": self.unseen_steps,
            "reason": reason,
            **figures(cadence, self._contact, self._flight, self._step_time, self._speed),
        }
