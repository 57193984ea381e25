"""The video overlay: the skeleton and the live analysis drawn on each frame, as an mp4.

:class:`OverlayWriter` takes each frame (RGB pixels, or JPEG bytes from a recording), its
pose sample and the events its analysis produced, draws the 33 MediaPipe landmarks with
the standard connections (:data:`POSE_CONNECTIONS`; landmarks less visible than
:data:`MIN_VISIBILITY` are left out) and a readout of the current phase, the CoM height
and velocity and the last repetition's jump height, and writes the frame with OpenCV's
``VideoWriter`` (``mp4v``). One frame is in memory at a time.

The readout shows what a live viewer of the stream sees when that frame arrives: the
analysis smooths with a fixed lag (about 40 ms), so the CoM values and the phase trail
the picture by that much.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import cv2
import numpy as np

from kinestream.connectors.jpeg import RgbImage, decode_jpeg
from kinestream.events import AnalysisEvent
from kinestream.operators.pose import PoseSample

POSE_CONNECTIONS: Final[tuple[tuple[int, int], ...]] = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
    (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
    (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
)  # fmt: skip
"""MediaPipe Pose's standard skeleton: pairs of landmark indices."""
MIN_VISIBILITY: Final = 0.5
BONE_BGR: Final = (80, 255, 80)
JOINT_BGR: Final = (40, 40, 255)
TEXT_BGR: Final = (255, 255, 255)
PANEL_BGR: Final = (0, 0, 0)
FOURCC: Final = "mp4v"

Picture = RgbImage | bytes
"""A frame's pixels: RGB of shape (height, width, 3), or a JPEG image."""


class OverlayError(OSError):
    """The overlay video cannot be written."""


@dataclass
class LiveReadout:
    """The analysis as a live viewer knows it: folds each frame's events in."""

    phase: str = "calibrating"
    com_height_m: float | None = None
    com_velocity_m_s: float | None = None
    last_rep: int | None = None
    last_jump_height_m: float | None = None
    cadence_spm: float | None = None
    contact_time_s: float | None = None
    last_step: tuple[int, str, float] | None = None
    """Running: the last step's number, foot and contact time."""

    def update(self, events: list[AnalysisEvent]) -> None:
        """Take the events one frame produced."""
        for event in events:
            p = event.payload
            if event.event_type == "metric_update":
                self.phase = str(p.get("phase", self.phase))
                self.com_height_m = p.get("com_height_m")
                self.com_velocity_m_s = p.get("com_velocity_m_s")
                self.cadence_spm = p.get("cadence_spm")
                self.contact_time_s = p.get("contact_time_s")
            elif event.event_type == "phase_change":
                self.phase = str(p["to_phase"])
            elif event.event_type == "rep_complete":
                self.last_rep = int(p["rep"])
                height = p.get("metrics", {}).get("jump_height_m")
                self.last_jump_height_m = height if isinstance(height, float) else None
            elif event.event_type == "step":
                self.last_step = (int(p["step"]), str(p["foot"]), float(p["contact_time_s"]))

    def lines(self) -> list[str]:
        """The readout's text, one line each."""
        out = [f"phase: {self.phase}"]
        if self.com_height_m is not None and self.com_velocity_m_s is not None:
            out.append(f"CoM height: {self.com_height_m:+.3f} m")
            out.append(f"CoM velocity: {self.com_velocity_m_s:+.2f} m/s")
        if self.last_rep is not None:
            height = "-" if self.last_jump_height_m is None else f"{self.last_jump_height_m:.3f} m"
            out.append(f"rep {self.last_rep} jump height: {height}")
        if self.cadence_spm is not None and self.contact_time_s is not None:
            out.append(f"cadence: {self.cadence_spm:.0f} steps/min")
            out.append(f"contact time: {1000 * self.contact_time_s:.0f} ms")
        if self.last_step is not None:
            number, foot, contact = self.last_step
            out.append(f"step {number} ({foot}): contact {1000 * contact:.0f} ms")
        return out


def draw_skeleton(bgr: np.ndarray[Any, Any], sample: PoseSample) -> None:
    """Draw ``sample``'s landmarks and connections onto ``bgr`` in place (its own size)."""
    if sample.landmarks is None:
        return
    height, width = bgr.shape[:2]
    points = np.rint(sample.landmarks[:, :2] * (width, height)).astype(int)
    visible = sample.landmarks[:, 3] >= MIN_VISIBILITY
    scale = max(width, height)
    thickness = max(2, round(scale / 400))
    radius = max(3, round(scale / 250))
    xy = [(int(x), int(y)) for x, y in points]
    for a, b in POSE_CONNECTIONS:
        if visible[a] and visible[b]:
            cv2.line(bgr, xy[a], xy[b], BONE_BGR, thickness, cv2.LINE_AA)
    for index in np.flatnonzero(visible):
        cv2.circle(bgr, xy[index], radius, JOINT_BGR, -1, cv2.LINE_AA)


def draw_readout(bgr: np.ndarray[Any, Any], lines: list[str]) -> None:
    """Write ``lines`` in the top-left corner of ``bgr`` on a dark panel, in place."""
    height, width = bgr.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(0.4, max(width, height) / 1600)
    thickness = max(1, round(scale * 2))
    sizes = [cv2.getTextSize(line, font, scale, thickness)[0] for line in lines]
    step = max(h for _, h in sizes) * 2 if sizes else 0
    margin = step // 2
    panel_w = max((w for w, _ in sizes), default=0) + 2 * margin
    panel_h = step * len(lines) + margin
    corner = bgr[0:panel_h, 0:panel_w]
    corner[:] = (corner * 0.4).astype(bgr.dtype)  # darken, so the text reads on any frame
    for i, line in enumerate(lines):
        origin = (margin, step * (i + 1))
        cv2.putText(bgr, line, origin, font, scale, TEXT_BGR, thickness, cv2.LINE_AA)


class OverlayWriter:
    """Writes frames with the skeleton and the readout drawn on, to an mp4 file.

    The video's size is the first frame's; later frames of another size are resized to
    it. Use it as a context manager (or call :meth:`close`) to finish the file.
    """

    def __init__(self, path: str | Path, fps: float) -> None:
        if not fps > 0.0:
            raise ValueError(f"fps must be positive, got {fps!r}")
        self.path = Path(path)
        self.fps = fps
        self.frames_written = 0
        self.readout = LiveReadout()
        self._writer: Any = None
        self._size: tuple[int, int] | None = None

    def write(self, picture: Picture, sample: PoseSample, events: list[AnalysisEvent]) -> None:
        """Draw one frame's pose and the analysis so far onto it, and append it."""
        self.readout.update(events)
        rgb = decode_jpeg(picture) if isinstance(picture, bytes) else picture
        bgr = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), dtype=np.uint8)
        if self._size is None:
            self._open((bgr.shape[1], bgr.shape[0]))
        elif (bgr.shape[1], bgr.shape[0]) != self._size:
            bgr = np.asarray(cv2.resize(bgr, self._size, interpolation=cv2.INTER_AREA), np.uint8)
        draw_skeleton(bgr, sample)
        draw_readout(bgr, self.readout.lines())
        self._writer.write(bgr)
        self.frames_written += 1

    def _open(self, size: tuple[int, int]) -> None:
        writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter.fourcc(*FOURCC), self.fps, size)
        if not writer.isOpened():
            raise OverlayError(f"OpenCV cannot write {FOURCC} video to {self.path}")
        self._writer, self._size = writer, size

    def close(self) -> None:
        """Finish the file; closing twice is harmless."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.release()

    def __enter__(self) -> OverlayWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
