"""The memory budget of frames mode: how many frame streams a worker runs at once.

A worker (one ``kinestream flow`` process with its default single worker thread) is given
:data:`WORKER_MEMORY_BUDGET_MIB`. What a frame stream costs depends on the pose backend:

- ``onnx`` (the default): the batched pose stage (:mod:`kinestream.flows.pose_stage`) holds
  the BlazePose models once per process and, per stream, a tracking state of a few hundred
  bytes and at most two waiting JPEGs: :data:`ONNX_STREAM_MEMORY_MIB` per stream beside
  :data:`ONNX_WORKER_BASE_MEMORY_MIB` for the process, so :data:`ONNX_MAX_FRAME_STREAMS`;
- ``mediapipe``: one MediaPipe Pose graph per stream, :data:`ESTIMATOR_MEMORY_MIB` each
  beside :data:`WORKER_BASE_MEMORY_MIB`, so :data:`MEDIAPIPE_MAX_FRAME_STREAMS`.

``--max-frame-streams`` overrides either. A stream past the limit is refused with an
``error`` event (``frame_streams_full``) and ended; an ended (or, on ``onnx``, idle) stream
gives its place back. The analyzer's own memory, the same as in pose mode, is not counted.
"""

from __future__ import annotations

import threading
from typing import Final, Literal

PoseBackend = Literal["onnx", "mediapipe"]
"""How frames mode estimates poses: the batched ONNX stage, or a MediaPipe graph per stream."""

WORKER_MEMORY_BUDGET_MIB: Final = 2048
"""The memory budget of one frames-mode worker (one ``kinestream flow`` process)."""

ESTIMATOR_MEMORY_MIB: Final = 110
"""What one stream's MediaPipe Pose estimator holds: 106 to 109 MiB measured with 1 to 50
streams by bench/bench_frames_memory.py (14 streams peaked at 1.7 GiB, under the budget)."""
WORKER_BASE_MEMORY_MIB: Final = 400
"""What a MediaPipe frames-mode worker holds with no stream (Python, Bytewax, OpenCV,
MediaPipe)."""
MEDIAPIPE_MAX_FRAME_STREAMS: Final = (
    WORKER_MEMORY_BUDGET_MIB - WORKER_BASE_MEMORY_MIB
) // ESTIMATOR_MEMORY_MIB
"""MediaPipe frame streams one worker runs at once by default: (2048 - 400) // 110 = 14."""

ONNX_WORKER_BASE_MEMORY_MIB: Final = 1024
"""What an ``onnx`` frames-mode worker holds whatever its streams: the process (about 400
MiB, as above), the two ONNX Runtime sessions and their buffers for a batch of 16 frames
(about 20 MiB a frame) and the batch's decoded images (2.6 MiB a 1280x720 frame), with
room to spare."""
ONNX_STREAM_MEMORY_MIB: Final = 2
"""What the pose stage holds per stream, rounded up: two waiting JPEGs (about 0.1 to 0.3
MiB each at 1280x720) and the tracking state (under 1 KiB)."""
ONNX_MAX_FRAME_STREAMS: Final = (
    WORKER_MEMORY_BUDGET_MIB - ONNX_WORKER_BASE_MEMORY_MIB
) // ONNX_STREAM_MEMORY_MIB
"""``onnx`` frame streams one worker runs at once by default: (2048 - 1024) // 2 = 512.
The CPU, not memory, limits how many a worker keeps up with (the stage then drops frames
evenly, see :mod:`kinestream.flows.pose_stage`)."""


def default_max_frame_streams(pose: PoseBackend) -> int:
    """The frame streams one worker runs at once by default with this pose backend."""
    return ONNX_MAX_FRAME_STREAMS if pose == "onnx" else MEDIAPIPE_MAX_FRAME_STREAMS


class FrameStreamBudget:
    """How many frame streams each worker (thread) holds, against a limit."""

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("the frame stream limit must not be negative")
        self.limit = limit
        self._local = threading.local()

    @property
    def in_use(self) -> int:
        """Places this worker holds."""
        count: int = getattr(self._local, "count", 0)
        return count

    def acquire(self) -> bool:
        """Take one stream's place; ``False`` when this worker has none left."""
        if self.in_use >= self.limit:
            return False
        self._local.count = self.in_use + 1
        return True

    def release(self) -> None:
        """Give one back."""
        self._local.count = max(0, self.in_use - 1)
