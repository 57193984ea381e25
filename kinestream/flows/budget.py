"""The memory budget of frames mode: how many streams with a pose estimator a worker runs.

Frames mode runs one MediaPipe Pose estimator per stream, which holds about
:data:`ESTIMATOR_MEMORY_MIB`. A worker (one ``kinestream flow`` process with its default
single worker thread) is given :data:`WORKER_MEMORY_BUDGET_MIB`, of which the process itself
takes :data:`WORKER_BASE_MEMORY_MIB`, so it runs at most :data:`DEFAULT_MAX_FRAME_STREAMS`
frame streams at once (``--max-frame-streams``). A stream past that is refused with an
``error`` event (``frame_streams_full``) and ended; an ended stream closes its estimator at
once and gives its place back. A shared, batched estimator that would not cost this per
stream is its own piece of work.
"""

from __future__ import annotations

import threading
from typing import Final

ESTIMATOR_MEMORY_MIB: Final = 110
"""What one stream's MediaPipe Pose estimator holds: 106 to 109 MiB measured with 1 to 50
streams by bench/bench_frames_memory.py (14 streams peaked at 1.7 GiB, under the budget)."""
WORKER_MEMORY_BUDGET_MIB: Final = 2048
"""The memory budget of one frames-mode worker (one ``kinestream flow`` process)."""
WORKER_BASE_MEMORY_MIB: Final = 400
"""What a frames-mode worker holds with no stream (Python, Bytewax, OpenCV, MediaPipe)."""
DEFAULT_MAX_FRAME_STREAMS: Final = (
    WORKER_MEMORY_BUDGET_MIB - WORKER_BASE_MEMORY_MIB
) // ESTIMATOR_MEMORY_MIB
"""Frame streams one worker runs at once by default: 14, within the budget above."""


class FrameStreamBudget:
    """How many pose estimators each worker (thread) holds, against a limit."""

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("the frame stream limit must not be negative")
        self.limit = limit
        self._local = threading.local()

    @property
    def in_use(self) -> int:
        """Estimators this worker holds."""
        count: int = getattr(self._local, "count", 0)
        return count

    def acquire(self) -> bool:
        """Take one estimator's place; ``False`` when this worker has none left."""
        if self.in_use >= self.limit:
            return False
        self._local.count = self.in_use + 1
        return True

    def release(self) -> None:
        """Give one back."""
        self._local.count = max(0, self.in_use - 1)
