"""BlazePose on ONNX Runtime: the two models once per worker, frames of many streams a batch.

:class:`BlazePose` holds the ONNX Runtime sessions of the person detector and the full
landmark model (``kinestream/operators/models``, converted from mediapipe 0.10.21's bundled
models by ``infra/models/build_blazepose_onnx.py``) and nothing of any stream. Each call of
:meth:`BlazePose.estimate_batch` takes frames of many streams, each with its stream's
:class:`~kinestream.operators.blazepose.tracking.PoseTrack`, runs the detector once on the
frames whose stream has lost its person and the landmark model once on every crop, and gives
back each frame's pose and its stream's next track. A stream's frames must come in capture
order, one per call per stream.

The pipeline is MediaPipe's ``PoseLandmarkCpu`` in video mode with ``model_complexity=1``,
``smooth_landmarks=False`` and no segmentation, as
:class:`~kinestream.operators.mediapipe_pose.MediaPipePoseEstimator` configures it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from kinestream.operators.blazepose import detector
from kinestream.operators.blazepose.geometry import (
    Roi,
    crop_roi,
    object_scale,
    pad_roi,
    project_landmarks,
    project_world,
    roi_from_alignment_points,
)
from kinestream.operators.blazepose.landmarks import (
    AUXILIARY,
    INPUT_SIZE,
    NUM_POSE_LANDMARKS,
    decode_landmarks,
    decode_world,
)
from kinestream.operators.blazepose.tracking import AuxiliaryFilter, PoseTrack
from kinestream.operators.mediapipe_pose import (
    MIN_DETECTION_CONFIDENCE,
    MIN_TRACKING_CONFIDENCE,
    PoseModelMissingError,
)
from kinestream.operators.pose import PoseSample

Device = Literal["cpu", "cuda"]

MODEL_DIR: Final = Path(__file__).resolve().parent.parent / "models"
DETECTOR_FILE: Final = "pose_detection.onnx"
LANDMARK_FILE: Final = "pose_landmark_full.onnx"
DEFAULT_MAX_BATCH: Final = 16
_LANDMARK_OUTPUTS: Final = ["landmarks", "pose_flag", "heatmap", "world_landmarks"]


class DeviceUnavailableError(RuntimeError):
    """The requested device has no execution provider in this onnxruntime installation."""


def cuda_available() -> bool:
    """Whether onnxruntime here can run on CUDA (``onnxruntime-gpu`` with its libraries)."""
    return "CUDAExecutionProvider" in ort.get_available_providers()


def default_device() -> Device:
    """CUDA when available, else the CPU."""
    return "cuda" if cuda_available() else "cpu"


def providers_for(device: Device) -> list[str]:
    """ONNX Runtime execution providers for a device; raise if it is not available."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if not cuda_available():
        raise DeviceUnavailableError(
            "--device cuda needs onnxruntime-gpu and CUDA; this onnxruntime offers "
            + ", ".join(ort.get_available_providers())
        )
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


@dataclass(frozen=True, slots=True)
class PoseRequest:
    """One frame of one stream, with that stream's tracking state before the frame."""

    track: PoseTrack
    rgb: npt.NDArray[np.uint8]
    seq: int
    timestamp_s: float


