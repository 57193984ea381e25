"""Real footage against frame-by-frame labels: detected vs labelled takeoff and landing.

    .venv/bin/python -m bench footage [DIR [LABELS.csv]] [--athlete-height M]

Runs the analysis of ``kinestream analyze`` on a video (MediaPipe Pose at 1280 px long
side, one :class:`~kinestream.operators.analyzer.StreamAnalyzer`) on each clip that
``LABELS.csv`` names in ``DIR`` (default ``examples/footage`` and its ``labels.csv``), and
prints, per labelled jump: the labelled and detected takeoff and landing frames, their
difference in frames, and the flight time's error in ms. Where no detected repetition
matches a labelled jump, it prints the analysis's reason instead (the session summary's
``no_reps_reason``, else the quality warnings around the jump).

Labels (one row per jump; see bench/README.md for how they are made):
``clip,sport,fps,takeoff_frame,landing_frame,notes`` and optionally ``athlete_height_m``
and ``box_height_m``. ``takeoff_frame`` is the last frame with a foot on the surface,
``landing_frame`` the first frame with a foot on the ground again, both counted from 0 in
decoding order. The true instants lie between that frame and its neighbour, so the
labelled flight time is taken from the middle of each of those intervals, on the video's
own frame timestamps. A detected takeoff (or landing) instant becomes the last frame at or
before it (the first frame at or after it), the frames the labeller would have picked.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from kinestream.commands.analyze import stream_config
from kinestream.connectors.video import poses_from_video
from kinestream.events import AnalysisEvent
from kinestream.operators.analyzer import StreamAnalyzer
from kinestream.operators.mediapipe_pose import MediaPipePoseEstimator

FOOTAGE: Final = Path(__file__).resolve().parents[1] / "examples" / "footage"
DEFAULT_ATHLETE_HEIGHT_M: Final = 1.75
MATCH_S: Final = 0.5
"""A detected repetition matches a labelled jump when their takeoffs are this close."""
REQUIRED_COLUMNS: Final = ("clip", "sport", "fps", "takeoff_frame", "landing_frame", "notes")


@dataclass(frozen=True, slots=True)
class Label:
    """One labelled jump of one clip."""

    clip: str
    sport: str
    fps: float
    takeoff_frame: int
    landing_frame: int
    notes: str
    athlete_height_m: float | None = None
    box_height_m: float | None = None


@dataclass(frozen=True, slots=True)
class Detected:
    """A repetition the analysis reported: its takeoff and landing instants, flight time."""

    takeoff_s: float
    landing_s: float
    flight_time_s: float


@dataclass(frozen=True, slots=True)
class Comparison:
    """A labelled jump against its detected repetition (``None`` fields when none)."""

    label: Label
    labelled_flight_s: float
    takeoff_frame: int | None = None
    landing_frame: int | None = None
    flight_error_s: float | None = None
    reason: str = ""

    @property
    def takeoff_error(self) -> int | None:
        """Detected minus labelled takeoff frame."""
        return None if self.takeoff_frame is None else self.takeoff_frame - self.label.takeoff_frame

    @property
    def landing_error(self) -> int | None:
        """Detected minus labelled landing frame."""
        return None if self.landing_frame is None else self.landing_frame - self.label.landing_frame


def read_labels(path: Path) -> list[Label]:
    """The labelled jumps of ``path``; ``ValueError`` naming the line when one is wrong."""
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        labels = []
        for row in reader:
            try:
                label = Label(
                    clip=row["clip"],
                    sport=row["sport"],
                    fps=float(row["fps"]),
                    takeoff_frame=int(row["takeoff_frame"]),
                    landing_frame=int(row["landing_frame"]),
                    notes=row["notes"] or "",
                    athlete_height_m=_optional_float(row.get("athlete_height_m")),
                    box_height_m=_optional_float(row.get("box_height_m")),
                )
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{reader.line_num}: {exc}") from exc
            if not 0 <= label.takeoff_frame < label.landing_frame:
                raise ValueError(f"{path}:{reader.line_num}: takeoff must come before landing")
            labels.append(label)
    return labels


def _optional_float(text: str | None) -> float | None:
    return float(text) if text else None


def labelled_flight_s(label: Label, times: list[float]) -> float:
    """Flight time from the middle of (takeoff frame, next) to the middle of (previous,
    landing frame), on the clip's frame timestamps ``times``."""
    takeoff = 0.5 * (times[label.takeoff_frame] + times[label.takeoff_frame + 1])
    landing = 0.5 * (times[label.landing_frame - 1] + times[label.landing_frame])
    return landing - takeoff


ROUNDING_S: Final = 1e-5
"""Events carry instants rounded to 10 µs: one within this of a frame's time is at it."""


def frame_at_or_before(times: list[float], instant_s: float) -> int:
    """Index of the last frame captured at or before ``instant_s`` (0 if none)."""
    return max(bisect.bisect_right(times, instant_s + ROUNDING_S) - 1, 0)


