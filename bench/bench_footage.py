"""Real footage against frame-by-frame labels: detected vs labelled takeoff and landing.

    .venv/bin/python -m bench footage [DIR [LABELS.csv]] [--max-dimension PX] [--variants]

Runs the analysis of ``kinestream analyze`` on a video (MediaPipe Pose at 1280 px long
side, one :class:`~kinestream.operators.analyzer.StreamAnalyzer`) on each clip that
``LABELS.csv`` names in ``DIR`` (default ``examples/footage`` and its ``labels.csv``), and
prints, per labelled jump: the labelled and detected takeoff and landing frames, their
difference in frames, and the flight time's error in ms. Where no detected repetition
matches a labelled jump, it prints the analysis's reason instead (the session summary's
``no_reps_reason``, else the quality warnings around the jump).

``--variants`` runs the analysis again on each clip as other phones and encoders would hand
it over (:data:`VARIANTS`: long side 1280, 960, 720, 540 and 464 px, mirrored left-right,
a JPEG round trip of every frame at quality 90 and 70, and a hand moving the camera:
following the jumps, shaking, or both; one MediaPipe pass each, in memory)
and prints one row per variant: each labelled jump's takeoff/landing error in frames, or
``miss`` and the reason's code, and the repetitions that match no label; then the totals:
labelled jumps found, found within one frame at both takeoff and landing, missed, extra.

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
import functools
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from kinestream.commands.analyze import stream_config
from kinestream.connectors.jpeg import decode_jpeg, encode_jpeg
from kinestream.connectors.video import RgbFrame, VideoFrame, estimate_poses, read_frames
from kinestream.events import AnalysisEvent
from kinestream.operators.analyzer import StreamAnalyzer
from kinestream.operators.camera_motion import CameraMotion
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
    view: str | None = None
    """How the camera saw the jump (side, oblique or frontal), as the labeller judged."""


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
                    view=row.get("view") or None,
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


def match(label: Label, detected: list[Detected], times: list[float]) -> Detected | None:
    """The detected rep whose takeoff is nearest ``label``'s (within ``MATCH_S``), if any."""
    labelled_takeoff = times[label.takeoff_frame]
    near = [d for d in detected if abs(d.takeoff_s - labelled_takeoff) <= MATCH_S]
    return min(near, key=lambda d: abs(d.takeoff_s - labelled_takeoff)) if near else None


def compare(label: Label, detected: list[Detected], times: list[float], reason: str) -> Comparison:
    """Match ``label`` to the detected rep whose takeoff is nearest (within ``MATCH_S``)."""
    flight = labelled_flight_s(label, times)
    best = match(label, detected, times)
    if best is None:
        return Comparison(label, flight, reason=reason)
    return Comparison(
        label,
        flight,
        takeoff_frame=frame_at_or_before(times, best.takeoff_s),
        landing_frame=frame_at_or_after(times, best.landing_s),
        flight_error_s=best.flight_time_s - flight,
    )


def _summary(events: list[AnalysisEvent]) -> dict[str, object]:
    return next((dict(e.payload) for e in events if e.event_type == "session_summary"), {})


def _warning_codes(events: list[AnalysisEvent], label: Label, times: list[float]) -> list[str]:
    """The quality warnings' codes from a second before the labelled takeoff to a second
    after the labelled landing, sorted."""
    start, end = times[label.takeoff_frame] - 1.0, times[label.landing_frame] + 1.0
    return sorted(
        {
            str(e.payload.get("code"))
            for e in events
            if e.event_type == "quality_warning" and start <= e.capture_time_s <= end
        }
    )


def reason_for(events: list[AnalysisEvent], label: Label, times: list[float]) -> str:
    """Why no repetition was found for ``label``: the summary's reason, else the quality
    warnings from a second before its takeoff to a second after its landing."""
    summary = _summary(events)
    if summary.get("no_reps_reason"):
        message = summary.get("no_reps_message", "")
        return f"{summary['no_reps_reason']}: {message}".rstrip(": ")
    codes = _warning_codes(events, label, times)
    if codes:
        return "no rep here; warnings: " + ", ".join(codes)
    return "no rep here and no warning"


