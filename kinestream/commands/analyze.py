"""``kinestream analyze``: one recording or video file analysed in this process.

No Kafka, no database: the input's pose samples go straight through one
:class:`~kinestream.operators.analyzer.StreamAnalyzer`. The input is a recording
(:mod:`kinestream.connectors.recording`; its metadata supplies the sport and heights the
command line leaves out) or a video file, whose poses are estimated here
(:mod:`kinestream.connectors.video`, and with ``--pose mediapipe``, the default,
:mod:`kinestream.operators.mediapipe_pose`; with ``--pose onnx`` the same BlazePose models
on ONNX Runtime, :mod:`kinestream.operators.onnx_pose`, on ``--device cpu`` or ``cuda``;
imported only then). Where the input has pictures (a video, a recording with JPEGs), the
camera's own motion is measured on their background and taken out of the poses before the
analysis (:mod:`kinestream.operators.camera_motion`); ``--overlay`` draws the poses as found.

Output: a progress bar on stderr (terminals only), then a table of the repetitions, the
quality warnings and the session summary on stdout (on stderr when ``--json -`` takes
stdout). ``--json`` writes the events as JSON lines
(:meth:`~kinestream.events.AnalysisEvent.to_json`). ``--plot`` draws the session
(:mod:`kinestream.pictures.plot`) and ``--overlay`` the skeleton and the live analysis on
the video's frames, or on a recording's JPEGs (:mod:`kinestream.pictures.overlay`); both
import their drawing libraries only then. Exit status 0 when the input was
analysed, 2 on bad input or arguments, 1 when the pose estimator cannot run, 130 when
interrupted (the report of what was analysed so far is still written).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

import numpy as np
import numpy.typing as npt

from kinestream.commands.errors import EstimatorError, InputError, run_reporting
from kinestream.commands.progress import ProgressBar
from kinestream.commands.running_report import running_report
from kinestream.commands.session_options import add_session_options
from kinestream.connectors.recording import (
    Recording,
    RecordingError,
    RecordingParams,
    read_recording,
)
from kinestream.events import AnalysisEvent, EventType
from kinestream.operators.analyzer import StreamConfig
from kinestream.operators.analyzers import analyzer_for
from kinestream.operators.pose import PoseEstimator, PoseSample
from kinestream.pictures.trace import SessionTrace
from kinestream.sports import METRICS, Sport

if TYPE_CHECKING:
    from kinestream.pictures.overlay import OverlayWriter

REPORTED_EVENTS: Final[frozenset[EventType]] = frozenset(
    {"rep_complete", "quality_warning", "error", "session_summary", "step", "bout_summary"}
)
POSE_BACKENDS: Final = ("mediapipe", "onnx")
RECORDING_SUFFIXES: Final = frozenset({".arrow", ".ipc", ".feather", ".arrows"})
REPS_PER_TABLE: Final = 6
OVERLAY_FALLBACK_FPS: Final = 30.0
_ARROW_MAGIC: Final = (b"ARROW1", b"\xff\xff\xff\xff")


Picture = bytes | npt.NDArray[np.uint8]
"""A frame's pixels: a recording's JPEG, or a video frame's RGB array."""


@dataclass
class PoseSource:
    """Where the frames come from: each one's pose sample and picture (``None`` where the
    input keeps none), how many there are (if known) and what the input says."""

    description: str
    frames: Iterable[tuple[PoseSample, Picture | None]]
    total: int | None
    params: RecordingParams | None = None
    fps: float | None = None
    has_pictures: bool = False


