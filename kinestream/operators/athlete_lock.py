"""Keeps a stream's analysis on one athlete when the pose tracker jumps to someone else.

Single-person pose estimators (MediaPipe Pose among them) follow whoever they detect first
and, once they lose that person, re-detect the most prominent one in view: a coach walking
past, a team-mate. :class:`AthleteLock` tells such a switch from the athlete's own motion
with physics and persistence, no appearance model and no calibration:

* reach: a body cannot move faster than ``MAX_SPEED_LEGS_PER_S`` (in leg lengths per
  second; 12 leg lengths is about 10 m/s, a sprint). The first person seen becomes the
  athlete; a detection out of the athlete's reach is another person, and so is every later
  detection that continues that person's track rather than the athlete's;
* a detection far from where the athlete was (over ``NEAR_LEGS``) after the athlete was
  unseen for ``GAP_S`` is within reach but ambiguous: it starts a candidate track, whose
  frames are dropped until it has lasted ``PROMOTE_S`` (then it is the athlete, who moved
  while unseen). If the athlete shows up near their old place first, the candidate was
  someone else;
* the lock is released after ``RELEASE_AFTER_S`` without the athlete, so that a new
  athlete can take over a stream.

The lock is plain, picklable state: a few numbers whatever the stream's length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from kinestream.operators.anthropometry import BodyMeasurement
from kinestream.slots import field_setters

MAX_SPEED_LEGS_PER_S: Final = 12.0
REACH_MARGIN_LEGS: Final = 1.0
NEAR_LEGS: Final = 1.5
GAP_S: Final = 0.1
PROMOTE_S: Final = 1.0
RELEASE_AFTER_S: Final = 10.0


@dataclass(frozen=True, slots=True, init=False)
class _Track:
    """One person: where last seen (capture time, CoM in pixels), leg length, since when."""

    time_s: float
    x_px: float
    y_px: float
    leg_px: float
    since_s: float

    def __init__(
        self, time_s: float, x_px: float, y_px: float, leg_px: float, since_s: float
    ) -> None:
        # Through the slots: a frozen dataclass's __init__ costs twice as much (a frame).
        _set_time(self, time_s)
        _set_x(self, x_px)
        _set_y(self, y_px)
        _set_leg(self, leg_px)
        _set_since(self, since_s)

    def distance(self, body: BodyMeasurement) -> float:
        """Pixels between this track's last CoM and ``body``'s."""
        return math.hypot(body.com_x_px - self.x_px, body.com_y_px - self.y_px)

    def reaches(self, time_s: float, body: BodyMeasurement) -> bool:
        """Whether ``body`` at ``time_s`` is within this person's reach."""
        dt = max(time_s - self.time_s, 0.0)
        return self.distance(body) <= (MAX_SPEED_LEGS_PER_S * dt + REACH_MARGIN_LEGS) * self.leg_px

    def follow(self, time_s: float, body: BodyMeasurement) -> _Track:
        """The track after seeing ``body``; its size smoothed (one frame's legs can be
        foreshortened)."""
        leg = 0.8 * self.leg_px + 0.2 * body.leg_length_px
        return _Track(time_s, body.com_x_px, body.com_y_px, leg, self.since_s)


_set_time, _set_x, _set_y, _set_leg, _set_since = field_setters(_Track)


def _new_track(time_s: float, body: BodyMeasurement) -> _Track:
    return _Track(time_s, body.com_x_px, body.com_y_px, body.leg_length_px, time_s)


class AthleteLock:
    """Decides, frame by frame, whether a detected body is the stream's athlete."""

    def __init__(self) -> None:
        self._athlete: _Track | None = None
        self._candidate: _Track | None = None
        self._other: _Track | None = None

    @property
    def locked(self) -> bool:
        """Whether an athlete has been seen (and not released since)."""
        return self._athlete is not None

    def accept(self, time_s: float, body: BodyMeasurement) -> bool:
        """``True`` when ``body`` is the athlete (the lock follows it), else ``False``."""
        athlete = self._athlete
        if athlete is not None and time_s - athlete.time_s > RELEASE_AFTER_S:
            self.release()
            athlete = None
        if athlete is None:
            self._athlete = _new_track(time_s, body)
            return True
        track = self._continued(time_s, body, athlete)
        if track == "other":
            assert self._other is not None
            self._other = self._other.follow(time_s, body)
            return False
        if track == "candidate":
            assert self._candidate is not None
            candidate = self._candidate.follow(time_s, body)
            if time_s - candidate.since_s < PROMOTE_S:
                self._candidate = candidate
                return False
            self._athlete, self._candidate, self._other = candidate, None, None
            return True
        if not athlete.reaches(time_s, body):
            self._other = _new_track(time_s, body)
            return False
        unseen = time_s - athlete.time_s > GAP_S
        if unseen and athlete.distance(body) > NEAR_LEGS * athlete.leg_px:
            self._candidate = _new_track(time_s, body)
            return False
        self._athlete = athlete.follow(time_s, body)
        if self._candidate is not None:  # the athlete is back: the candidate was not them
            self._other, self._candidate = self._candidate, None
        return True

    def _continued(self, time_s: float, body: BodyMeasurement, athlete: _Track) -> str | None:
        """Which non-athlete track ``body`` continues (the nearest that reaches it)."""
        best: tuple[float, str] | None = None
        for name, track in (("candidate", self._candidate), ("other", self._other)):
            if track is None or not track.reaches(time_s, body):
                continue
            distance = track.distance(body)
            if distance < athlete.distance(body) and (best is None or distance < best[0]):
                best = (distance, name)
        return best[1] if best is not None else None

    def release(self) -> None:
        """Forget every track: the next person seen becomes the athlete."""
        self._athlete = self._candidate = self._other = None