def reason_code(events: list[AnalysisEvent], label: Label, times: list[float]) -> str:
    """:func:`reason_for` in short: the summary's ``no_reps_reason``, else the warning codes
    around the jump joined by ``+``, else ``no warning``."""
    summary = _summary(events)
    if summary.get("no_reps_reason"):
        return str(summary["no_reps_reason"])
    return "+".join(_warning_codes(events, label, times)) or "no warning"


def analyse_frames(
    frames: Iterable[VideoFrame], path: Path, label: Label
) -> tuple[list[AnalysisEvent], list[float]]:
    """Every event of the analysis of ``frames`` (of the video ``path``, with ``label``'s
    sport and athlete) and each frame's timestamp."""
    height = label.athlete_height_m or DEFAULT_ATHLETE_HEIGHT_M
    config = stream_config(f"video {path}", None, label.sport, height, label.box_height_m)
    analyzer = StreamAnalyzer(config)
    events: list[AnalysisEvent] = []
    times: list[float] = []
    camera = CameraMotion()
    with MediaPipePoseEstimator() as estimator:
        for posed in estimate_poses(frames, estimator):
            times.append(posed.sample.timestamp_s)
            events.extend(analyzer.process(camera.steady(posed.rgb, posed.sample)))
    events.extend(analyzer.finish("end_of_input"))
    return events, times


def analyse_clip(
    path: Path, label: Label, max_dimension: int = 1280
) -> tuple[list[AnalysisEvent], list[float]]:
    """Every event of the analysis of the video ``path`` and each frame's timestamp."""
    return analyse_frames(read_frames(path, max_dimension), path, label)


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


CameraPath = Callable[[Sequence[Label], int], tuple[float, float, float]]
"""A handheld camera's motion: for a clip's labels and a frame's index, how far the picture
moves right and down (shares of the frame's height) and turns (degrees)."""


@dataclass(frozen=True, slots=True)
class Variant:
    """The same footage as another phone or encoder hands it over: its frames' long side
    (``max_dimension``), a change to every frame's pixels after scaling, and the motion of a
    hand holding the camera (``camera``)."""

    name: str
    max_dimension: int = 1280
    transform: Callable[[RgbFrame], RgbFrame] | None = None
    camera: CameraPath | None = None


def mirrored(rgb: RgbFrame) -> RgbFrame:
    """The frame flipped left-right."""
    return np.ascontiguousarray(rgb[:, ::-1])


def jpeg_round_trip(quality: int) -> Callable[[RgbFrame], RgbFrame]:
    """A transform that encodes a frame as JPEG at ``quality`` (1-100) and decodes it, as a
    frames-mode client and the flow do (:mod:`kinestream.connectors.jpeg`)."""

    def transform(rgb: RgbFrame) -> RgbFrame:
        return decode_jpeg(encode_jpeg(rgb, quality))

    return transform


FOLLOW_SHARE: Final = 0.06
"""How far a hand following a jump tilts the camera: the picture moves down by this share of
its height at the jump's top (about a quarter of the athlete's height on the demo clip)."""
FOLLOW_LEAD_S: Final = 0.4
FOLLOW_LAG_S: Final = 0.1


def following_the_jumps(labels: Sequence[Label], k: int) -> tuple[float, float, float]:
    """A camera tilted up with each labelled jump and back: a raised-cosine tilt from
    :data:`FOLLOW_LEAD_S` before the takeoff to as long after the landing, peaking
    :data:`FOLLOW_LAG_S` after the jump's middle."""
    down = 0.0
    for label in labels:
        middle = (label.takeoff_frame + label.landing_frame) / 2 + FOLLOW_LAG_S * label.fps
        half = (label.landing_frame - label.takeoff_frame) / 2 + FOLLOW_LEAD_S * label.fps
        if abs(k - middle) < half:
            down = max(down, FOLLOW_SHARE * 0.5 * (1 + math.cos(math.pi * (k - middle) / half)))
    return 0.0, down, 0.0