@dataclass
class Report:
    """What the table shows: the repetitions, warnings and errors, and the summary."""

    reps: list[AnalysisEvent] = field(default_factory=list)
    warnings: list[AnalysisEvent] = field(default_factory=list)
    summary: AnalysisEvent | None = None
    running: list[AnalysisEvent] = field(default_factory=list)
    """A running session's steps, bouts, warnings and summary."""

    def add(self, event: AnalysisEvent) -> None:
        """Keep ``event`` when the table shows it."""
        if event.event_type in REPORTED_EVENTS and event.event_type != "rep_complete":
            self.running.append(event)
        if event.event_type == "rep_complete":
            self.reps.append(event)
        elif event.event_type in ("quality_warning", "error"):
            self.warnings.append(event)
        elif event.event_type == "session_summary":
            self.summary = event


def add_analyze_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``kinestream analyze``."""
    parser = sub.add_parser(
        "analyze",
        help="analyse a recording or a video file in this process",
        description=(
            "Analyse one recorded pose stream (.arrow) or one side-view video file "
            "(MediaPipe Pose runs on it) and print the repetitions' metrics. Sport and "
            "heights default to a recording's own metadata."
        ),
    )
    parser.add_argument("input", type=Path, metavar="INPUT", help="recording (.arrow) or video")
    add_session_options(parser, from_recording=True)
    parser.add_argument(
        "--json",
        default=None,
        metavar="FILE",
        help="write rep_complete, quality_warning, error and session_summary events as "
        "JSON lines to FILE ('-': stdout; the table then goes to stderr)",
    )
    parser.add_argument(
        "--all-events",
        action="store_true",
        help="with --json, write every event (phase changes, per-frame metric updates)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar and no table; only --json output"
    )
    parser.add_argument(
        "--max-dimension",
        type=int,
        default=1280,
        metavar="PX",
        help="video input: shrink frames so their long side is at most PX (default 1280)",
    )
    parser.add_argument(
        "--pose",
        choices=POSE_BACKENDS,
        default="mediapipe",
        help="video input: pose estimator, MediaPipe's own graph or the same models on ONNX "
        "Runtime (default mediapipe)",
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default=None,
        help="with --pose onnx: where ONNX Runtime runs (default cpu)",
    )
    parser.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="PNG",
        help="draw CoM height and velocity against time, phases shaded and reps marked, to PNG",
    )
    parser.add_argument(
        "--overlay",
        type=Path,
        default=None,
        metavar="MP4",
        help="draw the skeleton, the phase and live metrics on each frame and write the "
        "video to MP4 (video input, or a recording with JPEGs)",
    )
    parser.set_defaults(handler=run_analyze)


def run_analyze(args: argparse.Namespace) -> int:
    """Handle ``kinestream analyze``; return the exit status."""
    return run_reporting("kinestream analyze", _run, args)


def _run(args: argparse.Namespace) -> int:
    path: Path = args.input
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if not path.is_file():
        raise InputError(f"not a file: {path}")
    if args.device is not None and args.pose != "onnx":
        raise InputError("--device needs --pose onnx")
    with ExitStack() as stack:
        source = _open_source(path, args.max_dimension, (args.pose, args.device), stack)
        config = stream_config(
            source.description, source.params, args.sport, args.athlete_height, args.box_height
        )
        json_out = _open_json(args.json, stack)
        report_out = sys.stderr if args.json == "-" else sys.stdout
        _check_output(args.plot, "--plot")
        overlay = _open_overlay(args.overlay, source, stack)
        trace = SessionTrace() if args.plot is not None else None
        bar = ProgressBar(sys.stderr, source.total, enabled=not args.quiet and sys.stderr.isatty())

        report = Report()

        def emit(events: list[AnalysisEvent]) -> None:
            for event in events:
                if json_out is not None and (
                    args.all_events or event.event_type in REPORTED_EVENTS
                ):
                    json_out.write(event.to_json().decode() + "\n")
                report.add(event)
            if trace is not None:
                trace.add(events)

        try:
            analyzer = analyzer_for(
                config.stream_id,
                config.sport,
                config.athlete_height_m,
                config.box_height_m,
                _belt_speed(args.belt_speed, source.params),
            )
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        reason = "end_of_input"
        try:
            for sample, steady, picture in _steadied(source):
                events = analyzer.process(steady)
                emit(events)
                if overlay is not None and picture is not None:
                    overlay.write(picture, sample, events)
                bar.advance()
        except KeyboardInterrupt:
            reason = "interrupted"
        finally:
            bar.close()
        emit(analyzer.finish(reason))
        if json_out is not None:
            json_out.flush()
        pictures = []
        if trace is not None:
            title = f"{source.description}: {config.sport.value}"
            if config.sport is Sport.RUNNING:
                _save_gait_plot(report.running, args.plot, title)
            else:
                _save_plot(trace, args.plot, title)
            pictures.append(f"plot: {args.plot}")
        if overlay is not None:
            overlay.close()
            pictures.append(f"overlay: {args.overlay} ({overlay.frames_written} frames)")
        if not args.quiet:
            report_out.write(format_report(source, config, report))
            report_out.write("".join(line + "\n" for line in pictures))
            report_out.flush()
    return 130 if reason == "interrupted" else 0


def _check_output(path: Path | None, option: str) -> None:
    if path is not None and not path.parent.is_dir():
        raise InputError(f"{option}: no such directory: {path.parent}")


def _open_overlay(path: Path | None, source: PoseSource, stack: ExitStack) -> OverlayWriter | None:
    """The overlay video's writer, or ``None`` without ``--overlay``."""
    if path is None:
        return None
    _check_output(path, "--overlay")
    if not source.has_pictures:
        raise InputError(
            f"--overlay needs the frames' pictures: {source.description} has none "
            "(give a video, or a recording with a jpeg column)"
        )
    from kinestream.pictures.overlay import OverlayWriter

    return stack.enter_context(OverlayWriter(path, source.fps or OVERLAY_FALLBACK_FPS))


