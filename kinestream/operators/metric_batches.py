"""Every frame's values, a few frames to a message: ``metric_update``s coalesced per stream.

A stream's analysis emits one ``metric_update`` per frame: at 30 fps and 1,000 streams,
30,000 small messages a second, each encoded, sent, stored and read by every API instance.
:class:`MetricBatcher` wraps a stream's analyzer and hands its ``metric_update``s on as one
``metric_updates`` event (:func:`kinestream.events.metric_updates`) once its frames span
``interval_s`` of capture time: with the default 0.05 s, 3 frames at 30 fps, 4 or 5 at 60, a
third to a quarter of the messages. Watchers still get every frame's values, in order. The
first frame of a batch waits for the frame that closes it: ``interval_s`` to one frame
period more (67 ms at 30 fps, 33 ms on average over a batch's frames); the last one not at
all. Every other event first sends the frames before it, so phase changes, repetitions,
warnings and the summary are not delayed and keep their order.

Plain, picklable Python: the frames waiting are part of the stream's snapshot, and a
resumed stream makes the same batches again.
"""

from __future__ import annotations

from typing import Final, Protocol

from kinestream.events import AnalysisEvent, metric_updates
from kinestream.operators.pose import PoseSample

METRIC_INTERVAL_S: Final = 0.05


class Analysis(Protocol):
    """A stream's analysis (:class:`~kinestream.operators.analyzer.StreamAnalyzer`)."""

    def process(self, sample: PoseSample) -> list[AnalysisEvent]:
        """Analyse one sample."""
        ...

    def finish(self, reason: str) -> list[AnalysisEvent]:
        """End the analysis."""
        ...


class MetricBatcher:
    """A stream's analysis whose ``metric_update``s leave in batches (module docstring)."""

    def __init__(self, analysis: Analysis, interval_s: float = METRIC_INTERVAL_S) -> None:
        if interval_s < 0:
            raise ValueError("the interval must not be negative")
        self.analysis = analysis
        self.interval_s = interval_s
        self._frames: list[AnalysisEvent] = []

    def process(self, sample: PoseSample) -> list[AnalysisEvent]:
        """Analyse one sample; the events due now."""
        return self._coalesce(self.analysis.process(sample))

    def finish(self, reason: str) -> list[AnalysisEvent]:
        """End the analysis; every frame still waiting goes before the summary."""
        out = self._coalesce(self.analysis.finish(reason))
        if self._frames:
            out.append(self._flush())
        return out

    def _coalesce(self, events: list[AnalysisEvent]) -> list[AnalysisEvent]:
        out: list[AnalysisEvent] = []
        for event in events:
            if event.event_type == "metric_update":
                self._frames.append(event)
                if event.capture_time_s - self._frames[0].capture_time_s >= self.interval_s:
                    out.append(self._flush())
                continue
            if self._frames:
                out.append(self._flush())
            out.append(event)
        return out

    def _flush(self) -> AnalysisEvent:
        batch = metric_updates(self._frames)
        self._frames = []
        return batch