SHAKE_SEED: Final = 20_261_201
SHAKE_FRAMES: Final = 1 << 14
"""Frames of tremor made; a longer clip repeats it."""


@functools.cache
def _tremor() -> npt.NDArray[np.float64]:
    """A hand's tremor, frame by frame: shifts right and down (shares of the height, about
    0.6 % each) and turns (about 0.3 degrees), each a first-order autoregressive walk."""
    rng = np.random.default_rng(SHAKE_SEED)
    walk = np.zeros((SHAKE_FRAMES, 3))
    steps = rng.normal(0.0, [0.0033, 0.0033, 0.12], (SHAKE_FRAMES, 3))
    for k in range(1, SHAKE_FRAMES):
        walk[k] = [0.85, 0.85, 0.9] * walk[k - 1] + steps[k]
    return walk


def hand_shake(labels: Sequence[Label], k: int) -> tuple[float, float, float]:
    """A hand's tremor (:func:`_tremor`), the same on every run."""
    right, down, degrees = _tremor()[k % SHAKE_FRAMES]
    return float(right), float(down), float(degrees)


def shaking_and_following(labels: Sequence[Label], k: int) -> tuple[float, float, float]:
    """A shaking hand that also follows the jumps."""
    (right, down, degrees), (_, follow, _) = hand_shake(labels, k), following_the_jumps(labels, k)
    return right, down + follow, degrees