def _save_plot(trace: SessionTrace, path: Path, title: str) -> None:
    from kinestream.pictures.plot import save_session_plot

    try:
        save_session_plot(trace, path, title)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _save_gait_plot(events: list[AnalysisEvent], path: Path, title: str) -> None:
    from kinestream.pictures.gait_plot import save_gait_plot

    try:
        save_gait_plot(events, path, title)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def stream_config(
    description: str,
    params: RecordingParams | None,
    sport: str | None,
    athlete_height_m: float | None,
    box_height_m: float | None,
) -> StreamConfig:
    """The analysis parameters: the command line's, else the recording's ``params``.

    Raises :class:`InputError` naming the option to pass when neither says one.
    """
    chosen = Sport(sport) if sport is not None else (params.sport if params else None)
    if chosen is None:
        raise InputError(f"{description} does not say the sport: pass --sport")
    height = athlete_height_m
    if height is None and params is not None:
        height = params.athlete_height_m
    if height is None:
        raise InputError(
            f"{description} does not say the athlete's height: pass --athlete-height M (metres)"
        )
    box = box_height_m
    if box is None and params is not None and chosen is Sport.DROP_JUMP:
        box = params.box_height_m
    if chosen is Sport.DROP_JUMP and box is None:
        raise InputError("a drop jump needs the box height: pass --box-height M (metres)")
    if chosen is not Sport.DROP_JUMP and box is not None:
        raise InputError(f"--box-height applies to drop jumps only, not to {chosen.value}")
    stream_id = params.stream_id if params is not None else "analyze"
    try:
        return StreamConfig(stream_id, chosen, height, box)
    except ValueError as exc:
        raise InputError(str(exc)) from exc


def _belt_speed(given: float | None, params: RecordingParams | None) -> float | None:
    """The command line's belt speed, else the one the recording stored."""
    if given is not None or params is None:
        return given
    return params.belt_speed_m_s


def _is_recording(path: Path) -> bool:
    if path.suffix.lower() in RECORDING_SUFFIXES:
        return True
    with path.open("rb") as file:
        head = file.read(8)
    return head.startswith(_ARROW_MAGIC)


