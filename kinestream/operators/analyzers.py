"""The per-stream analyzer of a sport: the jumps' or running's, behind one interface.

Both have ``process(sample) -> events`` and ``finish(reason) -> events`` and are plain,
picklable values (:class:`kinestream.flows.stream_logic.Analyzer`).
"""

from __future__ import annotations

from kinestream.operators.analyzer import StreamAnalyzer, StreamConfig
from kinestream.operators.gait.analyzer import RunningAnalyzer, RunningConfig
from kinestream.sports import Sport


def analyzer_for(
    stream_id: str,
    sport: Sport,
    athlete_height_m: float,
    box_height_m: float | None = None,
    belt_speed_m_s: float | None = None,
    echo_pose: bool = False,
) -> StreamAnalyzer | RunningAnalyzer:
    """A new analyzer of one stream; ``ValueError`` when the parameters do not suit the
    sport (a box height is for drop jumps, a belt speed for running)."""
    if sport is Sport.RUNNING:
        if box_height_m is not None:
            raise ValueError("box height applies to drop jumps only")
        return RunningAnalyzer(
            RunningConfig(stream_id, athlete_height_m, belt_speed_m_s, echo_pose)
        )
    if belt_speed_m_s is not None:
        raise ValueError("belt speed applies to running only")
    return StreamAnalyzer(StreamConfig(stream_id, sport, athlete_height_m, box_height_m, echo_pose))