def moved(rgb: RgbFrame, right: float, down: float, degrees: float) -> RgbFrame:
    """The frame as a camera moved by ``right`` and ``down`` (shares of the height) and
    turned by ``degrees`` about its centre would have seen it; edges repeated."""
    height, width = rgb.shape[:2]
    matrix = np.asarray(cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0), float)
    matrix[:, 2] += (right * height, down * height)
    warped = cv2.warpAffine(
        rgb, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(warped, dtype=np.uint8)


VARIANTS: Final = (
    Variant("1280 px"),
    Variant("960 px", 960),
    Variant("720 px", 720),
    Variant("540 px", 540),
    Variant("464 px", 464),
    Variant("mirrored", transform=mirrored),
    Variant("jpeg q90", transform=jpeg_round_trip(90)),
    Variant("jpeg q70", transform=jpeg_round_trip(70)),
    Variant("following", camera=following_the_jumps),
    Variant("shaking", camera=hand_shake),
    Variant("shaking+following", camera=shaking_and_following),
)


def variant_frames(
    path: Path, variant: Variant, labels: Sequence[Label] = (), limit: int | None = None
) -> Iterator[VideoFrame]:
    """The frames of the video ``path`` (at most ``limit``) as ``variant`` has them; its
    camera follows ``labels``."""
    for frame in read_frames(path, variant.max_dimension, limit):
        rgb = frame.rgb if variant.transform is None else variant.transform(frame.rgb)
        if variant.camera is not None:
            rgb = moved(rgb, *variant.camera(labels, frame.seq))
        yield frame._replace(rgb=rgb)


@dataclass(frozen=True, slots=True)
class VariantRun:
    """One variant's analysis of a clip: a comparison per label (``reason`` a short code)
    and the frames where reps matching no label took off."""

    variant: str
    rows: list[Comparison]
    extra_takeoff_frames: list[int]

    @property
    def within_one_frame(self) -> int:
        """Labelled jumps found within one frame at both takeoff and landing."""
        return sum(
            1
            for r in self.rows
            if r.takeoff_error is not None
            and r.landing_error is not None
            and abs(r.takeoff_error) <= 1
            and abs(r.landing_error) <= 1
        )

    @property
    def found(self) -> int:
        """Labelled jumps a detected rep matched."""
        return sum(1 for r in self.rows if r.takeoff_frame is not None)


def variant_run(
    variant: str, labels: list[Label], events: list[AnalysisEvent], times: list[float]
) -> VariantRun:
    """Compare one clip's analysis under ``variant`` with its ``labels``."""
    reps = detected_reps(events)
    rows = [compare(label, reps, times, reason_code(events, label, times)) for label in labels]
    matched = [match(label, reps, times) for label in labels]
    extra = [frame_at_or_before(times, d.takeoff_s) for d in reps if d not in matched]
    return VariantRun(variant, rows, extra)


def format_variants_table(runs: list[VariantRun]) -> list[str]:
    """One clip's variants as aligned text: a column per labelled jump (``label T-L``), the
    jumps within one frame, the extra reps; then the totals line."""

    def cell(row: Comparison) -> str:
        if row.takeoff_error is None or row.landing_error is None:
            return f"miss ({row.reason})"
        return f"{row.takeoff_error:+d}/{row.landing_error:+d}"

    def extras(frames: list[int]) -> str:
        return "0" if not frames else f"{len(frames)} (T {', '.join(map(str, frames))})"

    labels = runs[0].rows if runs else []
    header = (
        "variant",
        *(f"{r.label.takeoff_frame}-{r.label.landing_frame}" for r in labels),
        "±1",
        "extra",
    )
    table = [header]
    for run in runs:
        table.append(
            (
                run.variant,
                *(cell(r) for r in run.rows),
                f"{run.within_one_frame}/{len(run.rows)}",
                extras(run.extra_takeoff_frames),
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
    return [*lines, format_totals(runs)]


def format_totals(runs: list[VariantRun]) -> str:
    """Labelled jumps found, found within one frame at both instants, missed, extra reps."""
    labelled = sum(len(r.rows) for r in runs)
    found = sum(r.found for r in runs)
    within = sum(r.within_one_frame for r in runs)
    extra = sum(len(r.extra_takeoff_frames) for r in runs)
    return (
        f"total: {found} of {labelled} labelled jumps found, {within} within ±1 frame at both "
        f"takeoff and landing, {labelled - found} missed, {extra} extra reps"
    )


def run_variants(directory: Path, labels: list[Label]) -> None:
    """Analyse every labelled clip under each of :data:`VARIANTS` and print the tables."""
    every: list[VariantRun] = []
    for clip in dict.fromkeys(label.clip for label in labels):
        mine = [label for label in labels if label.clip == clip]
        path = directory / clip
        runs = []
        for variant in VARIANTS:
            events, times = analyse_frames(variant_frames(path, variant, mine), path, mine[0])
            runs.append(variant_run(variant.name, mine, events, times))
        print(f"{clip}: detected minus labelled frame, takeoff/landing, per labelled jump")
        print("\n".join(format_variants_table(runs)))
        every.extend(runs)
    if len(every) > len(VARIANTS):
        print("all clips " + format_totals(every))


def main(argv: list[str] | None = None) -> None:
    """Analyse every labelled clip and print the comparison table (``--variants``: the
    variants table)."""
    parser = argparse.ArgumentParser(description="Real footage against frame-by-frame labels.")
    parser.add_argument("dir", type=Path, nargs="?", default=FOOTAGE, metavar="DIR")
    parser.add_argument("labels", type=Path, nargs="?", default=None, metavar="LABELS.csv")
    parser.add_argument("--max-dimension", type=int, default=1280, metavar="PX")
    parser.add_argument(
        "--variants",
        action="store_true",
        help="each clip at 1280-464 px, mirrored, through JPEG at quality 90 and 70, and "
        "filmed by a hand following the jumps, shaking, or both",
    )
    args = parser.parse_args(argv)
    labels = read_labels(args.labels or args.dir / "labels.csv")
    if args.variants:
        run_variants(args.dir, labels)
        return
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