def _open_source(
    path: Path, max_dimension: int, pose: tuple[str, str | None], stack: ExitStack
) -> PoseSource:
    if _is_recording(path):
        try:
            recording = read_recording(path)
        except (RecordingError, OSError) as exc:
            raise InputError(str(exc)) from exc
        return PoseSource(
            f"recording {path}",
            _recording_frames(recording),
            recording.frame_count,
            recording.params,
            recording.params.fps,
            has_pictures=recording.has_jpeg,
        )
    return _open_video(path, max_dimension, pose, stack)


def _recording_frames(recording: Recording) -> Iterator[tuple[PoseSample, Picture | None]]:
    try:
        yield from recording.frames()
    except RecordingError as exc:
        raise InputError(str(exc)) from exc


def _steadied(source: PoseSource) -> Iterator[tuple[PoseSample, PoseSample, Picture | None]]:
    """Each frame's pose as found, the same pose in the first frame's picture (the camera's
    own motion, measured on the background of the pictures, taken out; unchanged where the
    input keeps no pictures) and the picture (a JPEG decoded here, once)."""
    if not source.has_pictures:
        for sample, picture in source.frames:
            yield sample, sample, picture
        return
    from kinestream.connectors.jpeg import decode_jpeg
    from kinestream.operators.camera_motion import CameraMotion

    camera = CameraMotion()
    for sample, picture in source.frames:
        if picture is None:
            yield sample, sample, picture
        else:
            rgb = decode_jpeg(picture) if isinstance(picture, bytes) else picture
            yield sample, camera.steady(rgb, sample), rgb


def _open_video(
    path: Path, max_dimension: int, pose: tuple[str, str | None], stack: ExitStack
) -> PoseSource:
    try:
        from kinestream.connectors.video import (
            VideoError,
            VideoReader,
            estimate_poses,
            read_frames,
        )
        from kinestream.operators.mediapipe_pose import PoseModelMissingError
    except ImportError as exc:
        raise EstimatorError(f"video input needs OpenCV and MediaPipe: {exc}") from exc
    try:
        with VideoReader(path, max_dimension) as probe:
            total, fps = probe.frame_count, probe.fps
        estimator = _estimator(*pose)
    except (VideoError, FileNotFoundError) as exc:
        raise InputError(f"{exc} (not a recording either)") from exc
    except PoseModelMissingError as exc:
        raise EstimatorError(str(exc)) from exc
    stack.callback(estimator.close)
    frames = estimate_poses(read_frames(path, max_dimension), estimator)
    return PoseSource(f"video {path}", frames, total, None, fps, has_pictures=True)


def _estimator(backend: str, device: str | None) -> PoseEstimator:
    """The pose estimator of ``--pose`` on ``--device``."""
    if backend == "mediapipe":
        from kinestream.operators.mediapipe_pose import MediaPipePoseEstimator

        return MediaPipePoseEstimator()
    try:
        from kinestream.operators.blazepose.runtime import DeviceUnavailableError
        from kinestream.operators.onnx_pose import OnnxPoseEstimator
    except ImportError as exc:
        raise EstimatorError(f"--pose onnx needs ONNX Runtime: {exc}") from exc
    try:
        return OnnxPoseEstimator(device="cuda" if device == "cuda" else "cpu")
    except DeviceUnavailableError as exc:
        raise EstimatorError(str(exc)) from exc


