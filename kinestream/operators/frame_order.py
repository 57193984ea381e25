"""A stream's frames in capture order, before any analysis sees them.

:class:`FrameOrder` is the part every analyzer of a stream shares: it counts frames, the
frames missing from the sequence numbers (dropped) and those that come after a later one
(late, not analysed), refuses a frame whose capture time is not after the previous one's
(an ``error``), and drops a frame far ahead of the stream's clock as an outlier (a
``time_jump`` warning) unless :data:`TIME_JUMP_CONFIRM_FRAMES` in a row keep to its time.
"""

from __future__ import annotations

from typing import Any, Final

from kinestream.events import EventType
from kinestream.operators.pose import PoseSample

MAX_TIME_JUMP_S: Final = 10.0
"""A frame more than this ahead of the stream's clock is an outlier (a capture time in
milliseconds, a clock that jumped), dropped rather than taken as the new clock..."""
TIME_JUMP_CONFIRM_FRAMES: Final = 5
"""...unless this many frames in a row keep to its time: then the stream's clock did jump."""


class FrameOrder:
    """The frame counters and clock of a stream's analyzer; subclasses emit the events."""

    _ahead: tuple[int, float] | None = None
    """Frames in a row far ahead of the clock, and the last one's time."""

    def __init__(self) -> None:
        self.last_seq: int | None = None
        self.last_time_s: float | None = None
        self.first_time_s: float | None = None
        self.frames = 0
        self.dropped_frames = 0
        self.late_frames = 0

    def _admit(self, sample: PoseSample) -> int | None:
        """Take ``sample`` into the stream's order: the number of frames missing right
        before it, or ``None`` when it is not to be analysed (late or repeated, a clock
        that stood still or went back, an outlier far ahead)."""
        if self.last_seq is not None and sample.seq <= self.last_seq:
            if sample.seq < self.last_seq:
                self.late_frames += 1
            return None
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
            return None
        if (
            self.last_time_s is not None
            and sample.timestamp_s - self.last_time_s > MAX_TIME_JUMP_S
            and self._outlier_ahead(sample)
        ):
            return None
        self._ahead = None
        gap = 0
        if self.last_seq is not None and sample.seq > self.last_seq + 1:
            gap = sample.seq - self.last_seq - 1
            self.dropped_frames += gap
        self.last_seq = sample.seq
        self.last_time_s = sample.timestamp_s
        if self.first_time_s is None:
            self.first_time_s = sample.timestamp_s
        self.frames += 1
        return gap

    def _outlier_ahead(self, sample: PoseSample) -> bool:
        """Whether a frame far ahead of the clock is dropped as an outlier: yes, until
        :data:`TIME_JUMP_CONFIRM_FRAMES` in a row keep to its time. A dropped frame counts
        as dropped (through the gap it leaves in the sequence numbers)."""
        ahead = self._ahead
        keeps_to_it = ahead is not None and 0 < sample.timestamp_s - ahead[1] <= MAX_TIME_JUMP_S
        count = ahead[0] + 1 if ahead is not None and keeps_to_it else 1
        if count >= TIME_JUMP_CONFIRM_FRAMES:
            return False
        self._ahead = (count, sample.timestamp_s)
        if count == 1:
            assert self.last_time_s is not None
            self._warn(
                sample.seq,
                sample.timestamp_s,
                "time_jump",
                f"frame dropped: its capture time is {sample.timestamp_s - self.last_time_s:g} s "
                f"ahead of the stream's clock (more than {MAX_TIME_JUMP_S:g} s); the clock "
                f"moves only if {TIME_JUMP_CONFIRM_FRAMES} frames in a row keep to the new time",
            )
        return True

    def _emit(self, kind: EventType, seq: int, time_s: float, payload: dict[str, Any]) -> None:
        raise NotImplementedError

    def _warn(self, seq: int, time_s: float, code: str, message: str) -> None:
        raise NotImplementedError
