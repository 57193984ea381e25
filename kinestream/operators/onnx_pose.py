"""BlazePose on ONNX Runtime as a :class:`~kinestream.operators.pose.PoseEstimator`.

The same pipeline as :class:`~kinestream.operators.mediapipe_pose.MediaPipePoseEstimator`
(MediaPipe Pose's full model, video mode, no smoothing), in
:mod:`kinestream.operators.blazepose`, on the CPU or on CUDA. The models live in a
:class:`~kinestream.operators.blazepose.runtime.BlazePose` that many estimators (streams)
may share; each estimator keeps only its stream's picklable
:class:`~kinestream.operators.blazepose.tracking.PoseTrack`.
"""

from __future__ import annotations

from types import TracebackType

import numpy as np
import numpy.typing as npt

from kinestream.operators.blazepose.runtime import BlazePose, Device, PoseRequest
from kinestream.operators.blazepose.tracking import PoseTrack
from kinestream.operators.pose import PoseSample


class OnnxPoseEstimator:
    """One stream's pose estimator on BlazePose in ONNX Runtime (frames in capture order).

    ``blazepose`` shares one worker's models between streams; without it the estimator
    loads its own on ``device``.
    """

    def __init__(self, blazepose: BlazePose | None = None, *, device: Device = "cpu") -> None:
        self._blazepose: BlazePose | None = blazepose or BlazePose(device=device)
        self.track = PoseTrack()

    def estimate(self, rgb: npt.NDArray[np.uint8], seq: int, timestamp_s: float) -> PoseSample:
        """Estimate the pose in one RGB frame of shape (height, width, 3), dtype uint8."""
        if self._blazepose is None:
            raise RuntimeError("this OnnxPoseEstimator is closed")
        [(sample, self.track)] = self._blazepose.estimate_batch(
            [PoseRequest(self.track, rgb, seq, timestamp_s)]
        )
        return sample

    def close(self) -> None:
        """Drop the reference to the models; closing twice is harmless."""
        self._blazepose = None

    def __enter__(self) -> OnnxPoseEstimator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