def _open_json(target: str | None, stack: ExitStack) -> TextIO | None:
    if target is None:
        return None
    if target == "-":
        return sys.stdout
    try:
        return stack.enter_context(Path(target).open("w", encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot write {target}: {exc.strerror or exc}") from exc


# --- the readable report ------------------------------------------------------------------


def format_report(source: PoseSource, config: StreamConfig, report: Report) -> str:
    """The readable report: header, table of repetitions, warnings, session summary."""
    lines = [f"kinestream analyze: {source.description}"]
    facts = [f"sport {config.sport.value}", f"athlete {config.athlete_height_m:.2f} m"]
    if config.box_height_m is not None:
        facts.append(f"box {config.box_height_m:.2f} m")
    if source.total is not None:
        facts.append(f"{source.total} frames")
    if source.fps:
        facts.append(f"{source.fps:g} fps")
    lines += ["  " + ", ".join(facts), ""]
    if config.sport is Sport.RUNNING:
        return "\n".join(lines + running_report(report.running)) + "\n"
    if report.reps:
        for start in range(0, len(report.reps), REPS_PER_TABLE):
            lines += _rep_table(config.sport, report.reps[start : start + REPS_PER_TABLE])
            lines.append("")
    else:
        why = report.summary.payload.get("no_reps_message") if report.summary else None
        lines += [f"No repetitions found: {why}." if why else "No repetitions found.", ""]
    lines.append("Quality warnings:" if report.warnings else "Quality warnings: none")
    for event in report.warnings:
        code = event.payload.get("code", "?")
        kind = " (error)" if event.event_type == "error" else ""
        lines.append(
            f"  {event.capture_time_s:8.3f} s  {code}{kind}: {event.payload.get('message', '')}"
        )
    lines.append("")
    lines += _summary_lines(config.sport, report.summary, report.reps)
    return "\n".join(lines) + "\n"


def _units(sport: Sport) -> dict[str, str]:
    return {spec.name: spec.unit for spec in METRICS[sport]}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _rep_table(sport: Sport, reps: list[AnalysisEvent]) -> list[str]:
    units = _units(sport)
    names = [name for name in units if any(name in rep.payload["metrics"] for rep in reps)]
    for rep in reps:
        names += [name for name in rep.payload["metrics"] if name not in names]
    rows: list[list[str]] = [["metric", "unit", *(f"rep {rep.payload['rep']}" for rep in reps)]]
    for name in names:
        values = [_cell(rep.payload["metrics"].get(name)) for rep in reps]
        rows.append([name, units.get(name, ""), *values])
    quality = [rep.payload.get("quality", {}) for rep in reps]
    rows.append(["confidence", "0-1", *(_cell(q.get("confidence")) for q in quality)])
    warned = [q.get("warnings", []) for q in quality]
    rows.append(["warnings", "", *(str(len(codes)) if codes else "-" for codes in warned)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        left = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        right = [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        out.append("  ".join(left + right).rstrip())
    # Warning codes are listed under the table: one long cell would widen every column.
    out += [
        f"  rep {rep.payload['rep']}: {', '.join(codes)}"
        for rep, codes in zip(reps, warned, strict=True)
        if codes
    ]
    return out


def _summary_lines(
    sport: Sport, summary: AnalysisEvent | None, reps: list[AnalysisEvent]
) -> list[str]:
    if summary is None:
        return ["Session summary: none (the analysis did not finish)"]
    p = summary.payload
    lines = [
        f"Session summary: {p['reps']} reps, {p['frames']} frames "
        f"({p['dropped_frames']} dropped, {p.get('late_frames', 0)} late), "
        f"{p['duration_s']:.2f} s, ended by {p['reason']}"
    ]
    units = _units(sport)
    best = p.get("best") or {}
    parts = []
    for name, value in best.items():
        # Show the best repetition's own value, as the table does, and which one it was.
        candidates = [
            (rep.payload["metrics"][name], rep.payload["rep"])
            for rep in reps
            if isinstance(rep.payload["metrics"].get(name), float)
        ]
        shown, which = max(candidates) if candidates else (value, None)
        unit = units.get(name, "")
        where = f" (rep {which})" if which is not None else ""
        parts.append(f"{name} {_cell(shown)} {unit}".rstrip() + where)
    if parts:
        lines.append("  best: " + ", ".join(parts))
    return lines
