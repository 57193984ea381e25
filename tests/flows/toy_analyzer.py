"""A small stand-in for ``StreamAnalyzer`` that makes the flow's behaviour easy to predict.

It follows the analyzer's contract (drops duplicate and late samples, bounded state,
picklable): one ``metric_update`` per new sample, a ``rep_complete`` every
``frames_per_rep`` samples, a ``session_summary`` on ``finish``. The flow tests on realistic
pose streams use the real analyzer and the synthetic athlete.
"""

from __future__ import annotations

from kinestream.events import AnalysisEvent
from kinestream.operators.pose import PoseSample
from kinestream.wire import StartMessage


class ToyAnalyzer:
    """See the module docstring."""

    def __init__(self, start: StartMessage, frames_per_rep: int = 30) -> None:
        self.stream_id = start.stream_id
        self.sport = start.sport.value
        self.frames_per_rep = frames_per_rep
        self.last_seq = -1
        self.last_time_s = 0.0
        self.frames = 0
        self.reps = 0
        self.best_jump_m = 0.0

    def process(self, sample: PoseSample) -> list[AnalysisEvent]:
        if sample.seq <= self.last_seq:
            return []
        self.last_seq, self.last_time_s = sample.seq, sample.timestamp_s
        self.frames += 1
        out = [
            AnalysisEvent(
                "metric_update",
                self.stream_id,
                sample.seq,
                sample.timestamp_s,
                {"phase": "standing", "com_height_m": 0.0, "com_velocity_m_s": 0.0},
            )
        ]
        if self.frames % self.frames_per_rep == 0:
            self.reps += 1
            jump = 0.30 + 0.01 * self.reps
            self.best_jump_m = max(self.best_jump_m, jump)
            out.append(
                AnalysisEvent(
                    "rep_complete",
                    self.stream_id,
                    sample.seq,
                    sample.timestamp_s,
                    {
                        "rep": self.reps,
                        "sport": self.sport,
                        "metrics": {
                            "jump_height_m": jump,
                            "flight_time_s": 0.5,
                            "takeoff_time_s": sample.timestamp_s - 0.5,
                        },
                        "quality": {"ok": True},
                    },
                )
            )
        return out

    def finish(self, reason: str) -> list[AnalysisEvent]:
        return [
            AnalysisEvent(
                "session_summary",
                self.stream_id,
                self.last_seq,
                self.last_time_s,
                {
                    "sport": self.sport,
                    "reps": self.reps,
                    "frames": self.frames,
                    "dropped_frames": 0,
                    "duration_s": 0.0,
                    "best": {"jump_height_m": self.best_jump_m},
                    "reason": reason,
                },
            )
        ]