def check_frame(rgb: npt.NDArray[np.uint8]) -> None:
    """Raise ``ValueError`` unless ``rgb`` is a uint8 RGB frame (height, width, 3)."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8:
        kind = getattr(rgb, "dtype", type(rgb).__name__)
        raise ValueError(f"frame must be a uint8 numpy array, got {kind}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"frame must be RGB of shape (height, width, 3), got {rgb.shape}")


class BlazePose:
    """The BlazePose detector and landmark model in ONNX Runtime sessions, shared by streams.

    Holds no per-stream state, so one instance serves every stream of a worker. Not
    picklable (native sessions): build it where the worker starts. ``max_batch`` caps the
    frames of one model run (a larger call runs in several): ONNX Runtime's memory grows
    with the batch (about 20 MiB a frame on the CPU), so the cap bounds it whatever the
    number of streams.
    """

    def __init__(
        self,
        *,
        device: Device = "cpu",
        min_detection_confidence: float = MIN_DETECTION_CONFIDENCE,
        min_tracking_confidence: float = MIN_TRACKING_CONFIDENCE,
        threads: int | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        model_dir: Path = MODEL_DIR,
    ) -> None:
        missing = [
            name for name in (DETECTOR_FILE, LANDMARK_FILE) if not (model_dir / name).is_file()
        ]
        if missing:
            raise PoseModelMissingError(
                f"{model_dir} lacks {', '.join(missing)}; reinstall kinestream (the ONNX "
                "models are package data) or rebuild them with infra/models/build_blazepose_onnx.py"
            )
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        # Idle intra-op threads sleep instead of spinning: between runs the same cores decode
        # JPEGs and run the analysis, and on a busy 2-core machine spinning threads doubled a
        # frame's time (55 ms against 30 ms a frame at batch 1, measured under other load).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = providers_for(device)
        self.device: Device = device
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.max_batch = max_batch
        self._detector = ort.InferenceSession(
            str(model_dir / DETECTOR_FILE), options, providers=providers
        )
        self._landmarker = ort.InferenceSession(
            str(model_dir / LANDMARK_FILE), options, providers=providers
        )

    def detect(self, frames: Sequence[npt.NDArray[np.uint8]]) -> list[Roi | None]:
        """The pose ROI from a detection on each whole frame (``None``: nobody found)."""
        if not frames:
            return []
        inputs, paddings = zip(*(detector.letterbox(rgb) for rgb in frames), strict=True)
        regressors, logits = self._run(self._detector, ["regressors", "scores"], np.stack(inputs))
        rois: list[Roi | None] = []
        for k, rgb in enumerate(frames):
            keypoints = detector.best_detection(
                regressors[k], logits[k], paddings[k], self.min_detection_confidence
            )
            height, width = rgb.shape[:2]
            rois.append(
                None
                if keypoints is None
                else roi_from_alignment_points(keypoints[0], keypoints[1], width, height)
            )
        return rois

    def estimate_batch(self, requests: Sequence[PoseRequest]) -> list[tuple[PoseSample, PoseTrack]]:
        """Each frame's pose and its stream's next track, in the order of ``requests``."""
        for request in requests:
            check_frame(request.rgb)
        rois = [request.track.roi for request in requests]
        untracked = [i for i, roi in enumerate(rois) if roi is None]
        for i, roi in zip(
            untracked, self.detect([requests[i].rgb for i in untracked]), strict=True
        ):
            rois[i] = roi
        located = [(i, roi) for i, roi in enumerate(rois) if roi is not None]
        outputs: dict[int, tuple[npt.NDArray[np.float32], ...]] = {}
        if located:
            crops = np.stack([crop_roi(requests[i].rgb, roi, INPUT_SIZE) for i, roi in located])
            results = self._run(self._landmarker, _LANDMARK_OUTPUTS, crops)
            outputs = {i: tuple(out[k] for out in results) for k, (i, _) in enumerate(located)}
        return [
            self._finish(request, rois[i], outputs.get(i)) for i, request in enumerate(requests)
        ]

    def _run(
        self, session: ort.InferenceSession, names: list[str], images: npt.NDArray[np.float32]
    ) -> list[npt.NDArray[np.float32]]:
        """The session's outputs for ``images``, at most ``max_batch`` images a run."""
        chunks = [
            session.run(names, {"image": images[start : start + self.max_batch]})
            for start in range(0, len(images), self.max_batch)
        ]
        return [np.concatenate([chunk[k] for chunk in chunks]) for k in range(len(names))]

    def _finish(
        self,
        request: PoseRequest,
        roi: Roi | None,
        output: tuple[npt.NDArray[np.float32], ...] | None,
    ) -> tuple[PoseSample, PoseTrack]:
        """Decode one crop's outputs into the frame's pose and the stream's next track."""
        track = request.track
        height, width = request.rgb.shape[:2]
        lost = PoseTrack(frames=track.frames + 1)  # no pose: detect again, filter reset
        if roi is None or output is None:
            return PoseSample(request.seq, request.timestamp_s, width, height, None), lost
        raw, flag, heatmap, world_raw = output
        if float(flag.reshape(-1)[0]) < self.min_tracking_confidence:
            return PoseSample(request.seq, request.timestamp_s, width, height, None), lost
        _, padding = pad_roi(roi, width, height)
        landmarks = project_landmarks(decode_landmarks(raw, heatmap), roi, padding)
        world = project_world(decode_world(world_raw), roi)
        aux = landmarks[AUXILIARY, :2]
        # LandmarksSmoothingCalculator: pixels in float, filtered, normalized again
        size = np.array([width, height], dtype=np.float32)
        smoothed, aux_filter = track.aux_filter.apply(
            (aux.astype(np.float32) * size).ravel().astype(np.float64),
            track.time_ns,
            object_scale(aux[0], aux[1], width, height),
        )
        aux = (smoothed.astype(np.float32).reshape(2, 2) / size).astype(np.float64)
        next_track = PoseTrack(
            roi=roi_from_alignment_points(aux[0], aux[1], width, height),
            aux_filter=aux_filter,
            frames=track.frames + 1,
        )
        sample = PoseSample(
            request.seq,
            request.timestamp_s,
            width,
            height,
            np.ascontiguousarray(landmarks[:NUM_POSE_LANDMARKS, :4]),
            np.ascontiguousarray(world[:NUM_POSE_LANDMARKS]),
        )
        return sample, next_track


__all__ = [
    "AuxiliaryFilter",
    "BlazePose",
    "Device",
    "DeviceUnavailableError",
    "PoseRequest",
    "PoseTrack",
    "cuda_available",
    "default_device",
]