def frame_at_or_after(times: list[float], instant_s: float) -> int:
    """Index of the first frame captured at or after ``instant_s`` (the last if none)."""
    return min(bisect.bisect_left(times, instant_s - ROUNDING_S), len(times) - 1)


def compare(label: Label, detected: list[Detected], times: list[float], reason: str) -> Comparison:
    """Match ``label`` to the detected rep whose takeoff is nearest (within ``MATCH_S``)."""
    flight = labelled_flight_s(label, times)
    labelled_takeoff = times[label.takeoff_frame]
    near = [d for d in detected if abs(d.takeoff_s - labelled_takeoff) <= MATCH_S]
    if not near:
        return Comparison(label, flight, reason=reason)
    best = min(near, key=lambda d: abs(d.takeoff_s - labelled_takeoff))
    return Comparison(
        label,
        flight,
        takeoff_frame=frame_at_or_before(times, best.takeoff_s),
        landing_frame=frame_at_or_after(times, best.landing_s),
        flight_error_s=best.flight_time_s - flight,
    )


def reason_for(events: list[AnalysisEvent], label: Label, times: list[float]) -> str:
    """Why no repetition was found for ``label``: the summary's reason, else the quality
    warnings from a second before its takeoff to a second after its landing."""
    summary = next((e.payload for e in events if e.event_type == "session_summary"), {})
    if summary.get("no_reps_reason"):
        message = summary.get("no_reps_message", "")
        return f"{summary['no_reps_reason']}: {message}".rstrip(": ")
    start, end = times[label.takeoff_frame] - 1.0, times[label.landing_frame] + 1.0
    codes = sorted(
        {
            str(e.payload.get("code"))
            for e in events
            if e.event_type == "quality_warning" and start <= e.capture_time_s <= end
        }
    )
    if codes:
        return "no rep here; warnings: " + ", ".join(codes)
    return "no rep here and no warning"


def analyse_clip(
    path: Path, label: Label, max_dimension: int = 1280
) -> tuple[list[AnalysisEvent], list[float]]:
    """Every event of the analysis of the video ``path`` and each frame's timestamp."""
    height = label.athlete_height_m or DEFAULT_ATHLETE_HEIGHT_M
    config = stream_config(f"video {path}", None, label.sport, height, label.box_height_m)
    analyzer = StreamAnalyzer(config)
    events: list[AnalysisEvent] = []
    times: list[float] = []
    with MediaPipePoseEstimator() as estimator:
        for sample in poses_from_video(path, estimator, max_dimension=max_dimension):
            times.append(sample.timestamp_s)
            events.extend(analyzer.process(sample))
    events.extend(analyzer.finish("end_of_input"))
    return events, times


def detected_reps(events: list[AnalysisEvent]) -> list[Detected]:
    """The repetitions the analysis reported."""
    out = []
    for event in events:
        if event.event_type == "rep_complete":
            m = event.payload["metrics"]
            out.append(Detected(m["takeoff_time_s"], m["landing_time_s"], m["flight_time_s"]))
    return out


def format_table(rows: list[Comparison]) -> list[str]:
    """The comparison as aligned text, one line per labelled jump."""

    def cell(value: int | None) -> str:
        return "-" if value is None else str(value)

    def signed(value: int | None) -> str:
        return "-" if value is None else f"{value:+d}"

    header = (
        "clip", "sport", "label T", "label L", "found T", "found L", "err T", "err L",
        "flight ms", "flight err ms", "reason",
    )  # fmt: skip
    table = [header]
    for row in rows:
        error = row.flight_error_s
        table.append(
            (
                row.label.clip,
                row.label.sport,
                str(row.label.takeoff_frame),
                str(row.label.landing_frame),
                cell(row.takeoff_frame),
                cell(row.landing_frame),
                signed(row.takeoff_error),
                signed(row.landing_error),
                f"{row.labelled_flight_s * 1000:.0f}",
                "-" if error is None else f"{error * 1000:+.0f}",
                row.reason,
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
    return [
        "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in table
    ]


def main(argv: list[str] | None = None) -> None:
    """Analyse every labelled clip and print the comparison table."""
    parser = argparse.ArgumentParser(description="Real footage against frame-by-frame labels.")
    parser.add_argument("dir", type=Path, nargs="?", default=FOOTAGE, metavar="DIR")
    parser.add_argument("labels", type=Path, nargs="?", default=None, metavar="LABELS.csv")
    parser.add_argument("--max-dimension", type=int, default=1280, metavar="PX")
    args = parser.parse_args(argv)
    labels = read_labels(args.labels or args.dir / "labels.csv")
    rows: list[Comparison] = []
    for clip in dict.fromkeys(label.clip for label in labels):
        mine = [label for label in labels if label.clip == clip]
        events, times = analyse_clip(args.dir / clip, mine[0], args.max_dimension)
        fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else math.nan
        print(f"{clip}: {len(times)} frames, {fps:.2f} fps measured, {mine[0].fps:g} labelled")
        reps = detected_reps(events)
        for label in mine:
            rows.append(compare(label, reps, times, reason_for(events, label, times)))
    print("\n".join(format_table(rows)))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
