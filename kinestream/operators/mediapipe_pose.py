"""MediaPipe Pose as a :class:`~kinestream.operators.pose.PoseEstimator`.

Uses the legacy ``mp.solutions.pose.Pose`` graph of mediapipe 0.10.21 in video (tracking)
mode with the full landmark model (``model_complexity=1``), which ships inside the wheel.
Nothing is ever downloaded: the constructor checks that the bundled model files are there
and fails with :class:`PoseModelMissingError` otherwise.

MediaPipe's own landmark smoothing is switched off (``smooth_landmarks=False``). The
analysis smooths the centre of mass itself with a short, symmetric window of known lag
(:mod:`kinestream.operators.smoothing`); MediaPipe's filter is a causal, velocity-adaptive
one-euro filter that would add its own, motion-dependent lag and round off the sharp change
of vertical velocity at takeoff and landing, which shifts the detected takeoff and landing
times and so the flight time and jump height.

mediapipe is imported lazily, in the constructor, so importing this module costs nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Final, NoReturn

import numpy as np
import numpy.typing as npt

from kinestream.operators.pose import NUM_LANDMARKS, PoseSample

MODEL_COMPLEXITY: Final = 1
MIN_DETECTION_CONFIDENCE: Final = 0.5
MIN_TRACKING_CONFIDENCE: Final = 0.5

# The files the model_complexity=1 graph loads, relative to the mediapipe package.
_BUNDLED_FILES: Final = (
    "modules/pose_landmark/pose_landmark_full.tflite",
    "modules/pose_detection/pose_detection.tflite",
    "modules/pose_landmark/pose_landmark_cpu.binarypb",
)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` elsewhere.

    A closed graph's memory goes back to the C heap, which glibc keeps for the process:
    after 10 frame streams ended, a flow held 700 MiB more than before them. Trimming the
    heap after each close gives most of it back to the system (bench/bench_frames_memory.py).
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        trim: Callable[[int], int] | None = libc.malloc_trim if libc is not None else None
    except (OSError, AttributeError):
        trim = None
    return trim


class PoseModelMissingError(RuntimeError):
    """mediapipe, or a model file its wheel should contain, is not installed."""


def bundled_model_path() -> Path:
    """Path of the bundled full pose landmark model; raise if any needed file is missing.

    Looks the package up without importing it, so the check is cheap.
    """
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise PoseModelMissingError(
            "mediapipe is not installed; install mediapipe==0.10.21 (it ships the pose models)"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    missing = [name for name in _BUNDLED_FILES if not (root / name).is_file()]
    if missing:
        raise PoseModelMissingError(
            f"mediapipe at {root} lacks {', '.join(missing)}; reinstall mediapipe==0.10.21, "
            "whose wheel bundles them (kinestream never downloads models at run time)"
        )
    return root / _BUNDLED_FILES[0]


class MediaPipePoseEstimator:
    """One stream's pose estimator on MediaPipe Pose (CPU, video mode, one person).

    Video mode tracks the person found in earlier frames (it runs the detector again only
    when tracking is lost), so frames must come in capture order, and one estimator serves
    exactly one stream. MediaPipe picks the most prominent person when it (re)detects.

    MediaPipe's legacy graph runs on its own simulated 30 fps clock; with smoothing off no
    part of the graph depends on time, so ``timestamp_s`` is only passed through to the
    sample.

    The estimator holds a native graph and is deliberately not picklable: it is not part of
    any recoverable state. After a resume from a snapshot, build a new one (tracking then
    starts afresh with a detection on the next frame). Use it as a context manager, or call
    :meth:`close`, to release the graph.
    """

    def __init__(
        self,
        *,
        min_detection_confidence: float = MIN_DETECTION_CONFIDENCE,
        min_tracking_confidence: float = MIN_TRACKING_CONFIDENCE,
    ) -> None:
        self.model_path = bundled_model_path()
        import mediapipe as mp

        self._pose: Any = mp.solutions.pose.Pose(
            static_image_mode=False,
            model_complexity=MODEL_COMPLEXITY,
            smooth_landmarks=False,
            enable_segmentation=False,
            smooth_segmentation=False,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )

    def estimate(self, rgb: npt.NDArray[np.uint8], seq: int, timestamp_s: float) -> PoseSample:
        """Estimate the pose in one RGB frame of shape (height, width, 3), dtype uint8.

        ``landmarks`` of the returned sample is ``None`` when no person was found.
        """
        if self._pose is None:
            raise RuntimeError("this MediaPipePoseEstimator is closed")
        if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8:
            kind = getattr(rgb, "dtype", type(rgb).__name__)
            raise ValueError(f"frame must be a uint8 numpy array, got {kind}")
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
            raise ValueError(f"frame must be RGB of shape (height, width, 3), got {rgb.shape}")
        height, width = int(rgb.shape[0]), int(rgb.shape[1])
        result = self._pose.process(np.ascontiguousarray(rgb))
        if result.pose_landmarks is None:
            return PoseSample(seq, timestamp_s, width, height, None)
        landmarks = np.array(
            [(p.x, p.y, p.z, p.visibility) for p in result.pose_landmarks.landmark],
            dtype=np.float64,
        )
        world = None
        if result.pose_world_landmarks is not None:
            world = np.array(
                [(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark],
                dtype=np.float64,
            )
        if landmarks.shape != (NUM_LANDMARKS, 4):  # pragma: no cover - MediaPipe contract
            raise RuntimeError(f"MediaPipe returned {landmarks.shape[0]} landmarks, not 33")
        return PoseSample(seq, timestamp_s, width, height, landmarks, world)

    def close(self) -> None:
        """Release the MediaPipe graph, and the heap it freed to the system; closing twice
        is harmless."""
        pose, self._pose = self._pose, None
        if pose is not None:
            pose.close()
            del pose
            trim = _malloc_trim()
            if trim is not None:
                trim(0)

    def __enter__(self) -> MediaPipePoseEstimator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            "MediaPipePoseEstimator holds a native MediaPipe graph and cannot be pickled; "
            "keep it out of snapshots and build a new one after a resume"
        )
